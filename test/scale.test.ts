// The manifest a copy_bom run writes is the image as a full walk finds it: after a cold run, an
// incremental one, a rewrite that rsync's quick check cannot see, and a full run (no run-record
// shortcut) after one that changed nothing; with and without the native addon. The run takes
// shortcuts (hashes as written, hashes trusted from the last manifest by size and mtime, the
// run record); the judges below take none: `occlum-bom verify` and a walk written here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { digestOf, makeManifest, serialize, type Entry, type From, type Manifest } from '../src/manifest.ts';
import { manifestKey, writeManifest } from '../src/written.ts';
import { copyBom, run, tmp, writeTree, type Spec } from './helpers.ts';

const BOM = `targets:
  - target: /data
    mkdirs: [made]
    createlinks:
      - {src: tree/d0/e0/f0, linkname: alias}
    copy:
      - from: src
        dirs: [tree, odd]
        files: [tool]
`;

/**
 * An instance directory: src/tree (300 files, nested, and names around '/' in path order),
 * src/odd (names JSON must escape, names past the Basic Multilingual Plane), src/tool
 * (executable), bom.yaml.
 */
function instance(): string {
  const dir = tmp();
  const spec: Spec = { 'src/tool': { content: '#!/bin/sh\necho hi\n', mode: 0o755 }, 'src/tree/empty': null };
  for (let i = 0; i < 300; i++) {
    // Sizes 0 .. ~6 KiB, every 50th empty, a few over 64 KiB (more than one read of a hash).
    const size = i % 50 === 0 ? 0 : i % 97 === 1 ? 70_000 + i : (i * 211) % 6000;
    const content = createHash('sha256').update(String(i)).digest('hex').repeat(Math.ceil(size / 64) || 1).slice(0, size);
    spec[`src/tree/d${i % 5}/e${i % 3}/${i % 7 === 0 ? 'g/h/' : ''}f${i}`] = i % 11 === 0 ? { content, mode: i % 2 ? 0o600 : 0o755 } : content;
  }
  Object.assign(spec, {
    'src/tree/d1/up': { link: '../d0/e0/f0' }, // relative links that stay inside the tree
    'src/tree/d2/dirlink': { link: 'e1' },
    'src/tree/d3/e0/g/deep': { link: '../../../d4/e2/f5' },
    // In path order: a, a-c, a.b, a/x, a0 ('-' and '.' sort before '/', '0' after it).
    'src/tree/o/a/x': 'x',
    'src/tree/o/a.b': 'b',
    'src/tree/o/a-c': 'c',
    'src/tree/o/a0': '0',
    'src/odd/q"uote\\back': 'q',
    'src/odd/new\nline/tab\tx': 't',
    'src/odd/\u00e9t\u00e9/x': 'e',
    'src/odd/\u{1f600}': 'g',
    'src/odd/\uffee': 'f', // in UTF-16 after the emoji's surrogates, in UTF-8 before the emoji
    'src/odd/link': { link: 'q"uote\\back' },
  });
  writeTree(dir, spec);
  writeFileSync(path.join(dir, 'bom.yaml'), BOM);
  return dir;
}

type Content = Pick<Entry, 'path' | 'type' | 'mode' | 'size' | 'sha256' | 'target'>;

/** The image read here, independently of src/: what every entry's content part must be. */
function walk(root: string): Content[] {
  const out: Content[] = [];
  const visit = (host: string, rel: string) => {
    const st = lstatSync(host);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    if (st.isSymbolicLink()) out.push({ path: rel, type: 'link', target: readlinkSync(host) });
    else if (st.isFile()) out.push({ path: rel, type: 'file', mode, size: st.size, sha256: createHash('sha256').update(readFileSync(host)).digest('hex') });
    else {
      out.push({ path: rel, type: 'dir', mode });
      for (const name of readdirSync(host)) visit(path.join(host, name), path.posix.join(rel, name));
    }
  };
  visit(root, '/');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The content part of the manifest's entries, in its order (keys it lacks stay absent). */
function contentOf(entries: Entry[]): Content[] {
  return entries.map((e) => Object.fromEntries((['path', 'type', 'mode', 'size', 'sha256', 'target'] as const).filter((k) => e[k] !== undefined).map((k) => [k, e[k]])) as Content);
}

/** Both judges: verify exits 0 with no difference lines, the walk equals the manifest, the digest is of its entries. */
function assertManifestIsImage(dir: string, env: NodeJS.ProcessEnv): string {
  const text = readFileSync(path.join(dir, 'image.manifest.json'), 'utf8');
  const m = JSON.parse(text) as Manifest;
  const v = run('occlum-bom', ['verify', '--root', 'image'], { cwd: dir, env });
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^OK \d+ paths, sha256:[0-9a-f]{64}\n$/);
  assert.deepEqual(contentOf(m.entries), walk(path.join(dir, 'image')));
  assert.equal(m.digest, digestOf(m.entries));
  assert.equal(text, serialize(m), 'the text is what JSON.stringify(manifest, null, 1) gives');
  // A copied tree's entry names the BOM entry, and the source at the same path below src/.
  const trees = m.entries.filter((e) => typeof e.from === 'object' && e.from?.op === 'tree');
  assert.ok(trees.length > 300);
  for (const { path: p, from } of trees) {
    assert.equal((from as From).source, path.join(dir, 'src', p.slice('/data/'.length)), p);
    assert.match((from as From).bom, /:8:(16|22)$/, p);
    assert.ok((from as From).bom.startsWith(`${path.join(dir, 'bom.yaml')}:8:`), p);
  }
  return text;
}

const image = (dir: string, rel: string) => path.join(dir, 'image/data', rel);

for (const native of [true, false]) {
  describe(`the manifest equals a full walk of the image (${native ? 'native addon' : 'OCCLUM_BOM_NO_NATIVE=1'})`, () => {
    // Its own cache directory per test: no run record (or ELF cache) carries over from another test.
    const setup = () => {
      const dir = instance();
      const env: NodeJS.ProcessEnv = { OCCLUM_BOM_CACHE_DIR: tmp('occlum-bom-cache-'), OCCLUM_BOM_NO_NATIVE: native ? undefined : '1' };
      const build = (extra: NodeJS.ProcessEnv = {}) => {
        const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image'], { ...env, ...extra });
        assert.equal(r.code, 0, r.stderr);
        return r;
      };
      return { dir, env, build };
    };

    it('after a cold run', () => {
      const { dir, env, build } = setup();
      build();
      assertManifestIsImage(dir, env);
    });

    it('after an incremental run: one file changed, one added, one removed (kept without --delete), one chmod', () => {
      const { dir, env, build } = setup();
      build();
      const src = (rel: string) => path.join(dir, 'src/tree', rel);
      writeFileSync(src('d1/e1/f1'), 'new content, another size');
      writeFileSync(src('d4/e2/added'), 'added');
      rmSync(src('d2/e2/f2'));
      chmodSync(src('d3/e0/f3'), 0o700);
      build();
      // The four changes reached the image (else the comparison below would prove little).
      assert.equal(readFileSync(image(dir, 'tree/d1/e1/f1'), 'utf8'), 'new content, another size');
      assert.equal(readFileSync(image(dir, 'tree/d4/e2/added'), 'utf8'), 'added');
      assert.ok(lstatSync(image(dir, 'tree/d2/e2/f2')).isFile(), 'the removed source stays in the image');
      assert.equal(lstatSync(image(dir, 'tree/d3/e0/f3')).mode & 0o7777, 0o700);
      assertManifestIsImage(dir, env);
    });

    it('after a run over what others put in the image: files and a directory by hand, a temporary file of a killed run', () => {
      const { dir, env, build } = setup();
      build();
      writeTree(path.join(dir, 'image'), {
        'data/tree/d0/by-hand': 'put here by someone', // in a directory of a copied tree
        'notes/readme': 'a directory no BOM names',
        'data/tree/d1/.f1.copy_bom.0000abcd.tmp': 'a half copy', // the name of a killed run's temporary file
      });
      writeFileSync(path.join(dir, 'src/tree/d0/e0/f0'), 'changed, so the run is not a no-op');
      build();
      assert.equal(readFileSync(image(dir, 'tree/d0/by-hand'), 'utf8'), 'put here by someone');
      assert.equal(readdirSync(image(dir, 'tree/d1')).some((n) => n.endsWith('.tmp')), false, 'the temporary file is removed');
      const m = JSON.parse(readFileSync(path.join(dir, 'image.manifest.json'), 'utf8')) as { entries: Entry[] };
      assert.equal(m.entries.find((e) => e.path === '/notes/readme')?.from, null);
      assertManifestIsImage(dir, env);
    });

    it('after a same-size rewrite with the old mtime put back: the image keeps the old content, and so does the manifest', () => {
      const { dir, env, build } = setup();
      build();
      const file = path.join(dir, 'src/tree/d3/e2/f8');
      const old = readFileSync(file, 'utf8');
      assert.ok(old.length > 0);
      const mtime = execFileSync('stat', ['-c', '%.9Y', file], { encoding: 'utf8' }).trim(); // exact nanoseconds
      writeFileSync(file, old.replace(/./g, (c) => (c === 'x' ? 'y' : 'x')));
      execFileSync('touch', ['-m', '-d', `@${mtime}`, file]);
      assert.equal(execFileSync('stat', ['-c', '%.9Y', file], { encoding: 'utf8' }).trim(), mtime);
      build();
      assert.equal(readFileSync(image(dir, 'tree/d3/e2/f8'), 'utf8'), old, "rsync's quick check keeps the image's file");
      assertManifestIsImage(dir, env);
    });

    it('a full run (OCCLUM_LOG_LEVEL=info: no run-record shortcut) after an unchanged run writes the same bytes', () => {
      const { dir, env, build } = setup();
      build();
      const cold = assertManifestIsImage(dir, env);
      build();
      assert.equal(readFileSync(path.join(dir, 'image.manifest.json'), 'utf8'), cold);
      const r = build({ OCCLUM_LOG_LEVEL: 'info' });
      assert.match(r.stderr, /done: 0 files copied/, 'a full run, not the record replayed');
      assert.equal(assertManifestIsImage(dir, env), cold);
    });
  });
}

describe('the manifest written entry by entry', () => {
  it('is byte for byte what JSON.stringify(manifest, null, 1) gives, escapes included', () => {
    const entries: Entry[] = [
      { path: '/', type: 'dir', mode: '0755', from: { bom: 'command line', op: 'root' } },
      { path: '/a"\n\u2028\\\u0001é', type: 'file', mode: '0644', size: 3, mtime: '-1.000000001', sha256: 'ab'.repeat(32), from: { bom: '/b "x".yaml:1:2', op: 'lib', source: '/x\ty', neededBy: '/y', rule: 'r\\' } },
      { path: '/l', type: 'link', target: '../a\n', from: null },
      { path: '/p', type: 'dir', mode: '0700', from: 'parent' },
      { path: '/t', type: 'file', mode: '0600', size: 0, mtime: '0.000000000', sha256: 'cd'.repeat(32), from: { bom: '/b.yaml:3:4', op: 'tree', source: '/s/t' } },
    ];
    const dir = tmp();
    const file = path.join(dir, 'm.json');
    const written = writeManifest(file, { paths: entries.map((e) => e.path), entry: (i) => entries[i]!, isDir: (i) => entries[i]!.type === 'dir', fileRow: () => undefined, treeFiles: () => undefined }, undefined);
    const expected = makeManifest(entries);
    assert.equal(written.digest, expected.digest);
    assert.equal(readFileSync(file, 'utf8'), serialize(expected));
    // Unchanged text (by its key): the file is left alone.
    utimesSync(file, 1000, 1000);
    assert.equal(writeManifest(file, { paths: entries.map((e) => e.path), entry: (i) => entries[i]!, isDir: () => false, fileRow: () => undefined, treeFiles: () => undefined }, written.key).key, written.key);
    assert.equal(statSync(file).mtimeMs, 1_000_000);
    assert.equal(manifestKey(readFileSync(file, 'utf8'), expected.digest), written.key);
  });
});
