// npm run bench: timings side by side in one run, medians of several runs, and ratios.
//   1. Dependency analysis: every ELF file of /usr/lib/x86_64-linux-gnu resolved by one
//      `occlum-bom deps` process, against `ldd` run on each file.
//   2. A large image from real host trees (OpenJDK, the Python standard library,
//      /usr/lib/x86_64-linux-gnu, /usr/share/doc, /usr/include, three programs): copy_bom
//      cold (first with an empty ELF cache, then again into an empty image with the cache the
//      first build left) and no-op, against `cp -a` and `rsync -a` (cold and no-op) of the
//      same trees.
// Not a test: nothing here asserts a time. RUNS=N sets the number of runs (default 5).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isElf } from '../src/elf/index.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 5);
const work = mkdtempSync(path.join(tmpdir(), 'occlum-bom-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Wall seconds and peak RSS (MB, from GNU time when present) of one command. */
function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { s: number; mb?: number } {
  const gnuTime = existsSync('/usr/bin/time');
  const t0 = performance.now();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { ...opts, encoding: 'utf8' })
    : spawnSync(cmd, args, { ...opts, encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`);
  const kb = gnuTime ? Number(r.stderr.trim().split('\n').at(-1)) : NaN;
  return Number.isFinite(kb) ? { s, mb: kb / 1024 } : { s };
}


const rows: string[][] = [];
const row = (...cells: (string | number)[]) => rows.push(cells.map(String));
const fmt = (s: number) => `${s.toFixed(2)} s`;

// 1. Dependency analysis
const libdir = '/usr/lib/x86_64-linux-gnu';
const elfs = readdirSync(libdir)
  .map((n) => path.join(libdir, n))
  .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile() && isElf(p));
const ours: number[] = [];
const ldd: number[] = [];
for (let i = 0; i < RUNS; i++) {
  ours.push(timed(process.execPath, [path.join(repo, 'dist/cli/occlum-bom.js'), 'deps', '--json', ...elfs]).s);
  const t0 = performance.now();
  for (const f of elfs) spawnSync('ldd', [f]);
  ldd.push((performance.now() - t0) / 1000);
}
row('dependencies of', `${elfs.length} ELF files`, 'occlum-bom deps (1 process)', fmt(median(ours)), 'ldd on each', fmt(median(ldd)), `${(median(ldd) / median(ours)).toFixed(1)}x faster`);

// 2. A large image
const trees = ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/python3.11', '/usr/lib/x86_64-linux-gnu', '/usr/share/doc', '/usr/include'].filter((t) => existsSync(t));
const programs = ['/usr/bin/redis-server', '/usr/bin/python3.11', '/usr/lib/jvm/java-17-openjdk-amd64/bin/java'].filter((p) => existsSync(p));
const bom = path.join(work, 'big.yaml');
writeFileSync(
  bom,
  `targets:\n${trees.map((t) => `  - target: ${path.dirname(t)}\n    copy:\n      - dirs: [${t}]\n`).join('')}  - target: /bin\n    copy:\n      - files: [${programs.join(', ')}]\n`,
);
// A run records nothing read within 2 s of it (src/record.ts): a BOM written just now would make
// the first no-op rebuild a full run. Rebuilds after an edit are not what the no-op row measures.
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
const counts = execFileSync('sh', ['-c', `find -L ${trees.join(' ')} -type f 2>/dev/null | wc -l; du -scL ${trees.join(' ')} 2>/dev/null | tail -1 | cut -f1`], { encoding: 'utf8' }).trim().split('\n');
// Nothing is deleted between timed runs: for minutes after a large deletion, creating files on
// this machine's ext4 (no journal) is several times slower (the inode allocator steps over
// every recently deleted inode: recently_deleted() in perf), and whichever tool ran next would
// pay for it. Each run writes into a new directory; all are removed at the end. Each copy_bom
// cold build starts with an empty ELF cache (src/elf/cache.ts); its no-op rebuild uses what
// the cold build kept.
const perRun = 4.5 * Number(counts[1]) * 1024; // bytes: copy_bom's two images, cp's copy, rsync's copy
const free = statfsSync(work).bavail * statfsSync(work).bsize;
if (free < RUNS * perRun + 2 ** 30) throw new Error(`${RUNS} runs need ${((RUNS * perRun) / 2 ** 30).toFixed(0)} GB free in ${tmpdir()}, ${(free / 2 ** 30).toFixed(0)} GB are: set RUNS lower`);
const copyBom = (root: string, cache: string) =>
  timed(process.execPath, [path.join(repo, 'dist/cli/copy_bom.js'), '-f', bom, '--root', root], { cwd: work, env: { ...process.env, OCCLUM_LOG_LEVEL: 'error', OCCLUM_BOM_CACHE_DIR: cache } });
const fresh = (name: string) => {
  const d = path.join(work, name);
  mkdirSync(d);
  spawnSync('sync');
  return d;
};
const r = { cold: [] as number[], noop: [] as number[], warm: [] as number[], cp: [] as number[], rsyncCold: [] as number[], rsyncNoop: [] as number[] };
const mem: number[] = [];
for (let i = 0; i < RUNS; i++) {
  // Interleaved, so that the machine's mood hits every tool alike.
  const image = fresh(`image-${i}`);
  const cache = path.join(work, `cache-${i}`);
  const c = copyBom(image, cache);
  r.cold.push(c.s);
  if (c.mb) mem.push(c.mb);
  r.noop.push(copyBom(image, cache).s);
  // The image removed (moved aside: see above) and built again: what the ELF files said is known.
  renameSync(image, `${image}.old`);
  renameSync(`${image}.manifest.json`, `${image}.old.manifest.json`);
  r.warm.push(copyBom(fresh(`image-${i}`), cache).s);
  r.cp.push(timed('cp', ['-a', ...trees, fresh(`cp-${i}`)]).s);
  const rs = fresh(`rsync-${i}`);
  r.rsyncCold.push(timed('rsync', ['-a', ...trees, rs]).s);
  r.rsyncNoop.push(timed('rsync', ['-a', ...trees, rs]).s);
}
const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)])) as Record<keyof typeof r, number>;
row('image of', `${counts[0]} files, ${(Number(counts[1]) / 1024 / 1024).toFixed(2)} GB`, 'copy_bom cold', fmt(m.cold), 'cp -a', fmt(m.cp), `${(m.cold / m.cp).toFixed(2)}x cp -a`);
row('', '', 'copy_bom cold, ELF cache kept', fmt(m.warm), 'cp -a', fmt(m.cp), `${(m.warm / m.cp).toFixed(2)}x cp -a`);
row('', '', 'copy_bom cold', fmt(m.cold), 'rsync -a', fmt(m.rsyncCold), `${(m.cold / m.rsyncCold).toFixed(2)}x rsync -a`);
row('', '', 'copy_bom no-op', fmt(m.noop), 'rsync -a no-op', fmt(m.rsyncNoop), `${(m.noop / m.rsyncNoop).toFixed(2)}x rsync -a`);
if (mem.length) row('', '', 'copy_bom peak memory', `${median(mem).toFixed(0)} MB`, '', '', '');

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${RUNS} runs each, medians\n`);
console.log('| what | size | ours | time | reference | time | ratio |\n|---|---|---|---|---|---|---|');
for (const cells of rows) console.log(`| ${cells.join(' | ')} |`);

// The machine's speed moves from run to run: every run, and the ratio within each run (the tools side by side).
const runs = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
console.log(`\nruns (s): copy_bom cold ${runs(r.cold)}; cold, ELF cache kept ${runs(r.warm)}; cp -a ${runs(r.cp)}; no-op ${runs(r.noop)}; rsync -a no-op ${runs(r.rsyncNoop)}`);
console.log(`copy_bom cold / cp -a in each run: ${runs(r.cold.map((c, i) => c / r.cp[i]!))} (median ${median(r.cold.map((c, i) => c / r.cp[i]!)).toFixed(2)})`);
