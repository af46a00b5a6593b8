// copy_bom's automatic dependencies on programs built here with gcc and musl-gcc; the images
// are run with chroot (root only) to show they work.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyBom, hasCommand, readTree, tmp } from './helpers.ts';

const isRoot = process.getuid?.() === 0;

function cc(compiler: string, out: string, source: string, ...flags: string[]): void {
  const src = `${out}.c`;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(src, source);
  execFileSync(compiler, ['-o', out, src, ...flags], { stdio: 'pipe' });
}

const LIB = 'int answer(void) { return 42; }\n';
const MAIN = '#include <stdio.h>\nint answer(void);\nint main(void) { printf("answer %d\\n", answer()); return 0; }\n';

/** An app tree: <dir>/<top>/lib/libanswer.so and <dir>/<top>/bin/prog with RUNPATH $ORIGIN/../lib. */
function app(dir: string, compiler = 'gcc', top = 'app'): string {
  cc(compiler, path.join(dir, top, 'lib/libanswer.so'), LIB, '-shared', '-fPIC');
  cc(compiler, path.join(dir, top, 'bin/prog'), MAIN, `-L${dir}/${top}/lib`, '-lanswer', "-Wl,-rpath,$ORIGIN/../lib", '-Wl,--enable-new-dtags');
  return path.join(dir, top, 'bin/prog');
}

function bom(dir: string, text: string): void {
  writeFileSync(path.join(dir, 'bom.yaml'), text);
}

function runInImage(image: string, ...argv: string[]) {
  return spawnSync('chroot', [image, ...argv], { encoding: 'utf8' });
}

describe('automatic dependencies', { skip: !hasCommand('gcc') && 'gcc is not installed' }, () => {
  it('copies what the loader loads, and a $ORIGIN library where the program will look for it', () => {
    const dir = tmp();
    const prog = app(dir);
    bom(dir, `targets:\n  - target: /bin\n    copy:\n      - files: [${prog}]\n`);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    const tree = readTree(path.join(dir, 'image'));
    const libc = execFileSync('ldd', [prog], { encoding: 'utf8' }).match(/libc\.so\.6 => (\S+)/)![1]!;
    assert.equal(tree[libc.slice(1)]?.type, 'file', 'libc at the path the loader reports');
    assert.equal(tree['lib64/ld-linux-x86-64.so.2']?.type, 'file', 'the loader at PT_INTERP');
    assert.equal(tree[`${dir.slice(1)}/app/lib/libanswer.so`]?.type, 'file', 'the library at its host path (upstream)');
    assert.equal(tree['lib/libanswer.so']?.type, 'file', 'and at $ORIGIN/../lib of /bin/prog');
    assert.ok(!Object.keys(tree).some((p) => p.endsWith('/..') || p.includes('/bin/..')), 'no stray directories');
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/bin/prog').stdout, 'answer 42\n');
  });

  for (const [spelling, from] of [
    ['relative', '../build/bin'],
    ['./-relative', './../build/bin/'],
    ['../-relative from a subdirectory', '../../build/bin'],
    ['absolute', '<dir>/build/bin'],
  ] as const) {
    it(`a $ORIGIN library lands where the program looks for it, the source spelled ${spelling}`, () => {
      // Occlum's own BOMs name programs through a relative `from`; $ORIGIN is the image's /bin,
      // and that of the library it finds there /lib (its own $ORIGIN library goes there too).
      const dir = tmp();
      cc('gcc', path.join(dir, 'build/lib/libdeep.so'), 'int deep(void) { return 42; }\n', '-shared', '-fPIC');
      cc('gcc', path.join(dir, 'build/lib/libanswer.so'), 'int deep(void);\nint answer(void) { return deep(); }\n', '-shared', '-fPIC', `-L${dir}/build/lib`, '-ldeep', '-Wl,-rpath,$ORIGIN', '-Wl,--enable-new-dtags');
      cc('gcc', path.join(dir, 'build/bin/prog'), MAIN, `-L${dir}/build/lib`, '-lanswer', '-Wl,-rpath,$ORIGIN/../lib', '-Wl,--enable-new-dtags');
      const cwd = path.join(dir, spelling.startsWith('../') ? 'work/sub' : 'work');
      mkdirSync(cwd, { recursive: true });
      bom(cwd, `targets:\n  - target: /bin\n    copy:\n      - from: ${from.replace('<dir>', dir)}\n        files: [prog]\n`);
      const r = copyBom(cwd, ['-f', 'bom.yaml', '--root', 'image']);
      assert.equal(r.code, 0, r.stderr);
      const tree = readTree(path.join(cwd, 'image'));
      assert.equal(tree['lib/libanswer.so']?.type, 'file', 'at $ORIGIN/../lib of /bin/prog');
      assert.equal(tree['lib/libdeep.so']?.type, 'file', 'at $ORIGIN of /lib/libanswer.so');
      assert.equal(tree[`${dir.slice(1)}/build/lib/libanswer.so`]?.type, 'file', 'and at its host path (upstream)');
      if (isRoot) assert.equal(runInImage(path.join(cwd, 'image'), '/bin/prog').stdout, 'answer 42\n');
    });
  }

  it("a $ORIGIN library follows the image's links: /bin/../lib is /usr/lib when /bin is a link to usr/bin", () => {
    // As the kernel resolves it: the program's $ORIGIN is the directory of its real path.
    const dir = tmp();
    app(dir, 'gcc', 'build');
    bom(dir, 'targets:\n  - target: /\n    mkdirs: [usr/bin, usr/lib, lib]\n    createlinks:\n      - src: usr/bin\n        linkname: bin\n  - target: /bin\n    copy:\n      - from: build/bin\n        files: [prog]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    const tree = readTree(path.join(dir, 'image'));
    assert.equal(tree['usr/bin/prog']?.type, 'file');
    assert.equal(tree['usr/lib/libanswer.so']?.type, 'file', 'where the loader looks: /usr/bin/../lib');
    assert.equal(tree['lib/libanswer.so'], undefined, 'not at the lexical /bin/../lib');
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/bin/prog').stdout, 'answer 42\n');
  });

  it('a $ORIGIN library of a program inside a copied tree lands where the copy looks for it', () => {
    const dir = tmp();
    app(dir, 'gcc', 'build');
    bom(dir, 'targets:\n  - target: /\n    copy:\n      - from: build\n        dirs: [bin]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readTree(path.join(dir, 'image'))['lib/libanswer.so']?.type, 'file');
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/bin/prog').stdout, 'answer 42\n');
  });

  it('a library on an absolute RUNPATH into a tree copied elsewhere lands at that path, linked to the copy', () => {
    // A source build (-Wl,-rpath,<prefix>/lib) copied whole to another target: the loader in the
    // image opens <prefix>/lib, not the tree's copy of it.
    const dir = tmp();
    const prefix = path.join(dir, 'prefix');
    cc('gcc', path.join(prefix, 'lib/libanswer.so'), LIB, '-shared', '-fPIC');
    cc('gcc', path.join(prefix, 'bin/prog'), MAIN, `-L${prefix}/lib`, '-lanswer', `-Wl,-rpath,${prefix}/lib`, '-Wl,--enable-new-dtags');
    bom(dir, 'targets:\n  - target: /opt\n    copy:\n      - dirs: [prefix]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    const atPath = statSync(path.join(dir, `image${prefix}/lib/libanswer.so`));
    assert.equal(atPath.ino, statSync(path.join(dir, 'image/opt/prefix/lib/libanswer.so')).ino, "a hard link to the tree's copy");
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/opt/prefix/bin/prog').stdout, 'answer 42\n');
    // Copied to its own path, the tree already holds it where the loader looks: nothing more.
    bom(dir, `targets:\n  - target: ${dir}\n    copy:\n      - dirs: [prefix]\n`);
    const same = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image2', '--dry-run']);
    assert.equal(same.code, 0, same.stderr);
    assert.doesNotMatch(same.stdout, /copy lib \S*libanswer/);
  });

  it('a missing library fails the run with 248 after copying everything else', () => {
    const dir = tmp();
    const prog = app(dir);
    execFileSync('rm', [path.join(dir, 'app/lib/libanswer.so')]);
    bom(dir, `targets:\n  - target: /bin\n    copy:\n      - files: [${prog}]\n`);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 248, r.stderr);
    assert.match(r.stderr, /copy_bom failed due to following libraries are missing:\nlibanswer\.so \(needed by .*\/bin\/prog, bom\.yaml:4:17\)/);
    assert.ok(existsSync(path.join(dir, 'image/lib64/ld-linux-x86-64.so.2')), 'the other dependencies are still copied');
    assert.ok(existsSync(path.join(dir, 'image/bin/prog')));
  });

  it('a library provided by a copied directory is not missing', () => {
    const dir = tmp();
    const prog = app(dir);
    copyFileSync(path.join(dir, 'app/lib/libanswer.so'), path.join(dir, 'libanswer.so'));
    execFileSync('rm', [path.join(dir, 'app/lib/libanswer.so')]);
    mkdirSync(path.join(dir, 'provided'));
    copyFileSync(path.join(dir, 'libanswer.so'), path.join(dir, 'provided/libanswer.so'));
    bom(dir, `targets:\n  - target: /bin\n    copy:\n      - files: [${prog}]\n  - target: /lib\n    copy:\n      - dirs: [provided/]\n`);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/bin/prog').stdout, 'answer 42\n');
  });

  it("a tree program's library that is a file of the tree under another path is a hard link to the tree's copy", () => {
    // The trees' libraries are found after the trees were copied (from what the copies read):
    // one that is a host file a tree's copy wrote is linked to that copy, not written twice.
    const dir = tmp();
    cc('gcc', path.join(dir, 'app/lib/libanswer.so'), LIB, '-shared', '-fPIC');
    symlinkSync('app', path.join(dir, 'alias'));
    cc('gcc', path.join(dir, 'app/bin/prog'), MAIN, `-L${dir}/app/lib`, '-lanswer', `-Wl,-rpath,${dir}/alias/lib`, '-Wl,--enable-new-dtags');
    bom(dir, 'targets:\n  - target: /opt\n    copy:\n      - dirs: [app]\n');
    const dry = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`copy lib ${dir}/alias/lib/libanswer\\.so image${dir}/alias/lib/libanswer\\.so \\(needed by app/bin/prog\\)`), 'the dry run plans it');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    const inTree = statSync(path.join(dir, 'image/opt/app/lib/libanswer.so'));
    const asLib = statSync(path.join(dir, `image${dir}/alias/lib/libanswer.so`));
    assert.equal(asLib.ino, inTree.ino, 'one file under both names');
    assert.equal(inTree.nlink, 2);
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/opt/app/bin/prog').stdout, 'answer 42\n');
  });

  it('a plug-in (no PT_INTERP) inside a copied directory gets its libraries', () => {
    const dir = tmp();
    cc('gcc', path.join(dir, 'plugins/libplug.so'), '#include <math.h>\ndouble plug(double x) { return cbrt(x); }\n', '-shared', '-fPIC', '-lm');
    bom(dir, 'targets:\n  - target: /opt\n    copy:\n      - dirs: [plugins]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const libm = execFileSync('ldd', [path.join(dir, 'plugins/libplug.so')], { encoding: 'utf8' }).match(/libm\.so\.6 => (\S+)/)![1]!;
    assert.match(r.stdout, new RegExp(`copy lib ${libm} image${libm} \\(needed by .*libplug\\.so\\)`));
  });

  it('relocates libraries found through a loader config next to the configured loader', () => {
    const dir = tmp();
    const prog = app(dir);
    // As on an Occlum host: a private glibc loader and libc in their own directory.
    const glibc = path.join(dir, 'occlum/glibc/lib');
    mkdirSync(glibc, { recursive: true });
    const hostLibc = execFileSync('ldd', [prog], { encoding: 'utf8' }).match(/libc\.so\.6 => (\S+)/)![1]!;
    copyFileSync('/lib64/ld-linux-x86-64.so.2', path.join(glibc, 'ld-linux-x86-64.so.2'));
    copyFileSync(hostLibc, path.join(glibc, 'libc.so.6'));
    writeFileSync(path.join(dir, 'loaders.config'), `${glibc}/ld-linux-x86-64.so.2 ${path.join(dir, 'app/lib')}\n`);
    bom(dir, `targets:\n  - target: /bin\n    copy:\n      - files: [${prog}]\n`);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--loader-config', 'loaders.config']);
    assert.equal(r.code, 0, r.stderr);
    const tree = readTree(path.join(dir, 'image'));
    assert.equal(tree[`${glibc.slice(1)}/libc.so.6`]?.type, 'file', 'libc next to the configured loader');
    assert.equal(tree[`${glibc.slice(1)}/libanswer.so`]?.type, 'file', 'a library of a configured dir goes next to the loader too');
    assert.equal(tree['lib64/ld-linux-x86-64.so.2']?.type, 'file', 'the configured loader at the PT_INTERP path');
    assert.equal(tree[hostLibc.slice(1)], undefined, "the host's libc is not used");
  });

  it('copies a musl program with its loader, and it runs', { skip: !hasCommand('musl-gcc') && 'musl-gcc is not installed' }, () => {
    const dir = tmp();
    cc('musl-gcc', path.join(dir, 'hello'), '#include <stdio.h>\nint main(void) { puts("hello from musl"); return 0; }\n');
    bom(dir, 'targets:\n  - target: /bin\n    copy:\n      - files: [hello]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    const tree = readTree(path.join(dir, 'image'));
    assert.ok(Object.keys(tree).some((p) => /ld-musl-x86_64\.so\.1$/.test(p)), Object.keys(tree).join(' '));
    if (isRoot) assert.equal(runInImage(path.join(dir, 'image'), '/bin/hello').stdout, 'hello from musl\n');
  });
});
