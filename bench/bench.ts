// npm run bench: timings side by side in one run, medians of several runs, and ratios.
//   1. deps: dependency analysis: every ELF file of /usr/lib/x86_64-linux-gnu resolved by one
//      `occlum-bom deps` process, against `ldd` run on each file.
//   2. big: a large image from real host trees (OpenJDK, the Python standard library,
//      /usr/lib/x86_64-linux-gnu, /usr/share/doc, /usr/include, three programs): copy_bom
//      cold (first with an empty ELF cache, then again into an empty image with the cache the
//      first build left) and no-op, against `cp -a` and `rsync -a` (cold and no-op) of the
//      same trees.
//   3. small: many small files, a generated tree (SMALL_FILES=N files of 200 bytes, default
//      200000; 0 skips it): copy_bom cold, after one source file changed, after the BOM was
//      touched, and no-op, against `cp -a` and `rsync -a` (cold, the same change, no-op).
//   4. image: a container image (an OCI layout made with umoci from host trees: the Python
//      standard library, /usr/include, /usr/share/doc) unpacked by `--source-root oci:...` into
//      an empty cache, against `umoci unpack` of the same image; and found unpacked the next time.
//   5. exe: the single executable (packaging/executable.ts, with this machine's build of the
//      addon) against `node bin/copy_bom.js`: start-up (`--version`) and a no-op rebuild of the
//      demo image, with the code cache and without it (the byte-reproducible build); its size
//      and the .deb's.
//   6. fs: real trees (OpenJDK 17, the Python standard library and dist-packages, the host's
//      libraries) on fresh file systems, each made in a loop file for the case (ext4, and XFS
//      with reflink=1; needs root, losetup and xfsprogs, else the working directory with a
//      note), the sources copied onto it first: copy_bom cold, copy_bom after `rm -rf image`
//      with the cache kept (what Occlum's scripts do), `cp -a`, `rsync -a`, and the floor of a
//      build that owes the manifest's hashes: `cp -a` plus `openssl dgst -sha256` of every file
//      on two processes.
// Not a test: nothing here asserts a time. RUNS=N sets the number of runs (default 5);
// BENCH=deps,big,small,image,exe,fs the cases run (default all), e.g. `BENCH=small RUNS=1 npm run bench`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 5);
const ALL = ['deps', 'big', 'small', 'image', 'exe', 'fs'];
const CASES = (process.env.BENCH ?? ALL.join(',')).split(',').map((c) => c.trim()).filter(Boolean);
for (const c of CASES) if (!ALL.includes(c)) throw new Error(`BENCH: no case ${c} (${ALL.join(', ')})`);
const SMALL_FILES = Number(process.env.SMALL_FILES ?? 200_000);
if (!Number.isSafeInteger(SMALL_FILES) || SMALL_FILES < 0) throw new Error(`SMALL_FILES: ${process.env.SMALL_FILES} is not a number of files`);
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
/** Lines printed after the table. */
const notes: string[] = [];
const runs = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/**
 * The environment our processes run in: without NODE_EXTRA_CA_CERTS, which makes every Node
 * start read and parse the certificates it names (80 ms of a 40 ms start where a machine sets
 * it for its package proxy); nothing of ours makes a TLS connection.
 */
const ourEnv = (() => {
  const { NODE_EXTRA_CA_CERTS: certs, ...env } = process.env;
  if (certs !== undefined) notes.push('our processes run without NODE_EXTRA_CA_CERTS (set here: it costs each Node start the parse of a certificate bundle)');
  return env;
})();
const copyBom = (bom: string, root: string, cache: string) =>
  timed(process.execPath, [path.join(repo, 'bin/copy_bom.js'), '-f', bom, '--root', root], { cwd: work, env: { ...ourEnv, OCCLUM_LOG_LEVEL: 'error', OCCLUM_BOM_CACHE_DIR: cache } });
const fresh = (name: string) => {
  const d = path.join(work, name);
  mkdirSync(d);
  spawnSync('sync');
  return d;
};
/** Throws unless the work dir's file system has room for `bytes` more (and `inodes`), with 1 GB to spare. */
function needFree(bytes: number, inodes: number, lower: string) {
  const fs = statfsSync(work);
  const free = fs.bavail * fs.bsize;
  if (free < bytes + 2 ** 30) throw new Error(`${RUNS} runs need ${(bytes / 2 ** 30).toFixed(0)} GB free in ${tmpdir()}, ${(free / 2 ** 30).toFixed(0)} GB are: set ${lower} lower`);
  if (fs.ffree < inodes) throw new Error(`${RUNS} runs need ${inodes.toFixed(0)} free inodes in ${tmpdir()}, ${fs.ffree} are: set ${lower} lower`);
}
/**
 * A fresh file system of `bytes` for one case: ext4 or XFS (reflink=1) made in a sparse loop
 * file and mounted in the work directory, removed by done(). Where that cannot be (not root, no
 * loop device, no mkfs.xfs), the work directory itself, with a note.
 */
function freshFs(kind: 'ext4' | 'xfs', bytes: number): { dir: string; label: string; done: () => void } {
  const img = path.join(work, `${kind}.img`);
  const dir = path.join(work, `${kind}-mnt`);
  mkdirSync(dir);
  try {
    needFree(bytes, 0, 'RUNS');
    execFileSync('truncate', ['-s', String(Math.max(bytes, 2 ** 30)), img]);
    const loop = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    try {
      execFileSync(kind === 'xfs' ? 'mkfs.xfs' : 'mkfs.ext4', kind === 'xfs' ? ['-q', '-m', 'reflink=1', loop] : ['-q', loop]);
      execFileSync('mount', [loop, dir]);
    } catch (e) {
      spawnSync('losetup', ['-d', loop]);
      throw e;
    }
    return {
      dir,
      label: kind === 'xfs' ? 'fresh XFS (reflink=1)' : 'fresh ext4',
      done: () => {
        spawnSync('umount', [dir]);
        spawnSync('losetup', ['-d', loop]);
        rmSync(img, { force: true });
      },
    };
  } catch (e) {
    notes.push(`fs: no fresh ${kind} file system here (${(e as Error).message.split('\n')[0]}): measured in ${tmpdir()}`);
    return { dir, label: `${kind} wanted, the working directory's file system`, done: () => {} };
  }
}

// Nothing is deleted between timed runs: for minutes after a large deletion, creating files on
// this machine's ext4 (no journal) is several times slower (the inode allocator steps over
// every recently deleted inode: recently_deleted() in perf), and whichever tool ran next would
// pay for it. Each run writes into a new directory; all are removed at the end.

// 1. Dependency analysis
if (CASES.includes('deps')) {
  // Imported here: the other cases run only dist/, and do not need src/ to load under tsx.
  const { isElf } = await import('../src/elf/index.ts');
  const libdir = '/usr/lib/x86_64-linux-gnu';
  const elfs = readdirSync(libdir)
    .map((n) => path.join(libdir, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile() && isElf(p));
  const ours: number[] = [];
  const ldd: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(timed(process.execPath, [path.join(repo, 'bin/occlum-bom.js'), 'deps', '--json', ...elfs], { env: ourEnv }).s);
    const t0 = performance.now();
    for (const f of elfs) spawnSync('ldd', [f]);
    ldd.push((performance.now() - t0) / 1000);
  }
  row('dependencies of', `${elfs.length} ELF files`, 'occlum-bom deps (1 process)', fmt(median(ours)), 'ldd on each', fmt(median(ldd)), `${(median(ldd) / median(ours)).toFixed(1)}x faster`);
}

// 2. A large image
if (CASES.includes('big')) {
  const trees = ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/python3.11', '/usr/lib/x86_64-linux-gnu', '/usr/share/doc', '/usr/include'].filter((t) => existsSync(t));
  const programs = ['/usr/bin/redis-server', '/usr/bin/python3.11', '/usr/lib/jvm/java-17-openjdk-amd64/bin/java'].filter((p) => existsSync(p));
  const bom = path.join(work, 'big.yaml');
  writeFileSync(
    bom,
    `targets:\n${trees.map((t) => `  - target: ${path.dirname(t)}\n    copy:\n      - dirs: [${t}]\n`).join('')}  - target: /bin\n    copy:\n      - files: [${programs.join(', ')}]\n`,
  );
  // A run records nothing read within 2 s of it (src/record.ts): a BOM written just now would make
  // the first no-op rebuild a full run. Rebuilds after an edit are not what the no-op row measures.
  sleep(2100);
  const counts = execFileSync('sh', ['-c', `find -L ${trees.join(' ')} -type f 2>/dev/null | wc -l; du -scL ${trees.join(' ')} 2>/dev/null | tail -1 | cut -f1`], { encoding: 'utf8' }).trim().split('\n');
  // Each copy_bom cold build starts with an empty ELF cache (src/elf/cache.ts); its no-op
  // rebuild uses what the cold build kept.
  needFree(RUNS * 4.5 * Number(counts[1]) * 1024, 0, 'RUNS'); // bytes: copy_bom's two images, cp's copy, rsync's copy
  const r = { cold: [] as number[], noop: [] as number[], warm: [] as number[], cp: [] as number[], rsyncCold: [] as number[], rsyncNoop: [] as number[] };
  const mem: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so that the machine's mood hits every tool alike.
    const image = fresh(`image-${i}`);
    const cache = path.join(work, `cache-${i}`);
    spawnSync('sync'); // as for the small files below: no copy starts while the last one's writes are written back
    const c = copyBom(bom, image, cache);
    r.cold.push(c.s);
    if (c.mb) mem.push(c.mb);
    r.noop.push(copyBom(bom, image, cache).s);
    // The image removed (moved aside: see above) and built again: what the ELF files said is known.
    renameSync(image, `${image}.old`);
    renameSync(`${image}.manifest.json`, `${image}.old.manifest.json`);
    spawnSync('sync');
    r.warm.push(copyBom(bom, fresh(`image-${i}`), cache).s);
    spawnSync('sync');
    r.cp.push(timed('cp', ['-a', ...trees, fresh(`cp-${i}`)]).s);
    const rs = fresh(`rsync-${i}`);
    spawnSync('sync');
    r.rsyncCold.push(timed('rsync', ['-a', ...trees, rs]).s);
    r.rsyncNoop.push(timed('rsync', ['-a', ...trees, rs]).s);
  }
  const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)])) as Record<keyof typeof r, number>;
  row('image of', `${counts[0]} files, ${(Number(counts[1]) / 1024 / 1024).toFixed(2)} GB`, 'copy_bom cold', fmt(m.cold), 'cp -a', fmt(m.cp), `${(m.cold / m.cp).toFixed(2)}x cp -a`);
  row('', '', 'copy_bom cold, ELF cache kept', fmt(m.warm), 'cp -a', fmt(m.cp), `${(m.warm / m.cp).toFixed(2)}x cp -a`);
  row('', '', 'copy_bom cold', fmt(m.cold), 'rsync -a', fmt(m.rsyncCold), `${(m.cold / m.rsyncCold).toFixed(2)}x rsync -a`);
  row('', '', 'copy_bom no-op', fmt(m.noop), 'rsync -a no-op', fmt(m.rsyncNoop), `${(m.noop / m.rsyncNoop).toFixed(2)}x rsync -a`);
  if (mem.length) row('', '', 'copy_bom peak memory', `${median(mem).toFixed(0)} MB`, '', '', '');
  // The machine's speed moves from run to run: every run, and the ratio within each run (the tools side by side).
  notes.push(`runs (s): copy_bom cold ${runs(r.cold)}; cold, ELF cache kept ${runs(r.warm)}; cp -a ${runs(r.cp)}; no-op ${runs(r.noop)}; rsync -a no-op ${runs(r.rsyncNoop)}`);
  notes.push(`copy_bom cold / cp -a in each run: ${runs(r.cold.map((c, i) => c / r.cp[i]!))} (median ${median(r.cold.map((c, i) => c / r.cp[i]!)).toFixed(2)})`);
}

// 3. Many small files: SMALL_FILES files of 200 bytes, 100 to a directory, two levels of
// directories (d000/s00/f000.py), as an application's source tree.
if (CASES.includes('small') && SMALL_FILES > 0) {
  const n = SMALL_FILES;
  // A copy takes a 4 KB block and an inode a file, and one of each a directory; copy_bom's
  // manifest and run record about 300 bytes a file more. Each run makes three copies (copy_bom's
  // image, cp's, rsync's); the source is one more.
  const copy = n * 1.02 * 4096;
  needFree((3 * RUNS + 1) * copy + RUNS * n * 300, (3 * RUNS + 1) * n * 1.02, 'RUNS or SMALL_FILES');
  const src = path.join(work, 'small', 'app');
  const pad = (x: number, w: number) => String(Math.floor(x)).padStart(w, '0');
  const filler = '#'.repeat(400);
  for (let k = 0; k < n; k += 100) {
    const dir = path.join(src, `d${pad(k / 10_000, 3)}`, `s${pad((k / 100) % 100, 2)}`);
    mkdirSync(dir, { recursive: true });
    for (let f = k; f < Math.min(k + 100, n); f++) writeFileSync(path.join(dir, `f${pad(f % 100, 3)}.py`), `# file ${f}\n${filler}`.slice(0, 199) + '\n');
  }
  const changed = path.join(src, 'd000', 's00', 'f000.py');
  const bom = path.join(work, 'small.yaml');
  writeFileSync(bom, `targets:\n  - target: /opt\n    copy:\n      - dirs: [${src}]\n`);
  // As in 2: the run record (src/record.ts) skips what changed within 2 s of a run.
  sleep(2100);
  const keys = ['cold', 'cp', 'rsyncCold', 'changed', 'rsyncChanged', 'touched', 'noop', 'rsyncNoop'] as const;
  type Key = (typeof keys)[number];
  const t = Object.fromEntries(keys.map((k) => [k, []])) as unknown as Record<Key, ReturnType<typeof timed>[]>;
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so that the machine's mood hits every tool alike. Each copy_bom cold build
    // starts with an empty cache directory (no ELF cache, no run record). Each cold copy starts
    // after a sync: none writes while the 200,000 files the one before wrote (or the generated
    // tree) are still being written back.
    const image = fresh(`small-image-${i}`);
    const cache = path.join(work, `small-cache-${i}`);
    spawnSync('sync');
    t.cold.push(copyBom(bom, image, cache));
    spawnSync('sync');
    t.cp.push(timed('cp', ['-a', src, fresh(`small-cp-${i}`)]));
    const rs = fresh(`small-rsync-${i}`);
    spawnSync('sync');
    t.rsyncCold.push(timed('rsync', ['-a', src, rs]));
    // One source file rewritten (another size, as an edit would), and both rebuilt at once.
    writeFileSync(changed, `# changed in run ${i}\n${filler}`.slice(0, 299 + i) + '\n');
    spawnSync('sync');
    t.changed.push(copyBom(bom, image, cache));
    t.rsyncChanged.push(timed('rsync', ['-a', src, rs]));
    // The BOM touched: it no longer states what the record says, so the run scans everything
    // again and copies nothing. A run records no path that changed within 2 s of its start: the
    // wait after the last change (this touch) lets this run record the BOM and the file changed
    // above, so that the no-op row is a real no-op (the record holds) and not a full run again.
    // Nothing changes between the two rows, so one wait serves both.
    execFileSync('touch', [bom]);
    sleep(2100);
    spawnSync('sync');
    t.touched.push(copyBom(bom, image, cache));
    t.noop.push(copyBom(bom, image, cache));
    t.rsyncNoop.push(timed('rsync', ['-a', src, rs]));
  }
  const s = (k: Key) => median(t[k].map((x) => x.s));
  const mb = (k: Key) => {
    const xs = t[k].flatMap((x) => x.mb ?? []);
    return xs.length ? `${median(xs).toFixed(0)} MB` : '';
  };
  const vs = (a: Key, b: Key, name: string) => `${(s(a) / s(b)).toFixed(2)}x ${name}`;
  row('small files', `${n} files of 200 B, ${Math.ceil(n / 100)} directories`, 'copy_bom cold', fmt(s('cold')), 'cp -a', fmt(s('cp')), vs('cold', 'cp', 'cp -a'));
  row('', '', 'copy_bom cold', fmt(s('cold')), 'rsync -a', fmt(s('rsyncCold')), vs('cold', 'rsyncCold', 'rsync -a'));
  row('', '', 'copy_bom, one file changed', fmt(s('changed')), 'rsync -a, the same change', fmt(s('rsyncChanged')), vs('changed', 'rsyncChanged', 'rsync -a'));
  row('', '', 'copy_bom, BOM touched', fmt(s('touched')), '', '', '');
  row('', '', 'copy_bom no-op', fmt(s('noop')), 'rsync -a no-op', fmt(s('rsyncNoop')), vs('noop', 'rsyncNoop', 'rsync -a'));
  if (mb('cold')) {
    row('', '', 'copy_bom peak memory, cold', mb('cold'), 'cp -a; rsync -a', `${mb('cp')}; ${mb('rsyncCold')}`, '');
    row('', '', 'copy_bom peak memory, one file changed', mb('changed'), 'rsync -a, the same change', mb('rsyncChanged'), '');
    row('', '', 'copy_bom peak memory, BOM touched', mb('touched'), '', '', '');
    row('', '', 'copy_bom peak memory, no-op', mb('noop'), 'rsync -a no-op', mb('rsyncNoop'), '');
  }
  const each = (k: Key) => runs(t[k].map((x) => x.s));
  const ratios = (a: Key, b: Key) => runs(t[a].map((x, i) => x.s / t[b][i]!.s));
  notes.push(
    `runs (s), small files: copy_bom cold ${each('cold')}; cp -a ${each('cp')}; rsync -a ${each('rsyncCold')}; one file changed ${each('changed')}; rsync -a, the same change ${each('rsyncChanged')}; BOM touched ${each('touched')}; no-op ${each('noop')}; rsync -a no-op ${each('rsyncNoop')}`,
  );
  notes.push(`small files, in each run: copy_bom cold / cp -a ${ratios('cold', 'cp')}; one file changed / rsync -a ${ratios('changed', 'rsyncChanged')}; no-op / rsync -a no-op ${ratios('noop', 'rsyncNoop')}`);
}

// 4. A container image: unpacked by us (into an empty cache) and by umoci.
if (CASES.includes('image')) {
  const trees = ['/usr/lib/python3.11', '/usr/include', '/usr/share/doc'].filter((t) => existsSync(t));
  const layout = path.join(work, 'image-oci');
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:app`]);
  const bundle = path.join(work, 'image-bundle');
  sh('umoci', ['unpack', '--image', `${layout}:app`, bundle]);
  for (const t of trees) {
    mkdirSync(path.join(bundle, 'rootfs', path.dirname(t)), { recursive: true });
    sh('cp', ['-a', t, path.join(bundle, 'rootfs', path.dirname(t))]);
  }
  sh('umoci', ['repack', '--image', `${layout}:app`, bundle]);
  const counts = execFileSync('sh', ['-c', `find ${bundle}/rootfs | wc -l; du -sk ${bundle}/rootfs | cut -f1; du -sk ${layout} | cut -f1`], { encoding: 'utf8' }).trim().split('\n');
  const deps = (cache: string) =>
    timed(process.execPath, [path.join(repo, 'bin/occlum-bom.js'), 'deps', '--source-root', `oci:${layout}:app`, '/usr/lib/python3.11/os.py'], { env: { ...ourEnv, OCCLUM_BOM_CACHE_DIR: cache } });
  const t = { ours: [] as number[], umoci: [] as number[], again: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const cache = fresh(`image-cache-${i}`);
    t.ours.push(deps(cache).s);
    t.again.push(deps(cache).s);
    t.umoci.push(timed('umoci', ['unpack', '--image', `${layout}:app`, path.join(work, `image-umoci-${i}`)]).s);
  }
  const size = `${counts[0]} entries, ${(Number(counts[1]) / 1024).toFixed(0)} MB (${(Number(counts[2]) / 1024).toFixed(0)} MB of gzip layers)`;
  row('image unpack', size, 'occlum-bom --source-root oci:', fmt(median(t.ours)), 'umoci unpack', fmt(median(t.umoci)), `${(median(t.ours) / median(t.umoci)).toFixed(2)}x umoci`);
  row('', '', 'the same, found unpacked', fmt(median(t.again)), '', '', '');
  notes.push(`runs (s), image: ours ${runs(t.ours)}; umoci unpack ${runs(t.umoci)}; found unpacked ${runs(t.again)}`);
}

// 5. The single executable against Node running the package.
if (CASES.includes('exe')) {
  const { buildExecutable } = await import('../packaging/executable.ts');
  const { buildDeb } = await import('../packaging/deb.ts');
  const addon = path.join(repo, 'build/Release/fs.node');
  const exe = { cached: path.join(work, 'exe-cache/occlum-bom-linux-x64'), plain: path.join(work, 'exe-plain/occlum-bom-linux-x64') };
  for (const [kind, file] of Object.entries(exe)) {
    mkdirSync(path.dirname(file));
    await buildExecutable(file, addon, { codeCache: kind === 'cached' });
  }
  const deb = buildDeb(exe.cached, work, 0);
  const image = fresh('exe-image');
  const cache = path.join(work, 'exe-cache-dir');
  const env = { ...ourEnv, OCCLUM_LOG_LEVEL: 'error', OCCLUM_BOM_CACHE_DIR: cache };
  const argv = { node: [process.execPath, path.join(repo, 'bin/copy_bom.js')], cached: [exe.cached, 'copy_bom'], plain: [exe.plain, 'copy_bom'] };
  const bom = path.join(repo, 'examples/demo.yaml');
  for (const [cmd, ...args] of Object.values(argv)) timed(cmd!, [...args, '-f', bom, '--root', image], { cwd: work, env }); // the image, and each one's record
  sleep(2100); // the record of a run is kept only for what was settled 2 s before it (src/record.ts)
  for (const [cmd, ...args] of Object.values(argv)) timed(cmd!, [...args, '-f', bom, '--root', image], { cwd: work, env });
  const t = { version: { node: [] as number[], cached: [] as number[], plain: [] as number[] }, noop: { node: [] as number[], cached: [] as number[], plain: [] as number[] } };
  for (let i = 0; i < RUNS * 4; i++) {
    for (const [kind, [cmd, ...args]] of Object.entries(argv) as [keyof typeof argv, string[]][]) {
      t.version[kind].push(timed(cmd!, [...args, '--version'], { env }).s);
      t.noop[kind].push(timed(cmd!, [...args, '-f', bom, '--root', image], { cwd: work, env }).s);
    }
  }
  const ms = (xs: number[]) => `${(median(xs) * 1000).toFixed(0)} ms`;
  const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x node`;
  for (const what of ['version', 'noop'] as const) {
    const label = what === 'version' ? 'start-up (--version)' : 'no-op rebuild, demo image';
    row(label, '', 'executable, code cache', ms(t[what].cached), 'node bin/copy_bom.js', ms(t[what].node), ratio(t[what].cached, t[what].node));
    row('', '', 'executable, no code cache', ms(t[what].plain), '', '', ratio(t[what].plain, t[what].node));
  }
  const mb = (f: string) => `${(statSync(f).size / 2 ** 20).toFixed(1)} MB`;
  notes.push(`sizes: the executable ${mb(exe.cached)} (${mb(exe.plain)} without the code cache), the .deb ${mb(deb)}`);
}

// 6. Real trees on fresh file systems.
if (CASES.includes('fs')) {
  const trees = ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/python3.11', '/usr/lib/python3/dist-packages', '/usr/lib/x86_64-linux-gnu'].filter((t) => existsSync(t));
  const kb = Number(execFileSync('sh', ['-c', `du -sc ${trees.join(' ')} | tail -1 | cut -f1`], { encoding: 'utf8' }).trim());
  const files = execFileSync('sh', ['-c', `find ${trees.join(' ')} -type f | wc -l`], { encoding: 'utf8' }).trim();
  for (const kind of ['ext4', 'xfs'] as const) {
    // Room for the sources and, each run, copy_bom's image, cp's and rsync's copies (reflinked copies take none).
    const fsys = freshFs(kind, (RUNS * 4 + 2) * kb * 1024);
    try {
      const src = path.join(fsys.dir, 'src');
      mkdirSync(src);
      execFileSync('cp', ['-a', ...trees, src]);
      const copies = trees.map((t) => path.join(src, path.basename(t)));
      const bom = path.join(fsys.dir, 'trees.yaml');
      writeFileSync(bom, `targets:\n  - target: /trees\n    copy:\n      - dirs: [${copies.join(', ')}]\n`);
      spawnSync('sync');
      sleep(2100); // the record keeps only what was settled 2 s before the run (src/record.ts)
      const t = { cold: [] as number[], again: [] as number[], cp: [] as number[], rsync: [] as number[], dgst: [] as number[] };
      const mem: number[] = [];
      const at = (name: string) => {
        spawnSync('sync');
        return path.join(fsys.dir, name);
      };
      for (let i = 0; i < RUNS; i++) {
        const image = at(`image-${i}`);
        const cache = path.join(fsys.dir, `cache-${i}`);
        const c = copyBom(bom, image, cache);
        t.cold.push(c.s);
        if (c.mb) mem.push(c.mb);
        rmSync(image, { recursive: true, force: true });
        t.again.push(copyBom(bom, at(`image-${i}`), cache).s);
        mkdirSync(at(`cp-${i}`));
        t.cp.push(timed('cp', ['-a', ...copies, path.join(fsys.dir, `cp-${i}`)]).s);
        mkdirSync(at(`rsync-${i}`));
        t.rsync.push(timed('rsync', ['-a', ...copies, path.join(fsys.dir, `rsync-${i}`)]).s);
        spawnSync('sync');
        t.dgst.push(timed('sh', ['-c', 'find "$@" -type f -print0 | xargs -0 -P 2 -n 500 openssl dgst -sha256 >/dev/null', 'sh', ...copies]).s);
      }
      const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
      const name = fsys.label;
      const floor = m.cp + m.dgst;
      row(name, `${files} files, ${(kb / 1024 / 1024).toFixed(2)} GB`, 'copy_bom cold', fmt(m.cold), 'cp -a', fmt(m.cp), `${(m.cold / m.cp).toFixed(2)}x cp -a`);
      row('', '', 'copy_bom cold', fmt(m.cold), 'cp -a + sha256 (2 processes)', fmt(floor), `${(m.cold / floor).toFixed(2)}x that floor`);
      row('', '', 'copy_bom after rm -rf image', fmt(m.again), 'cp -a', fmt(m.cp), `${(m.again / m.cp).toFixed(2)}x cp -a`);
      row('', '', 'copy_bom cold', fmt(m.cold), 'rsync -a', fmt(m.rsync), `${(m.cold / m.rsync).toFixed(2)}x rsync -a`);
      if (mem.length) row('', '', 'copy_bom peak memory', `${median(mem).toFixed(0)} MB`, '', '', '');
      notes.push(`runs (s), ${name}: copy_bom cold ${runs(t.cold)}; after rm -rf image ${runs(t.again)}; cp -a ${runs(t.cp)}; rsync -a ${runs(t.rsync)}; sha256 of every file ${runs(t.dgst)}`);
    } finally {
      fsys.done();
    }
  }
}

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${RUNS} runs each, medians\n`);
console.log('| what | size | ours | time | reference | time | ratio |\n|---|---|---|---|---|---|---|');
for (const cells of rows) console.log(`| ${cells.join(' | ')} |`);
if (notes.length) console.log(`\n${notes.join('\n')}`);
