// Agreement with the real loader: `deps --json` over every ET_EXEC/ET_DYN file under /usr/bin,
// /usr/sbin and /usr/lib/x86_64-linux-gnu (one process for all), compared with ldd on each.
// ldd's answer is taken from the loader run the way the ldd script runs it (lddDirect: the
// script costs ~35 ms a file here, a minute for all); the script itself is run on every
// SAMPLE-th file and must say the same. Files of another class or machine than the
// host loader's cannot be judged by ldd here: they are counted, not compared.
import assert from 'node:assert/strict';
import { lstat, readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { EM_X86_64, ET_DYN, ET_EXEC, readElfFile } from '../src/elf/index.js';
import { mapLimit } from '../src/pool.ts';
import { compare, deps, ldd, lddDirect, parseLdd, type JsonEntry } from './elf-ldd.js';

const ROOTS = ['/usr/bin', '/usr/sbin', '/usr/lib/x86_64-linux-gnu'];
/** Shells running the loader, and ldd scripts, at once. */
const JOBS = 2;
const SAMPLE = 10;

async function regularFiles(dir: string, out: string[] = []): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const path = `${dir}/${name}`;
    const st = await lstat(path);
    if (st.isDirectory()) await regularFiles(path, out);
    else if (st.isFile()) out.push(path);
  }
  return out;
}

test('deps --json agrees with ldd on every ELF file of the host', { timeout: 300_000 }, async (t) => {
  const files: string[] = [];
  let otherMachine = 0;
  for (const path of (await Promise.all(ROOTS.map((r) => regularFiles(r)))).flat()) {
    const r = await readElfFile(path);
    if (!r.ok || (r.elf.header.type !== ET_EXEC && r.elf.header.type !== ET_DYN)) continue;
    if (r.elf.header.bits === 64 && r.elf.header.machine === EM_X86_64) files.push(path);
    else otherMachine++;
  }
  assert.ok(files.length > 100, `only ${files.length} ELF files found`);

  const env = { ...process.env, LC_ALL: 'C' };
  const started = Date.now();
  const ours = await deps(['--json', ...files], { env });
  const oursMs = Date.now() - started;
  const entries = JSON.parse(ours.stdout) as JsonEntry[];
  assert.equal(entries.length, files.length);

  const loaderStarted = Date.now();
  const half = Math.ceil(files.length / JOBS);
  const batches = Array.from({ length: JOBS }, (_, i) => files.slice(i * half, (i + 1) * half));
  const byFile = new Map((await Promise.all(batches.map((b) => lddDirect(b, env)))).flatMap((m) => [...m]));
  const judged = files.map((f) => byFile.get(f) ?? { code: 1, stdout: '', stderr: 'the loader was not run' });
  const loaderMs = Date.now() - loaderStarted;
  const sample = files.filter((_, i) => i % SAMPLE === 0);
  const scriptStarted = Date.now();
  const script = await mapLimit(sample, JOBS, (f) => ldd(f, env));
  const scriptMs = Date.now() - scriptStarted;

  const differences: string[] = [];
  sample.forEach((file, i) => {
    const viaScript = parseLdd(script[i]!);
    const viaLoader = parseLdd(judged[files.indexOf(file)]!);
    if (JSON.stringify(viaScript) !== JSON.stringify(viaLoader)) {
      differences.push(`${file}: ldd says ${JSON.stringify(viaScript)}, the loader ${JSON.stringify(viaLoader)}`);
    }
  });
  const kinds = { list: 0, none: 0, fatal: 0 };
  files.forEach((file, i) => {
    const answer = parseLdd(judged[i]!);
    if (answer.kind !== 'unparsed') kinds[answer.kind]++;
    for (const d of compare(answer, entries[i]!)) differences.push(`${file}: ${d}`);
  });
  t.diagnostic(
    `${files.length} files compared (${kinds.list} with libraries, ${kinds.none} static or not dynamic, ` +
      `${kinds.fatal} refused by the loader); ${otherMachine} of another class or machine not compared`,
  );
  t.diagnostic(
    `deps: ${oursMs} ms in one process; the loader as ldd runs it: ${loaderMs} ms; ` +
      `the ldd script on ${sample.length} of them: ${scriptMs} ms`,
  );
  assert.deepEqual(differences, [], `${differences.length} differences:\n${differences.join('\n')}`);
});
