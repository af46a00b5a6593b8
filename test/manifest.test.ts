// The manifest beside the image, verify, why, and copy_bom --delete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyBom, hasCommand, run, tmp, writeTree } from './helpers.ts';

function instance(bom: string) {
  const dir = tmp();
  writeTree(dir, { 'src/a': 'a', 'src/b': 'b', 'src/tree/x': 'x', 'src/tree/sub/y': 'y' });
  writeFileSync(path.join(dir, 'bom.yaml'), bom);
  return dir;
}
const BOM = 'targets:\n  - target: /data\n    copy:\n      - from: src\n        files: [a, b]\n        dirs: [tree]\n';

describe('the image manifest', () => {
  it('lists every path with content and provenance, sorted; identical builds give identical manifests', () => {
    const dir = instance(BOM);
    const r1 = copyBom(dir, ['-f', 'bom.yaml', '--root', 'one']);
    const r2 = copyBom(dir, ['-f', 'bom.yaml', '--root', 'two']);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const m1 = readFileSync(path.join(dir, 'one.manifest.json'), 'utf8');
    assert.equal(m1, readFileSync(path.join(dir, 'two.manifest.json'), 'utf8'));
    const m = JSON.parse(m1);
    assert.match(r1.stdout, new RegExp(`image digest: ${m.digest}`));
    const paths = m.entries.map((e: { path: string }) => e.path);
    assert.deepEqual(paths, ['/', '/data', '/data/a', '/data/b', '/data/tree', '/data/tree/sub', '/data/tree/sub/y', '/data/tree/x']);
    const a = m.entries.find((e: { path: string }) => e.path === '/data/a');
    assert.equal(a.sha256, 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb');
    assert.deepEqual(a.from, { bom: `${dir}/bom.yaml:5:17`, op: 'file', source: `${dir}/src/a` });
    assert.equal(m.entries.find((e: { path: string }) => e.path === '/data/tree/x').from.bom, `${dir}/bom.yaml:6:16`);
    // A rebuild that changes nothing leaves the manifest file alone; one that changes a file rewrites it.
    const file = path.join(dir, 'one.manifest.json');
    utimesSync(file, 1000, 1000);
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'one']).code, 0);
    assert.equal(statSync(file).mtimeMs, 1000_000);
    writeFileSync(path.join(dir, 'src/a'), 'A');
    const r3 = copyBom(dir, ['-f', 'bom.yaml', '--root', 'one']);
    assert.equal(r3.code, 0, r3.stderr);
    assert.notEqual(statSync(file).mtimeMs, 1000_000);
    assert.notEqual(JSON.parse(readFileSync(file, 'utf8')).digest, m.digest);
    // Times before 1970 are written exactly too.
    // Node's utimes takes a negative time as "now". A file entry's copy and a tree's.
    for (const f of ['src/b', 'src/tree/x']) execFileSync('touch', ['-d', '1969-12-31 23:59:58.5 UTC', path.join(dir, f)]);
    const r4 = copyBom(dir, ['-f', 'bom.yaml', '--root', 'old']);
    assert.equal(r4.code, 0, r4.stderr);
    const old = JSON.parse(readFileSync(path.join(dir, 'old.manifest.json'), 'utf8'));
    for (const p of ['/data/b', '/data/tree/x']) assert.equal(old.entries.find((e: { path: string }) => e.path === p).mtime, '-1.500000000', p);
    assert.equal(statSync(path.join(dir, 'old/data/tree/x'), { bigint: true }).mtimeNs, -1_500_000_000n);
  });

  it('verify passes on the image as built and catches a one-byte change', () => {
    const dir = instance(BOM);
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
    const ok = run('occlum-bom', ['verify', '--root', 'image'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^OK 8 paths, sha256:/);
    appendFileSync(path.join(dir, 'image/data/tree/x'), '!');
    writeFileSync(path.join(dir, 'image/data/new'), '');
    const bad = run('occlum-bom', ['verify', '--root', 'image'], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^added    \/data\/new$/m);
    assert.match(bad.stdout, /^changed  \/data\/tree\/x \(size 1 -> 2, sha256 /m);
  });

  it('why names the BOM line, and for a library the ELF file and the loader rule', { skip: !hasCommand('gcc') && 'gcc is not installed' }, () => {
    const dir = instance('targets:\n  - target: /bin\n    copy:\n      - files: [/usr/bin/true]\n');
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
    const file = run('occlum-bom', ['why', '--root', 'image', 'bin/true'], { cwd: dir });
    assert.equal(file.stdout, `/bin/true (file)\n  copied from /usr/bin/true\n  by ${dir}/bom.yaml:4:17 (files)\n`);
    const libc = run('occlum-bom', ['deps', '--json', '/usr/bin/true']).stdout;
    const libcPath = JSON.parse(libc)[0].libraries.find((l: { name: string }) => l.name === 'libc.so.6').path;
    const lib = run('occlum-bom', ['why', '--root', 'image', libcPath], { cwd: dir });
    assert.equal(lib.code, 0, lib.stderr);
    assert.match(lib.stdout, new RegExp(`DT_NEEDED libc\\.so\\.6 of /usr/bin/true, found via \\w+\\n  a dependency of /usr/bin/true\\n  which ${dir}/bom\\.yaml:4:17 copies`));
    const none = run('occlum-bom', ['why', '--root', 'image', '/nope'], { cwd: dir });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /\/nope is not in the image's manifest/);
  });

  it('--delete removes what the BOMs no longer describe, and only that', () => {
    const dir = instance(BOM);
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
    writeFileSync(path.join(dir, 'image/data/by-hand'), '');
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /data\n    copy:\n      - from: src\n        files: [a]\n');
    const dry = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--delete', '--dry-run']);
    assert.deepEqual(dry.stdout.split('\n').filter((l) => l.startsWith('rm ')), ['rm image/data/tree/x', 'rm image/data/tree/sub/y', 'rm image/data/tree/sub', 'rm image/data/tree', 'rm image/data/b']);
    assert.ok(existsSync(path.join(dir, 'image/data/b')), 'a dry run removes nothing');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--delete']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /removed image\/data\/b\n/);
    assert.deepEqual(
      JSON.parse(readFileSync(path.join(dir, 'image.manifest.json'), 'utf8')).entries.map((e: { path: string }) => e.path),
      ['/', '/data', '/data/a', '/data/by-hand'],
    );
  });

  it('a damaged manifest is written anew, but --delete stops before writing anything', () => {
    const dir = instance(BOM);
    const env = { ...process.env, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') };
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image'], env).code, 0);
    const manifest = path.join(dir, 'image.manifest.json');
    writeFileSync(manifest, 'garbage');
    writeFileSync(path.join(dir, 'src/c'), 'c');
    writeFileSync(path.join(dir, 'bom.yaml'), BOM.replace('files: [a, b]', 'files: [a, b, c]'));
    const del = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--delete'], env);
    assert.equal(del.code, 253, del.stderr);
    assert.match(del.stderr, /image\.manifest\.json is not a manifest of this tool/);
    assert.equal(existsSync(path.join(dir, 'image/data/c')), false, 'nothing written');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /is not a manifest of this tool.*; it is written anew/);
    assert.ok(JSON.parse(readFileSync(manifest, 'utf8')).entries.some((e: { path: string }) => e.path === '/data/c'));
  });

  it('--delete keeps a file this run wrote through a link in the image', () => {
    const dir = instance('targets:\n  - target: /real\n    copy:\n      - from: src\n        files: [a]\n');
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
    writeFileSync(
      path.join(dir, 'bom.yaml'),
      'targets:\n  - target: /\n    createlinks:\n      - {src: /real, linkname: abs}\n  - target: /abs\n    copy:\n      - from: src\n        files: [a]\n',
    );
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--delete']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /removed/);
    assert.equal(readFileSync(path.join(dir, 'image/real/a'), 'utf8'), 'a');
  });

  it('a manifest edited into paths that are not image paths is damaged: --delete stops, a plain run writes it anew', () => {
    for (const bad of ['"/data/"', '"/data/../x"', '"data/a"', '1', 'null', '"/a\\u0000b"']) {
      const dir = instance(BOM);
      assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
      const manifest = path.join(dir, 'image.manifest.json');
      const m = JSON.parse(readFileSync(manifest, 'utf8'));
      m.entries.push(bad === 'null' ? null : { path: JSON.parse(bad), type: 'dir', mode: '0755', from: m.entries[1].from });
      writeFileSync(manifest, JSON.stringify(m));
      const del = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--delete']);
      assert.equal(del.code, 253, `${bad}: ${del.stderr}`);
      assert.match(del.stderr, /is not a manifest of this tool: entry \d+/);
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
      assert.equal(r.code, 0, `${bad}: ${r.stderr}`);
      assert.equal(run('occlum-bom', ['verify', '--root', path.join(dir, 'image')]).code, 0);
    }
  });

  it('leaves out of the manifest, with a warning, a name in the image that is not UTF-8', () => {
    const dir = instance(BOM);
    assert.equal(copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']).code, 0);
    writeFileSync(Buffer.concat([Buffer.from(path.join(dir, 'image/data/by-hand-')), Buffer.from([0xff])]), 'x');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /a name in it is not UTF-8 .*: not in the manifest/);
    const paths = JSON.parse(readFileSync(path.join(dir, 'image.manifest.json'), 'utf8')).entries.map((e: { path: string }) => e.path);
    assert.ok(!paths.some((p: string) => p.includes('by-hand')), paths.join(' '));
    assert.equal(run('occlum-bom', ['verify', '--root', path.join(dir, 'image')]).code, 0);
  });

  it('a dry run writes nothing in the image or beside it', () => {
    const dir = instance(BOM);
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run'], { ...process.env, OCCLUM_BOM_CACHE_DIR: path.join(dir, 'cache') });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([existsSync(path.join(dir, 'image')), existsSync(path.join(dir, 'image.manifest.json')), existsSync(path.join(dir, 'image.lock'))], [false, false, false]);
  });
});
