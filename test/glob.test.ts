import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expandGlob, hasGlobMagic } from '../src/bom/glob.js';

describe('hasGlobMagic', () => {
  for (const [p, expected] of [
    ['/usr/lib/libz.so.1', false],
    ['/usr/lib/libz*', true],
    ['/usr/lib/?', true],
    ['/usr/lib/[ab]', true],
    ['/usr/lib/\\*', false],
    ['/usr/lib/\\[ab]', false],
    ['/usr/lib/\\\\*', true],
    ['/usr/lib/a\\', false],
  ] as const) {
    test(`${JSON.stringify(p)} -> ${expected}`, () => assert.equal(hasGlobMagic(p), expected));
  }
});

describe('expandGlob', () => {
  let T = '';
  const file = (rel: string) => {
    mkdirSync(dirname(join(T, rel)), { recursive: true });
    writeFileSync(join(T, rel), rel);
  };

  before(() => {
    T = mkdtempSync(join(tmpdir(), 'glob-test-'));
    for (const f of [
      'd/f',
      'd/.df',
      'd/a/f2',
      'd/a/b/f3',
      'd/.h/x/f4',
      'd/c/f',
      'd/sp ace/file',
      'd/[br]/g',
      'd/é.txt',
      'd/z.txt',
      'd/lib/libz.so',
      'd/lib/libz.so.1',
      'd/lib/libz.so.1.2.13',
      'd/lib/libz.a',
      'd/lib/python3.11/site.py',
      'd/lib/python3.12/site.py',
      'd/lib/python3-config',
      'd/lib/*star',
    ]) {
      file(f);
    }
    symlinkSync('a', join(T, 'd/la'));
    symlinkSync('f', join(T, 'd/lf'));
    symlinkSync('nowhere', join(T, 'd/broken'));
    symlinkSync('..', join(T, 'd/c/up')); // a cycle
  });
  after(() => rmSync(T, { recursive: true, force: true }));

  const g = (pattern: string, want: 'file' | 'dir') => expandGlob(`${T}/${pattern}`, want);
  const rel = (paths: string[]) => paths.map((p) => p.slice(T.length + 1));

  test('results are sorted in byte order', async () => {
    assert.deepEqual(rel(await g('d/lib/libz*', 'file')), [
      'd/lib/libz.a',
      'd/lib/libz.so',
      'd/lib/libz.so.1',
      'd/lib/libz.so.1.2.13',
    ]);
    // UTF-8 byte order puts "é" (0xC3...) after "z".
    assert.deepEqual(rel(await g('d/*.txt', 'file')), ['d/z.txt', 'd/é.txt']);
  });

  test('the literal prefix is kept as written', async () => {
    assert.deepEqual(await expandGlob(`${T}/d/../d//lib/libz*.so.*`, 'file'), [
      `${T}/d/../d//lib/libz.so.1`,
      `${T}/d/../d//lib/libz.so.1.2.13`,
    ]);
  });

  test('escaped wildcards are literal', async () => {
    assert.deepEqual(rel(await g('d/lib/\\*st*', 'file')), ['d/lib/*star']);
    assert.deepEqual(rel(await g('d/\\[br\\]/*', 'file')), ['d/[br]/g']);
    assert.deepEqual(rel(await g('d/lib/\\*star', 'file')), ['d/lib/*star']);
  });

  test('wildcards do not match a leading dot', async () => {
    assert.deepEqual(rel(await g('d/*f', 'file')), ['d/f', 'd/lf']);
    assert.deepEqual(rel(await g('d/?df', 'file')), []);
    assert.deepEqual(rel(await g('d/[.]df', 'file')), []);
    assert.deepEqual(rel(await g('d/.*', 'file')), ['d/.df']);
    assert.deepEqual(rel(await g('d/.*', 'dir')), ['d/.h']);
    assert.deepEqual(rel(await g('d/\\.d*', 'file')), ['d/.df']);
  });

  test('"**" matches zero or more directories, not dot-directories', async () => {
    assert.deepEqual(rel(await g('d/**/f*', 'file')), [
      'd/a/b/f3',
      'd/a/f2',
      'd/c/f',
      'd/c/up/f',
      'd/f',
      'd/la/f2',
      'd/sp ace/file',
    ]);
    assert.deepEqual(rel(await g('d/**/f4', 'file')), []);
    assert.deepEqual(rel(await g('d/.h/**/f4', 'file')), ['d/.h/x/f4']);
  });

  test('"**" does not walk through symlinks', async () => {
    // d/la -> a and d/c/up -> .. are matched as directories, but not searched further.
    assert.deepEqual(rel(await g('d/**/f3', 'file')), ['d/a/b/f3']);
    assert.deepEqual(rel(await g('d/**/**/f3', 'file')), ['d/a/b/f3']);
    assert.deepEqual(rel(await g('d/**/b', 'dir')), ['d/a/b', 'd/la/b']);
    assert.deepEqual(rel(await g('d/**/', 'dir')), [
      'd/',
      'd/[br]/',
      'd/a/',
      'd/a/b/',
      'd/c/',
      'd/c/up/',
      'd/la/',
      'd/lib/',
      'd/lib/python3.11/',
      'd/lib/python3.12/',
      'd/sp ace/',
    ]);
  });

  test('a trailing "**" matches everything below, and the directory itself', async () => {
    assert.deepEqual(rel(await g('d/a/**', 'dir')), ['d/a', 'd/a/b']);
    assert.deepEqual(rel(await g('d/a/**', 'file')), ['d/a/b/f3', 'd/a/f2']);
    assert.deepEqual(rel(await g('d/f/**', 'file')), []);
  });

  test('a trailing slash is kept and only directories match it', async () => {
    assert.deepEqual(rel(await g('d/lib/python3*/', 'dir')), ['d/lib/python3.11/', 'd/lib/python3.12/']);
    assert.deepEqual(rel(await g('d/lib/python3*/', 'file')), []);
    assert.deepEqual(rel(await g('d/lib/', 'dir')), ['d/lib/']);
  });

  test('want selects files or directories, following symlinks', async () => {
    assert.deepEqual(rel(await g('d/lib/python3*', 'file')), ['d/lib/python3-config']);
    assert.deepEqual(rel(await g('d/lib/python3*', 'dir')), ['d/lib/python3.11', 'd/lib/python3.12']);
    assert.deepEqual(rel(await g('d/l*', 'file')), ['d/lf']);
    assert.deepEqual(rel(await g('d/l*', 'dir')), ['d/la', 'd/lib']);
    assert.deepEqual(rel(await g('d/b*', 'file')), []); // d/broken dangles
  });

  test('no match gives an empty list', async () => {
    assert.deepEqual(await g('d/nomatch*', 'file'), []);
    assert.deepEqual(await g('nonexistent/*', 'file'), []);
    assert.deepEqual(await g('nonexistent/**/x', 'dir'), []);
    assert.deepEqual(await g('d/f/*', 'file'), []);
    assert.deepEqual(await g('d/*/nonexistent', 'file'), []);
    assert.deepEqual(await g('d/[x', 'file'), []);
  });

  test('a pattern without wildcards gives itself if it exists', async () => {
    assert.deepEqual(rel(await g('d/f', 'file')), ['d/f']);
    assert.deepEqual(await g('d/f', 'dir'), []);
    assert.deepEqual(await g('d/nope', 'file'), []);
  });

  test('a relative pattern is refused', async () => {
    await assert.rejects(expandGlob('d/*', 'file'), /not an absolute path/);
  });

  // bash with globstar and nullglob, in the C locale, filtered by `test -f`/`test -d`.
  // bash writes the zero-directory match of a final "**" as "d/", with a slash the
  // pattern does not have; we write "d", so that slash is dropped before comparing.
  const bashGlob = (pattern: string, want: 'file' | 'dir'): string[] => {
    const r = spawnSync(
      'bash',
      [
        ...['-O', 'globstar', '-O', 'nullglob', '-c'],
        `IFS=; for f in $1; do [ -${want[0]} "$f" ] && printf '%s\\0' "$f"; done; true`,
        ...['_', pattern],
      ],
      { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.split('\0').slice(0, -1);
    return out.map((p) => (pattern.endsWith('/') ? p : p.replace(/\/$/, '')));
  };

  for (const pattern of [
    'd/*',
    'd/**',
    'd/**/',
    'd/**/f*',
    'd/*/**',
    'd/**/*/',
    'd/.*',
    'd/**/.h/*',
    'd/*/f?',
    'd/[a-c]/*',
    'd/[!a]*',
    'd/lib/libz*.so.*',
    'd/lib/python3*/',
    'd/sp*/*',
    'd/\\[br\\]/*',
    'd/**/**/f3',
    'd/l*/',
    'd/*/b/*',
    'd/**/up/*',
  ]) {
    for (const want of ['file', 'dir'] as const) {
      test(`${pattern} (${want}) as bash expands it`, async () => {
        const ours = await g(pattern, want);
        const theirs = bashGlob(`${T}/${pattern}`, want);
        assert.deepEqual(ours, [...theirs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
      });
    }
  }
});
