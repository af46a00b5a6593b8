// --source-root: sources and every library taken from another root file system, one made here of
// Debian packages (test/debian-root.ts). The judges: the root's own loader run under `chroot
// ROOT` (what `chroot ROOT ldd` runs) for every ELF file of the root, and the built image's
// programs run under chroot. Links in the root that point at host paths (/etc/passwd,
// /usr/share/zoneinfo) must give the root's files or nothing, never the host's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { compare, deps, lddDirect, parseLdd, type JsonEntry } from './elf-ldd.ts';
import { debs, LIBDIR, makeRoot, named, PACKAGES, rootFile, skipDebianRoots } from './debian-root.ts';
import { cannotRunImages, CLEAN_ENV, copyBom, hasCommand, inImage, run, tmp } from './helpers.ts';

/** Every ELF file of a tree, as paths inside it. */
function elfFilesIn(root: string, dir = '/'): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const p = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...elfFilesIn(root, p));
    else if (e.isFile() && readFileSync(path.join(root, p)).subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) out.push(p);
  }
  return out;
}

describe('--source-root', { skip: cannotRunImages() || skipDebianRoots() }, () => {
  let packages: string[] = [];
  let musl: string[] = [];
  before(() => {
    packages = named(debs(), PACKAGES);
    musl = named(debs(), ['musl']);
  });

  for (const withCache of [true, false]) {
    it(`deps --source-root agrees with the root's loader under chroot on every ELF file of the root (${withCache ? 'with' : 'without'} ld.so.cache)`, async () => {
      const root = makeRoot(packages, withCache);
      const files = elfFilesIn(root);
      assert.ok(files.length > 50, `only ${files.length} ELF files in the root`);
      const r = await deps(['--source-root', root, '--json', ...files], { env: CLEAN_ENV });
      const ours = new Map((JSON.parse(r.stdout) as JsonEntry[]).map((e) => [e.file, e]));
      const judge = await lddDirect(files, CLEAN_ENV, root);
      const differences = files.flatMap((f) => compare(parseLdd(judge.get(f)!), ours.get(f)!).map((d) => `${f}: ${d}`));
      assert.deepEqual(differences, []);
      // The cache is what finds libonig: the test holds only if the answers differ with and without it.
      const onig = ours.get('/usr/bin/jq')!.libraries.find((l) => l.name === 'libonig.so.5');
      assert.equal(onig?.path ?? null, withCache ? '/opt/onig/lib/libonig.so.5' : null);
    });
  }

  it('copy_bom builds a running image from the root, with its loader, cache and libraries, never the host\'s files', () => {
    const root = makeRoot(packages, true);
    const dir = tmp();
    // A BOM written by generate_bom from paths inside the root, plus the root's cache and a data directory.
    const gen = run('generate_bom', ['--source-root', root, '-e', '/usr/bin/jq', 'usr/bin/lua5.4', '-D', '/data', '-o', 'bom.yaml'], { cwd: dir });
    assert.equal(gen.code, 0, gen.stderr);
    const bom = readFileSync(path.join(dir, 'bom.yaml'), 'utf8');
    assert.match(bom, /- \/usr\/bin\/lua5\.4\n/);
    assert.match(bom, new RegExp(`copy_bom -f <this file> --root image --source-root ${root}\n`));
    writeFileSync(path.join(dir, 'bom.yaml'), `${bom}  - target: /etc\n    copy:\n      - files: [/etc/ld.so.cache]\n`);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(r.code, 0, r.stderr);
    const image = path.join(dir, 'image');
    // The root's links to host paths: its /etc/passwd, and no zoneinfo (the root has none; the host has).
    assert.match(r.stderr, /skipping .*\/data\/zones -> \/usr\/share\/zoneinfo: the link leaves the copied tree and its referent does not exist/);
    assert.equal(readFileSync(path.join(image, 'bin/data/pw'), 'utf8'), readFileSync(path.join(root, 'etc/passwd'), 'utf8'));
    assert.ok(!existsSync(path.join(image, 'bin/data/zones')));
    // Every library and the loader are the root's (same bytes as the root's real files).
    for (const p of ['lib64/ld-linux-x86-64.so.2', 'lib/x86_64-linux-gnu/libc.so.6', 'opt/onig/lib/libonig.so.5', `${LIBDIR}/libjq.so.1`, 'lib/x86_64-linux-gnu/libreadline.so.8']) {
      assert.ok(readFileSync(path.join(image, p)).equals(rootFile(root, p)), `${p} is not the root's`);
    }
    // The manifest names the root as where each file came from.
    const why = run('occlum-bom', ['why', '--root', 'image', '/opt/onig/lib/libonig.so.5'], { cwd: dir });
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, new RegExp(`copied from ${root}/opt/onig/lib/libonig\\.so\\.5[.0-9]*\\n  DT_NEEDED libonig\\.so\\.5 of /${LIBDIR}/libjq\\.so\\.1, found via cache`));
    // The SBOM ties each file to the root's package and version, in the root's distribution.
    const sbom = run('occlum-bom', ['sbom', '--root', 'image', '--source-root', root], { cwd: dir });
    assert.equal(sbom.code, 0, sbom.stderr);
    const doc = JSON.parse(sbom.stdout) as { components: { name: string; version?: string; purl?: string }[] };
    const version = (pkg: string) => spawnSync('dpkg-deb', ['-f', packages.find((d) => path.basename(d).startsWith(`${pkg}_`))!, 'Version'], { encoding: 'utf8' }).stdout.trim();
    for (const pkg of ['jq', 'libjq1', 'libc6', 'lua5.4']) {
      const c = doc.components.find((x) => x.name === pkg);
      assert.ok(c, `${pkg} is in the SBOM`);
      assert.equal(c.version, version(pkg));
      assert.match(c.purl ?? '', /^pkg:deb\/testroot\/.*distro=testroot-7/);
    }
    // The programs run in the image.
    mkdirSync(path.join(image, 'proc'));
    const [cmd, args] = inImage(image, ['/bin/jq', '-n', '[1,2]|add']);
    const jq = spawnSync(cmd, args, { encoding: 'utf8', env: CLEAN_ENV });
    assert.equal(jq.stdout, '3\n', jq.stderr);
    const [cmd2, args2] = inImage(image, ['/bin/lua5.4', '-e', 'print(6*7)']);
    const lua = spawnSync(cmd2, args2, { encoding: 'utf8', env: CLEAN_ENV });
    assert.equal(lua.stdout, '42\n', lua.stderr);
    // A link inside the root re-pointed (libonig.so.5 -> another file) is a change the rebuild copies.
    const onig = path.join(root, 'opt/onig/lib/libonig.so.5');
    writeFileSync(`${onig}.patched`, Buffer.concat([rootFile(root, 'opt/onig/lib/libonig.so.5'), Buffer.from('\0')]));
    rmSync(onig);
    symlinkSync('libonig.so.5.patched', onig);
    const again = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(readFileSync(path.join(image, 'opt/onig/lib/libonig.so.5')).equals(readFileSync(`${onig}.patched`)));
  });

  it('a source reached through a link to a host path the root does not hold is an error, and nothing is written', () => {
    const root = makeRoot(named(packages, ['libc6']), false);
    const dir = tmp();
    writeFileSync(path.join(dir, 'bom.yaml'), "targets:\n  - target: /\n    copy:\n      - files: [/data/zones/UTC, '/data/zones/U*', /libs/libc.so.6]\n");
    assert.ok(existsSync('/usr/share/zoneinfo/UTC'), 'the host holds what the link names');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(r.code, 254, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot copy ${root}/data/zones/UTC: no such file or directory`));
    assert.match(r.stderr, new RegExp(`${root}/data/zones/U\\* matches no file`));
    assert.ok(!existsSync(path.join(dir, 'image')) || readdirSync(path.join(dir, 'image')).length === 0);
    // Through the same kind of link, a path the root holds is the root's file (a glob too).
    writeFileSync(path.join(dir, 'bom.yaml'), "targets:\n  - target: /\n    copy:\n      - files: ['/libs/libc.so.[6]']\n");
    rmSync(path.join(dir, 'image'), { recursive: true, force: true });
    const ok = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(readFileSync(path.join(dir, 'image/libc.so.6')).equals(rootFile(root, 'lib/x86_64-linux-gnu/libc.so.6')));
  });

  it('a library missing inside the root, then put there, is copied by the rebuild; from a root without ld.so.cache, the image runs', () => {
    const root = makeRoot(packages, false);
    const tinfo = readdirSync(path.join(root, 'lib/x86_64-linux-gnu')).filter((f) => f.startsWith('libtinfo.so'));
    const aside = tmp();
    for (const f of tinfo) renameSync(path.join(root, 'lib/x86_64-linux-gnu', f), path.join(aside, f));
    const dir = tmp();
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /usr/bin\n    copy:\n      - files: [/usr/bin/lua5.4]\n');
    // Nothing read may be younger than 2 s for the analysis to be kept (src/elf/cache.ts): it is, and must not hide the library put there later.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
    const first = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(first.code, 248, first.stderr);
    assert.match(first.stderr, /libtinfo\.so\.6/);
    for (const f of tinfo) renameSync(path.join(aside, f), path.join(root, 'lib/x86_64-linux-gnu', f));
    const again = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(readFileSync(path.join(dir, 'image/lib/x86_64-linux-gnu/libtinfo.so.6')).equals(rootFile(root, 'lib/x86_64-linux-gnu/libtinfo.so.6')));
    mkdirSync(path.join(dir, 'image/proc'));
    const [cmd, args] = inImage(path.join(dir, 'image'), ['/usr/bin/lua5.4', '-e', 'print(6*7)']);
    assert.equal(spawnSync(cmd, args, { encoding: 'utf8', env: CLEAN_ENV }).stdout, '42\n');
  });

  it('a musl root: its loader and path file decide, as the root\'s musl loader says under chroot; the image runs', { skip: !hasCommand('musl-gcc') && 'musl-gcc is not installed' }, async () => {
    const root = tmp('occlum-bom-musl-root-');
    assert.equal(spawnSync('dpkg-deb', ['-x', musl[0]!, root]).status, 0);
    const build = tmp();
    writeFileSync(path.join(build, 'foo.c'), 'int foo(void) { return 41; }\n');
    writeFileSync(path.join(build, 'main.c'), '#include <stdio.h>\nint foo(void);\nint main(void) { printf("%d\\n", foo() + 1); return 0; }\n');
    mkdirSync(path.join(root, 'opt/foo/lib'), { recursive: true });
    mkdirSync(path.join(root, 'opt/foo/bin'), { recursive: true });
    assert.equal(spawnSync('musl-gcc', ['-shared', '-fPIC', '-o', path.join(root, 'opt/foo/lib/libfoo.so'), path.join(build, 'foo.c')]).status, 0);
    assert.equal(spawnSync('musl-gcc', ['-o', path.join(root, 'opt/foo/bin/prog'), path.join(build, 'main.c'), `-L${path.join(root, 'opt/foo/lib')}`, '-lfoo']).status, 0);
    const judge = () => {
      const r = spawnSync('chroot', [root, '/lib/ld-musl-x86_64.so.1', '--list', '/opt/foo/bin/prog'], { encoding: 'utf8' });
      return r.stdout.split('\n').filter((l) => l.includes(' => ')).map((l) => l.replace(/^\t(.*) \(0x[0-9a-f]+\)$/, '$1'));
    };
    const ours = async () => {
      const r = await deps(['--source-root', root, '--json', '/opt/foo/bin/prog'], { env: CLEAN_ENV });
      return (JSON.parse(r.stdout) as JsonEntry[])[0]!.libraries.filter((l) => l.path !== null).map((l) => `${l.name} => ${l.path}`);
    };
    // Only the root's path file names /opt/foo/lib: without that line libfoo is not found, with it it is.
    assert.deepEqual(await ours(), judge());
    assert.ok(!judge().some((l) => l.startsWith('libfoo.so')));
    writeFileSync(path.join(root, 'etc/ld-musl-x86_64.path'), `${readFileSync(path.join(root, 'etc/ld-musl-x86_64.path'), 'utf8')}/opt/foo/lib\n`);
    assert.deepEqual(await ours(), judge());
    assert.deepEqual(judge(), ['libfoo.so => /opt/foo/lib/libfoo.so', 'libc.so => /lib/ld-musl-x86_64.so.1']);
    // Built into an image (with the path file, which the loader reads at run time), the program runs.
    const dir = tmp();
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /bin\n    copy:\n      - files: [/opt/foo/bin/prog]\n  - target: /etc\n    copy:\n      - files: [/etc/ld-musl-x86_64.path]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(spawnSync('chroot', [path.join(dir, 'image'), '/bin/prog'], { encoding: 'utf8' }).stdout, '42\n');
  });

  it('tree --source-root prints paths inside the root and the rule that found each library', () => {
    const root = makeRoot(packages, true);
    const r = run('occlum-bom', ['tree', '--source-root', root, 'usr/bin/jq']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /libonig\.so\.5 => \/opt\/onig\/lib\/libonig\.so\.5 \[cache\]/);
    assert.doesNotMatch(r.stdout, new RegExp(root));
    const bad = run('occlum-bom', ['deps', '--source-root', path.join(root, 'nope'), '/usr/bin/jq']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--source-root .*nope: no such file or directory/);
  });
});
