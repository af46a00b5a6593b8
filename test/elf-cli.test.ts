// `occlum-bom deps`: its two output forms, its exit status and its one-line errors.
import assert from 'node:assert/strict';
import { access, constants, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Exit } from '../src/errors.js';
import { deps, run, type JsonEntry } from './elf-ldd.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let dir: string;

before(async () => {
  dir = await mkdtemp(`${tmpdir()}/elf-cli-`);
  await writeFile(`${dir}/b.c`, 'int b(void) { return 2; }\n');
  await writeFile(`${dir}/main.c`, 'int b(void);\nint main(void) { return b() == 2 ? 0 : 1; }\n');
  await writeFile(`${dir}/static.c`, 'int main(void) { return 0; }\n');
  await writeFile(`${dir}/script.sh`, '#!/bin/sh\necho hello\n');
  await mkdir(`${dir}/lib`);
  for (const args of [
    ['-shared', '-fPIC', '-o', `${dir}/lib/libb.so`, `${dir}/b.c`],
    ['-o', `${dir}/app`, `${dir}/main.c`, `-L${dir}/lib`, '-lb', `-Wl,-rpath,${dir}/lib`],
    ['-o', `${dir}/missing`, `${dir}/main.c`, `-L${dir}/lib`, '-lb'],
    ['-static', '-o', `${dir}/static`, `${dir}/static.c`],
  ]) {
    const r = await run('gcc', args);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(() => rm(dir, { recursive: true, force: true }));

test('--json prints one array, with an error for unreadable files and exit status 1', async () => {
  const files = [`${dir}/app`, `${dir}/missing`, `${dir}/static`, `${dir}/script.sh`, `${dir}/absent`, dir];
  const r = await deps(['--json', ...files]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as JsonEntry[];
  const none = { interpreter: null, libraries: [] };
  assert.deepEqual(out, [
    {
      file: `${dir}/app`,
      interpreter: '/lib64/ld-linux-x86-64.so.2',
      libraries: [
        { name: 'libb.so', path: `${dir}/lib/libb.so` },
        { name: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6' },
        { name: 'ld-linux-x86-64.so.2', path: '/lib64/ld-linux-x86-64.so.2' },
      ],
    },
    {
      file: `${dir}/missing`,
      interpreter: '/lib64/ld-linux-x86-64.so.2',
      libraries: [
        { name: 'libb.so', path: null },
        { name: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6' },
        { name: 'ld-linux-x86-64.so.2', path: '/lib64/ld-linux-x86-64.so.2' },
      ],
    },
    { file: `${dir}/static`, ...none },
    { file: `${dir}/script.sh`, ...none },
    { file: `${dir}/absent`, ...none, error: 'no such file or directory' },
    { file: dir, ...none, error: 'is a directory' },
  ]);
  assert.equal(
    r.stderr,
    `occlum-bom: ${dir}/absent: no such file or directory\nocclum-bom: ${dir}: is a directory\n`,
  );
});

test('plain output is like ldd, with a header per file when there are several', async () => {
  const one = await deps([`${dir}/missing`]);
  assert.equal(one.code, 0);
  assert.equal(
    one.stdout,
    '\tlibb.so => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6\n' +
      '\tld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2\n',
  );
  const several = await deps([`${dir}/static`, `${dir}/script.sh`, `${dir}/lib/libb.so`]);
  assert.equal(several.code, 0);
  assert.equal(
    several.stdout,
    `${dir}/static:\n\tnot a dynamic executable\n${dir}/script.sh:\n\tnot a dynamic executable\n` +
      `${dir}/lib/libb.so:\n\tstatically linked\n`,
  );
});

test('--library-path, by default LD_LIBRARY_PATH, is the analysed programs\' library path', async () => {
  const lib = { name: 'libb.so', path: `${dir}/lib/libb.so` };
  const viaOption = JSON.parse((await deps(['--json', '--library-path', `${dir}/lib`, `${dir}/missing`])).stdout);
  assert.deepEqual(viaOption[0].libraries[0], lib);
  const viaEnv = await deps(['--json', `${dir}/missing`], { env: { ...process.env, LD_LIBRARY_PATH: `${dir}/lib` } });
  assert.deepEqual(JSON.parse(viaEnv.stdout)[0].libraries[0], lib);
});

test("usage errors: one line on stderr, the project's usage status", async () => {
  for (const args of [[], ['--bogus', 'x']]) {
    const r = await deps(args);
    assert.equal(r.code, Exit.usage);
    assert.match(r.stderr, /^occlum-bom: [^\n]+\n$/);
  }
  const help = await deps(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: occlum-bom deps \[options\] <file\.\.\.>/);
});

test('bin/occlum-bom.js runs the built command', async (t) => {
  const bin = `${ROOT}bin/occlum-bom.js`;
  await access(bin, constants.X_OK);
  assert.match(await readFile(bin, 'utf8'), /^#!\/usr\/bin\/env node\nimport \{ main \} from '\.\.\/dist\/cli\/occlum-bom\.js';\n/);
  try {
    await access(`${ROOT}dist/cli/occlum-bom.js`);
  } catch {
    t.skip('not built (npm test builds first)');
    return;
  }
  const r = await run(bin, ['deps', '--json', `${dir}/app`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as JsonEntry[])[0]!.libraries.length, 3);
});
