// The loader models' parts: glibc's directories and subdirectories checked against the host's
// loader, its path handling, and musl's path file.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { MUSL_DEFAULT_PATH, muslArch, muslPathFile, readMuslPath } from '../src/elf/index.js';
import { decompose, expandDst, origin } from '../src/elf/glibc.js';
import { glibcModel, hwcapSubdirs } from '../src/elf/platform.js';
import { EM_X86_64 } from '../src/elf/read.js';
import { HOST_LOADER, run } from './elf-ldd.js';

test("glibc's system directories and hwcaps subdirectories are the host loader's", async () => {
  // The CPU-dependent parts are taken from what the loader says about this CPU.
  const help = (await run(HOST_LOADER, ['--help'])).stdout;
  const [, hwcapsPart = '', legacyPart = ''] = help.split(/^(?:Subdirectories of glibc-hwcaps|Legacy HWCAP).*$/m);
  const searched = (part: string, what: string) =>
    [...part.matchAll(new RegExp(`^ {2}(\\S+) \\(${what}\\)$`, 'gm'))].map((m) => m[1]!);
  const options = {
    glibcHwcaps: searched(hwcapsPart, 'supported, searched'),
    platform: searched(legacyPart, 'AT_PLATFORM; supported, searched')[0] ?? null,
    legacyHwcaps: searched(legacyPart, 'supported, searched').filter((n) => n !== 'tls'),
  };
  const model = glibcModel(64, EM_X86_64, true, HOST_LOADER, options)!;
  const systemDirs = [...help.matchAll(/^ {2}(\S+) \(system search path\)$/gm)].map((m) => `${m[1]}/`);
  assert.deepEqual(model.systemDirs, systemDirs);

  // The loader prints the directories it searches for a name found nowhere, hwcaps included.
  const traced = await run(HOST_LOADER, ['--list', '/bin/true'], {
    env: { LD_DEBUG: 'libs', LD_LIBRARY_PATH: '/nonexistent-dir' },
  });
  const path = /search path=(\S+)\s+\(LD_LIBRARY_PATH\)/.exec(traced.stderr);
  assert.ok(path, traced.stderr);
  const expected = [...new Set(path[1]!.split(':'))];
  assert.deepEqual(
    model.subdirs.map((s) => `/nonexistent-dir/${s}`.replace(/\/$/, '')),
    expected,
  );
});

test('hwcaps subdirectories: every combination of tls, platform and hwcaps, then none', () => {
  assert.deepEqual(hwcapSubdirs(['v3'], ['x86_64', 'avx512_1'], 'haswell'), [
    'glibc-hwcaps/v3/',
    'tls/haswell/avx512_1/x86_64/',
    'tls/haswell/avx512_1/',
    'tls/haswell/x86_64/',
    'tls/haswell/',
    'tls/avx512_1/x86_64/',
    'tls/avx512_1/',
    'tls/x86_64/',
    'tls/',
    'haswell/avx512_1/x86_64/',
    'haswell/avx512_1/',
    'haswell/x86_64/',
    'haswell/',
    'avx512_1/x86_64/',
    'avx512_1/',
    'x86_64/',
    '',
  ]);
  assert.deepEqual(hwcapSubdirs([], null, 'x86_64'), ['']);
});

test('dynamic string tokens', () => {
  const v = { ORIGIN: '/o', PLATFORM: 'x86_64', LIB: 'lib/x86_64-linux-gnu' };
  assert.equal(expandDst('$ORIGIN/../$LIB:${ORIGIN}/${PLATFORM}', v), '/o/../lib/x86_64-linux-gnu:/o/x86_64');
  assert.equal(expandDst('$ORIGINAL/$LIBRARY/$HOME/${LIB', v), '$ORIGINAL/$LIBRARY/$HOME/${LIB');
  assert.equal(expandDst('$LIB_/$LIB-1', v), '$LIB_/lib/x86_64-linux-gnu-1');
  assert.equal(expandDst('/a/$PLATFORM', { ...v, PLATFORM: null }), null);
  assert.equal(expandDst('/a/$ORIGIN', { ...v, PLATFORM: null }), '/a//o');
});

test('search paths split as glibc does', () => {
  const same = (s: string) => s;
  assert.deepEqual(decompose('/a::/b//:///:/a/', /:/, same), ['/a/', '', '/b/', '/']);
  assert.deepEqual(decompose('x;y:z', /[:;]/, same), ['x/', 'y/', 'z/']);
  assert.deepEqual(decompose('/keep:$GONE', /:/, (s) => (s.includes('$') ? null : s)), ['/keep/']);
});

test('$ORIGIN is the directory of the path as opened, made absolute but not normalised', () => {
  assert.equal(origin('/usr/bin/ls', '/x'), '/usr/bin');
  assert.equal(origin('/ls', '/x'), '/');
  assert.equal(origin('./app', '/work'), '/work/.');
  assert.equal(origin('bin/../app', '/work/'), '/work/bin/..');
});

test("musl's loader name, path file and path list", async () => {
  assert.equal(muslArch('/lib/ld-musl-x86_64.so.1'), 'x86_64');
  assert.equal(muslArch('/lib/ld-musl-armhf.so.1'), 'armhf');
  assert.equal(muslArch('/lib64/ld-linux-x86-64.so.2'), null);
  assert.equal(muslPathFile('/lib/ld-musl-x86_64.so.1', 'x86_64'), '/etc/ld-musl-x86_64.path');
  assert.equal(muslPathFile('/opt/musl/lib/ld-musl-x86_64.so.1', 'x86_64'), '/opt/musl/etc/ld-musl-x86_64.path');
  assert.equal(muslPathFile('ld-musl-x86_64.so.1', 'x86_64'), '/etc/ld-musl-x86_64.path');

  const dir = await mkdtemp(`${tmpdir()}/elf-musl-`);
  try {
    await writeFile(`${dir}/a.path`, '/lib/x86_64-linux-musl\n/usr/lib:/opt/lib\n\n');
    assert.deepEqual(await readMuslPath(`${dir}/a.path`), ['/lib/x86_64-linux-musl', '/usr/lib', '/opt/lib']);
    await writeFile(`${dir}/empty.path`, '');
    assert.deepEqual(await readMuslPath(`${dir}/empty.path`), []);
    assert.deepEqual(await readMuslPath(`${dir}/absent.path`), MUSL_DEFAULT_PATH);
    await mkdir(`${dir}/dir.path`);
    assert.deepEqual(await readMuslPath(`${dir}/dir.path`), [], 'unreadable: musl searches no system directory');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
