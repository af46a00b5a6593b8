// Container images as source roots (src/image/): images made here with Debian's umoci (`init`,
// `new`, `unpack`, a change with deletions, `repack`; an opaque-whiteout layer added with `umoci
// raw add-layer`) from a root of Debian packages (test/debian-root.ts), converted with `skopeo
// copy` to oci-archive: and docker-archive:. The judges: `umoci unpack` of the same image (the
// same tree, types, modes, owners, link targets, contents, mtimes), and the programs of images
// built from each transport run under chroot. Damaged and hostile images: one line, a documented
// exit code, nothing written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { compileExcludes } from '../src/fsops/exclude.ts';
import { IMAGE_EXCLUDES } from '../src/generate/from-image.ts';
import { parseImageRef } from '../src/image/ref.ts';
import { imageRoot } from '../src/image/root.ts';
import { debs, makeRoot, named, PACKAGES, skipDebianRoots } from './debian-root.ts';
import { cannotRunImages, CLEAN_ENV, copyBom, hasCommand, inImage, run, tmp } from './helpers.ts';

const tools = ['umoci', 'skopeo', 'python3'].find((c) => !hasCommand(c));
const skip = cannotRunImages() || skipDebianRoots() || (tools !== undefined && `${tools} is not installed`);

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A layer tar written by Python's tarfile (which writes what node's tar would refuse to): entries as [type, name, extra]. */
function craftLayer(file: string, entries: [string, string, string?][]): void {
  const script = `
import io, sys, tarfile, json
entries = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
    for kind, name, extra in entries:
        i = tarfile.TarInfo(name); i.mtime = 1700000000; i.mode = 0o644
        data = b''
        if kind == 'dir': i.type = tarfile.DIRTYPE; i.mode = 0o755
        elif kind == 'file': data = (extra or '').encode(); i.size = len(data)
        elif kind == 'symlink': i.type = tarfile.SYMTYPE; i.linkname = extra
        elif kind == 'hardlink': i.type = tarfile.LNKTYPE; i.linkname = extra
        elif kind == 'chardev': i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3
        t.addfile(i, io.BytesIO(data) if kind == 'file' else None)
`;
  sh('python3', ['-c', script, file, JSON.stringify(entries.map(([k, n, e]) => [k, n, e ?? null]))]);
}

/** Every entry under `dir`: type, permission bits, owner, link target, content hash, mtime, hard-link count. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = lstatSync(p, { bigint: true });
      const common = `${st.uid}:${st.gid} mtime ${st.mtimeNs}`;
      if (st.isSymbolicLink()) out[r] = `link -> ${readlinkSync(p)} ${common}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${(Number(st.mode) & 0o7777).toString(8)} ${common}`;
        walk(r);
      } else if (st.isFile()) out[r] = `file ${(Number(st.mode) & 0o7777).toString(8)} ${common} links ${st.nlink} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
      else out[r] = `other ${st.mode}`;
    }
  };
  walk('');
  return out;
}

/** The unpacked roots in a cache directory. */
const unpacked = (cache: string) => (existsSync(cache) ? readdirSync(cache).filter((n) => /^image-[0-9a-f]{16}$/.test(n)).map((n) => path.join(cache, n)) : []);

describe('container images as source roots', { skip }, () => {
  let work = '';
  let layout = '';
  const names: Record<'oci' | 'ociArchive' | 'dockerArchive', string> = { oci: '', ociArchive: '', dockerArchive: '' };
  let reference = ''; // umoci unpack's rootfs

  before(() => {
    const root = makeRoot(named(debs(), PACKAGES), true);
    work = tmp('occlum-bom-image-');
    layout = path.join(work, 'oci');
    sh('umoci', ['init', '--layout', layout]);
    sh('umoci', ['new', '--image', `${layout}:app`]);
    // Layer 1: the root, with what the later layers delete, hard links, set-user-ID, owners, caches.
    const b1 = path.join(work, 'b1');
    sh('umoci', ['unpack', '--image', `${layout}:app`, b1]);
    const r1 = path.join(b1, 'rootfs');
    cpSync(root, r1, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    mkdirSync(path.join(r1, 'deleteme/sub'), { recursive: true });
    writeFileSync(path.join(r1, 'deleteme/sub/f'), 'gone\n');
    mkdirSync(path.join(r1, 'opq'));
    writeFileSync(path.join(r1, 'opq/old'), 'hidden by an opaque whiteout\n');
    writeFileSync(path.join(r1, 'etc/keep'), 'first\n');
    writeFileSync(path.join(r1, 'etc/empty'), '');
    linkSync(path.join(r1, 'etc/keep'), path.join(r1, 'etc/hardkeep'));
    writeFileSync(path.join(r1, 'usr/bin/suid'), '#!/bin/sh\n');
    chmodSync(path.join(r1, 'usr/bin/suid'), 0o4755);
    mkdirSync(path.join(r1, 'home/u'), { recursive: true });
    writeFileSync(path.join(r1, 'home/u/file'), 'owned\n');
    chownSync(path.join(r1, 'home/u/file'), 1000, 1000);
    chownSync(path.join(r1, 'home/u'), 1000, 1000);
    for (const d of ['tmp', 'var/cache/apt/archives', 'var/lib/apt/lists', 'dev']) mkdirSync(path.join(r1, d), { recursive: true });
    writeFileSync(path.join(r1, 'tmp/junk'), 'x');
    writeFileSync(path.join(r1, 'var/cache/apt/archives/x.deb'), 'x');
    writeFileSync(path.join(r1, 'var/lib/apt/lists/x_Packages'), 'x');
    mkdirSync(path.join(r1, 'data'), { recursive: true });
    // Absolute links, which mean the same inside the image: a directory's, an alternatives-style chain.
    mkdirSync(path.join(r1, 'var'), { recursive: true });
    symlinkSync('/run', path.join(r1, 'var/run'));
    mkdirSync(path.join(r1, 'etc/alternatives'), { recursive: true });
    symlinkSync('/usr/bin/jq', path.join(r1, 'etc/alternatives/query'));
    symlinkSync('/etc/alternatives/query', path.join(r1, 'usr/bin/query'));
    symlinkSync('/usr/share/doc', path.join(r1, 'data/docs'));
    sh('umoci', ['repack', '--image', `${layout}:app`, b1]);
    sh('umoci', ['tag', '--image', `${layout}:app`, 'first']);
    // Layer 2: a deletion (a whiteout), a changed file.
    const b2 = path.join(work, 'b2');
    sh('umoci', ['unpack', '--image', `${layout}:app`, b2]);
    sh('rm', ['-rf', path.join(b2, 'rootfs/deleteme')]);
    writeFileSync(path.join(b2, 'rootfs/etc/keep'), 'second\n');
    sh('umoci', ['repack', '--image', `${layout}:app`, b2]);
    // Layer 3 (uncompressed): an opaque whiteout, and what the same layer puts beside it.
    const l3 = path.join(work, 'opaque.tar');
    craftLayer(l3, [['dir', 'opq'], ['file', 'opq/.wh..wh..opq'], ['file', 'opq/fresh', 'new\n']]);
    sh('umoci', ['raw', 'add-layer', '--image', `${layout}:app`, l3]);
    sh('umoci', ['config', '--image', `${layout}:app`, '--config.entrypoint', 'jq', '--config.cmd', '-n', '--config.cmd', '[1,2]|add', '--config.env', 'GREETING=hi', '--config.env', 'PATH=/usr/local/bin:/usr/bin:/bin', '--config.workingdir', '/data', '--tag', 'v1']);
    names.oci = `oci:${layout}:v1`;
    names.ociArchive = `oci-archive:${path.join(work, 'app-oci.tar')}:v1`;
    names.dockerArchive = `docker-archive:${path.join(work, 'app-docker.tar')}`;
    sh('skopeo', ['copy', '-q', names.oci, names.ociArchive]);
    sh('skopeo', ['copy', '-q', names.oci, `${names.dockerArchive}:app:v1`]);
    sh('umoci', ['unpack', '--image', `${layout}:v1`, path.join(work, 'ref')]);
    reference = path.join(work, 'ref/rootfs');
  });

  it('unpacks oci:, oci-archive: and docker-archive: to the tree umoci unpack makes, once', () => {
    const want = snapshot(reference);
    // The test image holds what it must: whiteouts applied, the opaque one sparing its own layer.
    assert.equal(want['deleteme'], undefined);
    assert.equal(want['opq/old'], undefined);
    assert.match(want['opq/fresh'] ?? '', /^file 644/);
    assert.match(want['usr/bin/suid'] ?? '', /^file 4755 0:0/);
    assert.match(want['home/u/file'] ?? '', /^file 644 1000:1000 .* links 1 /);
    assert.match(want['etc/keep'] ?? '', / links 2 /);
    assert.match(want['etc/empty'] ?? '', /^file 644 /);
    for (const name of Object.values(names)) {
      const cache = tmp();
      const env = { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: cache };
      const r = run('occlum-bom', ['deps', '--source-root', name, '/usr/bin/jq'], { env });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const [dir, ...more] = unpacked(cache);
      assert.ok(dir && more.length === 0, `${name}: one unpacked root in the cache`);
      assert.deepEqual(snapshot(path.join(dir, 'rootfs')), want, name);
      // The next run finds it there and unpacks nothing (the same directory, its use noted).
      const before = statSync(path.join(dir, 'rootfs')).ino;
      utimesSync(path.join(dir, 'image.json'), 1000, 1000);
      assert.equal(run('occlum-bom', ['deps', '--source-root', name, '/usr/bin/jq'], { env }).code, 0);
      assert.equal(statSync(path.join(dir, 'rootfs')).ino, before, `${name}: unpacked again`);
      assert.ok(statSync(path.join(dir, 'image.json')).mtimeMs > 1000_000, `${name}: its use is not noted`);
      // One unused for 31 days goes when another is used; so does an unpack left by a killed run.
      const old = path.join(cache, 'image-0123456789abcdef');
      mkdirSync(path.join(old, 'rootfs'), { recursive: true });
      writeFileSync(path.join(old, 'image.json'), '{}');
      utimesSync(path.join(old, 'image.json'), new Date(Date.now() - 31 * 86_400_000), new Date(Date.now() - 31 * 86_400_000));
      const left = path.join(cache, 'image-unpack-XXXXXX');
      mkdirSync(left);
      utimesSync(left, new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 2 * 86_400_000));
      assert.equal(run('occlum-bom', ['deps', '--source-root', name, '/usr/bin/jq'], { env }).code, 0);
      assert.ok(!existsSync(old) && !existsSync(left) && existsSync(path.join(dir, 'rootfs')));
    }
  });

  it('copy_bom builds an image from each transport whose programs run under chroot', () => {
    for (const name of Object.values(names)) {
      const dir = tmp();
      writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /usr/bin\n    copy:\n      - files: [/usr/bin/jq, /usr/bin/lua5.4]\n  - target: /etc\n    copy:\n      - files: [/etc/ld.so.cache]\n  - target: /proc\n');
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', name], { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const [cmd, args] = inImage(path.join(dir, 'image'), ['/usr/bin/jq', '-n', '[1,2]|add']);
      assert.equal(spawnSync(cmd, args, { encoding: 'utf8' }).stdout, '3\n', name);
      const [cmd2, args2] = inImage(path.join(dir, 'image'), ['/usr/bin/lua5.4', '-e', 'print(6*7)']);
      assert.equal(spawnSync(cmd2, args2, { encoding: 'utf8' }).stdout, '42\n', name);
    }
  });

  it('a rebuild after the tag was moved to another image takes the new one', () => {
    const moved = path.join(work, 'moved');
    cpSync(layout, moved, { recursive: true });
    const dir = tmp();
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /etc\n    copy:\n      - files: [/etc/keep]\n');
    const env = { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') };
    // What a run read must be 2 s old for its record to be kept (src/record.ts): it is, and must not stand for the moved tag.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
    const args = ['-f', 'bom.yaml', '--root', 'image', '--source-root', `oci:${moved}:v1`];
    assert.equal(copyBom(dir, args, env).code, 0);
    assert.equal(readFileSync(path.join(dir, 'image/etc/keep'), 'utf8'), 'second\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
    assert.equal(copyBom(dir, args, env).code, 0); // a no-op from the record
    sh('umoci', ['tag', '--image', `${moved}:first`, 'v1']);
    const r = copyBom(dir, args, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(path.join(dir, 'image/etc/keep'), 'utf8'), 'first\n');
  });

  it('new --from-image: Occlum.json holds the entry point and env, and the printed command builds an image whose entry point runs', () => {
    const dir = tmp();
    const env = { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') };
    const made = run('occlum-bom', ['new', 'inst', '--from-image', names.ociArchive], { cwd: dir, env });
    assert.equal(made.code, 0, made.stderr);
    for (const [bad, message] of [['docker://debian:12', /^occlum-bom: --from-image docker:\/\/debian:12: images are read from files only/], [`oci:${layout}:nope`, /^occlum-bom: --from-image oci:.*:nope: no manifest is tagged nope/]] as const) {
      const r = run('occlum-bom', ['new', 'bad', '--from-image', bad], { cwd: dir, env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.ok(!existsSync(path.join(dir, 'bad')));
    }
    const conf = JSON.parse(readFileSync(path.join(dir, 'inst/Occlum.json'), 'utf8')) as { entry_points: string[]; env: { default: string[] }; from_image: Record<string, unknown> };
    assert.deepEqual(conf.from_image.command, ['/usr/bin/jq', '-n', '[1,2]|add']); // jq found in the image's PATH
    assert.deepEqual(conf.from_image.entrypoint, ['jq']);
    assert.equal(conf.from_image.working_dir, '/data');
    assert.ok(conf.env.default.includes('GREETING=hi') && conf.env.default.includes('OCCLUM=yes'));
    assert.ok(conf.entry_points.includes('/usr/bin'));
    // The one copy_bom command printed, run as printed (copy_bom is this repository's).
    const line = /^ {2}cd inst && copy_bom (.*)$/m.exec(made.stdout);
    assert.ok(line, made.stdout);
    const args = line[1]!.split(' ');
    const built = copyBom(path.join(dir, 'inst'), args, env);
    assert.equal(built.code, 0, built.stderr);
    const image = path.join(dir, 'inst/image');
    for (const gone of ['tmp/junk', 'var/cache/apt/archives/x.deb', 'var/lib/apt/lists/x_Packages', 'deleteme', 'opq/old']) assert.ok(!existsSync(path.join(image, gone)), `${gone} is in the image`);
    // Every link of the container is a link of the image, with the same target (absolute ones too).
    const links = (root: string) => spawnSync('find', ['.', '-type', 'l', '-printf', '%p %l\\n'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
    const left = compileExcludes(IMAGE_EXCLUDES);
    const containerLinks = links(reference).filter((l) => !left(l.slice(2, l.indexOf(' ')), false));
    assert.ok(containerLinks.includes('./var/run /run') && containerLinks.includes('./usr/bin/query /etc/alternatives/query'), containerLinks.join('\n'));
    assert.deepEqual(links(image), containerLinks);
    assert.equal(readFileSync(path.join(image, 'etc/keep'), 'utf8'), 'second\n');
    // why names the image and the path inside it.
    const why = run('occlum-bom', ['why', '--root', 'image', '/etc/keep'], { cwd: path.join(dir, 'inst'), env });
    assert.match(why.stdout, new RegExp(`^  copied from /etc/keep in ${names.ociArchive.replace(/[.]/g, '\\.')} \\(unpacked at .*/image-[0-9a-f]{16}/rootfs/etc/keep\\)$`, 'm'));
    // Run with the environment Occlum would give it (PATH stays the host's: chroot is a host program).
    const runEnv = { ...Object.fromEntries(conf.env.default.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])), PATH: CLEAN_ENV.PATH };
    const [cmd, argv] = inImage(image, conf.from_image.command as string[]);
    const out = spawnSync(cmd, argv, { encoding: 'utf8', env: runEnv });
    assert.equal(out.stdout, '3\n', out.stderr);
    const [cmd2, argv2] = inImage(image, ['/usr/bin/jq', '-rn', 'env.GREETING']);
    assert.equal(spawnSync(cmd2, argv2, { encoding: 'utf8', env: runEnv }).stdout, 'hi\n');
  });

  it('refuses a damaged image, an unknown tag, an unsupported layer type and hostile layers with one line, writing nothing', () => {
    const attempt = (name: string) => {
      const dir = tmp();
      writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /\n    copy:\n      - files: [/etc/keep]\n');
      const cache = path.join(dir, 'cache');
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--source-root', name], { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: cache });
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(path.join(dir, 'image')), `${name}: an image was written`);
      return { ...r, unpacked: unpacked(cache), cache };
    };
    // A layer blob that does not match its digest.
    const damaged = path.join(work, 'damaged');
    cpSync(layout, damaged, { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(damaged, 'blobs/sha256', (JSON.parse(readFileSync(path.join(damaged, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] }).manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'v1')!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const blob = path.join(damaged, 'blobs/sha256', manifest.layers[1]!.digest.slice(7));
    const bytes = readFileSync(blob);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(blob, bytes);
    let r = attempt(`oci:${damaged}:v1`);
    assert.equal(r.code, 250);
    assert.match(r.stderr, /layer 2 \(sha256:[0-9a-f]{64}\): does not match its digest/);
    assert.deepEqual(r.unpacked, []);
    // A truncated archive.
    const truncated = path.join(work, 'truncated.tar');
    cpSync(names.ociArchive.split(':')[1]!, truncated);
    truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
    r = attempt(`oci-archive:${truncated}:v1`);
    assert.equal(r.code, 250);
    assert.match(r.stderr, /oci-archive:.*truncated\.tar:v1: /);
    // A tag that names nothing; several images and none named.
    r = attempt(`oci:${layout}:nope`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no manifest is tagged nope \(tags: .*v1/);
    r = attempt(`oci:${layout}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the layout holds 3 images; name one/);
    // An image only a registry or a daemon holds.
    r = attempt('docker://debian:12');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /images are read from files only .*skopeo copy docker:\/\/debian:12 oci-archive:image\.tar/);
    // A layer compressed with zstd (its manifest rewritten to say so).
    const zstd = path.join(work, 'zstd');
    cpSync(layout, zstd, { recursive: true });
    retype(zstd, 'v1', 'application/vnd.oci.image.layer.v1.tar+zstd');
    r = attempt(`oci:${zstd}:v1`);
    assert.equal(r.code, 250);
    assert.match(r.stderr, /unsupported media type application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd/);
    // Hostile layers on top of the image: `..`, an absolute path, a hard link out.
    for (const [entries, message] of [
      [[['file', '../evil', 'x']], /path \.\.\/evil contains \.\./],
      [[['file', '/evil', 'x']], /path \/evil is absolute/],
      [[['hardlink', 'etc/pw', '../../../etc/passwd']], /hard link target \.\.\/\.\.\/\.\.\/etc\/passwd contains \.\./],
      [[['file', '../.wh.tmp']], /path \.\.\/\.wh\.tmp contains \.\./],
    ] as [[string, string, string?][], RegExp][]) {
      const hostile = path.join(work, `hostile-${createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 8)}`);
      cpSync(layout, hostile, { recursive: true });
      craftLayer(`${hostile}.tar`, entries);
      sh('umoci', ['raw', 'add-layer', '--image', `${hostile}:v1`, `${hostile}.tar`]);
      r = attempt(`oci:${hostile}:v1`);
      assert.equal(r.code, 250, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(r.unpacked, []);
    }
  });

  it('docker-archive names as skopeo reads them: NAME is NAME:latest, @N by index; each mistake one line; a first unpack says how far it is', async () => {
    const dir = tmp();
    const archive = path.join(dir, 'named.tar');
    sh('skopeo', ['copy', '-q', names.oci, `docker-archive:${archive}:test`]);
    const deps = (name: string) => run('occlum-bom', ['deps', '--source-root', name, '/usr/bin/jq'], { cwd: dir, env: { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') } });
    for (const name of ['test', 'test:latest', 'docker.io/library/test:latest', 'docker.io/test', '@0']) {
      const r = deps(`docker-archive:${archive}:${name}`);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /libjq\.so\.1 => /);
    }
    const bad: [string, RegExp][] = [
      [`docker-archive:${archive}:test:v2`, /no image in the archive is tagged test:v2 \(docker\.io\/library\/test:v2\) \(tags: .*test:latest\)$/],
      [`docker-archive:${archive}:@1`, /no image @1: the archive holds 1 \(@0\)$/],
      [`docker-archive:${dir}`, /is a directory, not an archive \(oci:.* reads an OCI image layout\)$/],
    ];
    // A first unpack says how far it is (on a terminal: src/cli/source-root.ts draws these lines).
    const lines: string[] = [];
    await imageRoot(parseImageRef(`docker-archive:${archive}:test`)!, { OCCLUM_BOM_CACHE_DIR: path.join(dir, 'fresh-cache') }, () => undefined, (line) => lines.push(line));
    const layers = lines.filter((l) => l.endsWith(': checking its digest'));
    assert.deepEqual(layers.map((l) => l.replace(/^unpacking docker-archive:.*:test: /, '')), ['layer 1/3: checking its digest', 'layer 2/3: checking its digest', 'layer 3/3: checking its digest']);
    assert.ok(lines.some((l) => /: layer 1\/3: \d+ entries$/.test(l)), lines.join('\n'));
    for (const [name, message] of bad) {
      const r = deps(name);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), message);
    }
  });

  it('keeps writes of a layer inside the root through links, and skips device nodes with a warning', () => {
    const escape = `/tmp/occlum-bom-escape-${process.pid}`;
    const tricky = path.join(work, 'tricky');
    cpSync(layout, tricky, { recursive: true });
    craftLayer(`${tricky}.tar`, [['symlink', 'esc', '/'], ['file', `esc${escape}`, 'inside'], ['symlink', 'up', '../../..'], ['file', 'up/escaped', 'inside too'], ['chardev', 'null']]);
    sh('umoci', ['raw', 'add-layer', '--image', `${tricky}:v1`, `${tricky}.tar`]);
    const cache = tmp();
    const r = run('occlum-bom', ['deps', '--source-root', `oci:${tricky}:v1`, '/usr/bin/jq'], { env: { ...CLEAN_ENV, OCCLUM_BOM_CACHE_DIR: cache } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped 1 special file \(devices, FIFOs, sockets\): null \(CharacterDevice\)/);
    const rootfs = path.join(unpacked(cache)[0]!, 'rootfs');
    assert.equal(readFileSync(path.join(rootfs, escape), 'utf8'), 'inside');
    assert.equal(readFileSync(path.join(rootfs, 'escaped'), 'utf8'), 'inside too');
    assert.ok(!existsSync(escape), 'a layer wrote outside the root');
    assert.ok(!existsSync(path.join(path.dirname(path.dirname(path.dirname(rootfs))), 'escaped')));
    assert.ok(!existsSync(path.join(rootfs, 'null')));
  });
});

/** Rewrite the media type of every layer of `tag` in an OCI layout (a new manifest blob, the index pointed at it). */
function retype(layout: string, tag: string, mediaType: string): void {
  const indexFile = path.join(layout, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { manifests: { digest: string; size: number; annotations?: Record<string, string> }[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const manifest = JSON.parse(readFileSync(path.join(layout, 'blobs/sha256', desc.digest.slice(7)), 'utf8')) as { layers: { mediaType: string }[] };
  for (const l of manifest.layers) l.mediaType = mediaType;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(path.join(layout, 'blobs/sha256', hex), bytes);
  desc.digest = `sha256:${hex}`;
  desc.size = bytes.length;
  writeFileSync(indexFile, JSON.stringify(index));
}
