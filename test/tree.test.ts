// `occlum-bom tree`: on a program built here with gcc (exe -> liba via DT_RUNPATH -> libb via
// DT_RPATH, a library found by LD_LIBRARY_PATH, one named by path, one missing), its exact
// tree and JSON, and the same set of libraries as the real ldd for it and for host programs.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { FileTree, TreeNode } from '../src/cli/commands/tree.ts';
import { parseLdd, run as exec } from './elf-ldd.ts';
import { hasCommand, run, tmp } from './helpers.ts';

const tree = (args: string[], cwd?: string) => run('occlum-bom', ['tree', ...args], cwd ? { cwd } : {});

const SOURCES: Record<string, string> = {
  'b.c': 'int b(void) { return 2; }\n',
  'a.c': 'int b(void);\nint a(void) { return b() + 1; }\n',
  'e.c': 'int e(void) { return 5; }\n',
  'd.c': 'int d(void) { return 4; }\n',
  'm.c': 'int m(void) { return 0; }\n',
  'main.c': 'int a(void), e(void), d(void), m(void);\nint main(void) { return a() + e() + d() + m() == 12 ? 0 : 1; }\n',
  'mainb.c': 'int b(void);\nint main(void) { return b() == 2 ? 0 : 1; }\n',
  'hello.c': '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n',
};

async function cc(compiler: string, args: string[]): Promise<void> {
  const r = await exec(compiler, args);
  if (r.code !== 0) throw new Error(`${compiler} ${args.join(' ')}: ${r.stderr}`);
}

/** The paths and missing names of a tree, as ldd lists them (each library once). */
function flatten(nodes: TreeNode[], out = { found: new Set<string>(), missing: new Set<string>() }) {
  for (const n of nodes) {
    if (n.status === 'loaded') out.found.add(n.path!);
    if (n.status === 'missing') out.missing.add(n.name);
    flatten(n.needed, out);
  }
  return out;
}

describe('occlum-bom tree', { skip: !hasCommand('gcc') && 'gcc is not installed' }, () => {
  let T: string;
  let libc: string;
  before(async () => {
    T = tmp('tree-');
    for (const d of ['src', 'lib1', 'lib2', 'llp', 'direct', 'stub', 'junk']) mkdirSync(path.join(T, d));
    for (const [name, text] of Object.entries(SOURCES)) writeFileSync(path.join(T, 'src', name), text);
    // --no-as-needed everywhere: every library names libc.so.6 whatever the distribution's default.
    const so = (out: string, src: string, ...args: string[]) => cc('gcc', ['-shared', '-fPIC', '-Wl,--no-as-needed', '-o', path.join(T, out), path.join(T, 'src', src), ...args]);
    await so('lib2/libb.so', 'b.c');
    await so('lib1/liba.so', 'a.c', `-L${T}/lib2`, '-lb', '-Wl,--disable-new-dtags', `-Wl,-rpath,${T}/lib2`);
    await so('llp/libe.so', 'e.c');
    await so('direct/libd.so', 'd.c'); // no SONAME: linked by path, DT_NEEDED is that path
    await so('stub/libmissing.so', 'm.c');
    await cc('gcc', [
      '-o', path.join(T, 'app'), path.join(T, 'src/main.c'), '-Wl,--no-as-needed',
      `-L${T}/lib1`, '-la', `-L${T}/llp`, '-le', path.join(T, 'direct/libd.so'), `-L${T}/stub`, '-lmissing',
      '-Wl,--enable-new-dtags', `-Wl,-rpath,${T}/lib1`,
    ]);
    rmSync(path.join(T, 'stub/libmissing.so'));
    // A file that is not ELF where the loader looks first for libb.so stops it.
    writeFileSync(path.join(T, 'junk/libb.so'), 'not a library\n'.repeat(10));
    await cc('gcc', ['-o', path.join(T, 'stops'), path.join(T, 'src/mainb.c'), '-Wl,--no-as-needed', `-L${T}/lib2`, '-lb', `-Wl,-rpath,${T}/junk:${T}/lib2`]);
    const ldd = parseLdd(await exec('ldd', ['/bin/sh']));
    assert.equal(ldd.kind, 'list');
    libc = ldd.kind === 'list' ? ldd.entries.find((e) => e.name === 'libc.so.6')!.path! : '';
  });

  it('prints each library once, where the loader loads it, with its rule; repeats and missing ones marked', () => {
    const r = tree(['--library-path', `${T}/llp`, `${T}/app`]);
    assert.equal(r.code, 0, r.stderr);
    const rule = /\[(cache|default)\]/.exec(r.stdout)?.[0] ?? '[?]';
    const expected = [
      `${T}/app (interpreter /lib64/ld-linux-x86-64.so.2)`,
      `    liba.so => ${T}/lib1/liba.so [runpath]`,
      `        libb.so => ${T}/lib2/libb.so [rpath]`,
      `            libc.so.6 => ${libc} (already loaded)`,
      `        libc.so.6 => ${libc} (already loaded)`,
      `    libe.so => ${T}/llp/libe.so [ld_library_path]`,
      `        libc.so.6 => ${libc} (already loaded)`,
      `    ${T}/direct/libd.so [direct]`,
      `        libc.so.6 => ${libc} (already loaded)`,
      `    libmissing.so => not found`,
      `    libc.so.6 => ${libc} ${rule}`,
      `        ld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2 [interpreter]`,
      '',
    ].join('\n');
    assert.equal(r.stdout, expected);
    assert.match(rule, /^\[(cache|default)\]$/);
  });

  it('--json gives the same tree as nested objects', () => {
    const r = tree(['--json', '--library-path', `${T}/llp`, `${T}/app`, '/etc/passwd']);
    assert.equal(r.code, 0, r.stderr);
    const [app, passwd] = JSON.parse(r.stdout) as FileTree[];
    assert.deepEqual(passwd, { file: '/etc/passwd', interpreter: null, loader: null, needed: [], note: 'not a dynamic executable' });
    assert.equal(app!.interpreter, '/lib64/ld-linux-x86-64.so.2');
    const brief = (n: TreeNode): unknown => [n.name, n.status, n.foundBy, n.needed.map(brief)];
    const libcNode = app!.needed.at(-1)!;
    assert.deepEqual(app!.needed.map(brief), [
      ['liba.so', 'loaded', 'runpath', [['libb.so', 'loaded', 'rpath', [['libc.so.6', 'already-loaded', null, []]]], ['libc.so.6', 'already-loaded', null, []]]],
      ['libe.so', 'loaded', 'ld_library_path', [['libc.so.6', 'already-loaded', null, []]]],
      [`${T}/direct/libd.so`, 'loaded', 'direct', [['libc.so.6', 'already-loaded', null, []]]],
      ['libmissing.so', 'missing', null, []],
      ['libc.so.6', 'loaded', libcNode.foundBy, [['ld-linux-x86-64.so.2', 'loaded', 'interpreter', []]]],
    ]);
    assert.equal(libcNode.path, libc);
    assert.equal(app!.needed[0]!.needed[0]!.needed[0]!.path, libc, 'a repeat names the object it found');
  });

  it('loads the same libraries as ldd, for the fixture and for host programs', async () => {
    const programs = [`${T}/app`, '/bin/sh', ...['/usr/bin/python3', '/usr/bin/redis-server', '/usr/bin/ssh', '/usr/bin/curl'].filter(existsSync)];
    const r = tree(['--json', '--library-path', `${T}/llp`, ...programs]);
    assert.equal(r.code, 0, r.stderr);
    const trees = JSON.parse(r.stdout) as FileTree[];
    for (const t of trees) {
      const ldd = parseLdd(await exec('ldd', [t.file], { env: { ...process.env, LD_LIBRARY_PATH: `${T}/llp` } }));
      assert.equal(ldd.kind, 'list', t.file);
      if (ldd.kind !== 'list') continue;
      const ours = flatten(t.needed);
      assert.deepEqual([...ours.found].sort(), ldd.entries.filter((e) => e.path !== null).map((e) => e.path!).sort(), t.file);
      assert.deepEqual([...ours.missing].sort(), ldd.entries.filter((e) => e.path === null).map((e) => e.name!).sort(), t.file);
    }
  });

  it('shows what was loaded before the loader would stop, and fails like deps', () => {
    const r = tree([`${T}/stops`, `${T}/absent`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${T}/stops (interpreter /lib64/ld-linux-x86-64.so.2)\n    error while loading shared libraries: ${T}/junk/libb.so: invalid ELF header\n`);
    assert.equal(
      r.stderr,
      `occlum-bom: ${T}/stops: error while loading shared libraries: ${T}/junk/libb.so: invalid ELF header\nocclum-bom: ${T}/absent: no such file or directory\n`,
    );
  });

  it('a musl program: libc.so is the loader', { skip: !hasCommand('musl-gcc') && 'musl-gcc is not installed' }, async () => {
    await cc('musl-gcc', ['-o', path.join(T, 'hello-musl'), path.join(T, 'src/hello.c')]);
    const r = tree([path.join(T, 'hello-musl')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${T}/hello-musl (interpreter /lib/ld-musl-x86_64.so.1)\n    libc.so => /lib/ld-musl-x86_64.so.1 [interpreter]\n`);
  });
});
