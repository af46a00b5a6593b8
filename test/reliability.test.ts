// One writer per image, and copies that are never put in place half-new or unverified.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CopyCheckError, copyFileAtomic, copyTree, newStats } from '../src/fsops/copy.ts';
import { metaOf, scanTree } from '../src/fsops/tree.ts';
import { hashFile } from '../src/fsops/hash.ts';
import { lockPath } from '../src/fsops/lock.ts';
import { native } from '../src/fsops/native.ts';
import { splitNs } from '../src/fsops/times.ts';
import { copyBom, readTree, repo, tmp, writeTree } from './helpers.ts';

function instance() {
  const dir = tmp();
  writeFileSync(path.join(dir, 'f'), 'content');
  writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /\n    copy:\n      - files: [f]\n');
  return dir;
}

describe('one writer per image', () => {
  it('waits while a live process holds the lock, then copies', async () => {
    const dir = instance();
    const holder = spawn('sleep', ['30']);
    writeFileSync(lockPath(path.join(dir, 'image')), `${holder.pid}\n`);
    const run = spawn(process.execPath, [path.join(repo, 'bin/copy_bom.js'), '-f', 'bom.yaml', '--root', 'image'], { cwd: dir });
    let stderr = '';
    run.stderr.on('data', (d: Buffer) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => run.on('exit', resolve));
    const waiting = new RegExp(`waiting for copy_bom \\(pid ${holder.pid}\\) to finish with image`);
    for (let i = 0; i < 300 && !waiting.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(stderr, waiting);
    assert.ok(!existsSync(path.join(dir, 'image/f')), 'nothing copied while the lock is held');
    holder.kill('SIGKILL');
    assert.equal(await exit, 0, stderr);
    assert.equal(readFileSync(path.join(dir, 'image/f'), 'utf8'), 'content');
    assert.ok(!existsSync(lockPath(path.join(dir, 'image'))), 'the lock is released');
  });

  it('takes over the lock of a run that was killed', () => {
    const dir = instance();
    const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim(); // a pid that has exited
    writeFileSync(lockPath(path.join(dir, 'image')), `${gone}\n`);
    const r = spawnSync(process.execPath, [path.join(repo, 'bin/copy_bom.js'), '-f', 'bom.yaml', '--root', 'image'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(dir, 'image/f')));
  });
});

describe('copies are checked before they are put in place', () => {
  const setup = () => {
    const dir = tmp();
    const src = path.join(dir, 'src');
    const dest = path.join(dir, 'dest');
    writeFileSync(src, 'new content');
    writeFileSync(dest, 'old');
    return { dir, src, dest };
  };
  const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

  it('a source that no longer matches its scan is not put in place', async () => {
    const { dir, src, dest } = setup();
    const scanned = { ...metaOf(statSync(src, { bigint: true })), mtimeNs: 1n }; // as seen before it changed
    await assert.rejects(copyFileAtomic(src, dest, scanned, newStats()), (e) => e instanceof CopyCheckError && e.reason === 'changed');
    assert.equal(readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir), []);
  });

  it('a source that grew since its scan is not put in place', async () => {
    const { dir, src, dest } = setup();
    const scanned = { ...metaOf(statSync(src, { bigint: true })), size: 4 }; // "new content" is 11 bytes now
    await assert.rejects(copyFileAtomic(src, dest, scanned, newStats()), (e) => e instanceof CopyCheckError && e.reason === 'changed');
    assert.equal(readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir), []);
  });

  it('a pinned hash is checked on the bytes written', async () => {
    const { dir, src, dest } = setup();
    const meta = metaOf(statSync(src, { bigint: true }));
    await assert.rejects(copyFileAtomic(src, dest, meta, newStats(), 'a'.repeat(64)), (e) => e instanceof CopyCheckError && e.reason === 'hash');
    assert.equal(readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir), []);
    await copyFileAtomic(src, dest, meta, newStats(), await hashFile(src));
    assert.equal(readFileSync(dest, 'utf8'), 'new content');
  });
});

describe('a tree copy (the addon copies it in batches)', () => {
  // Enough files for several batches, several of them at once.
  const tree = (dir: string) => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 300; i++) spec[`src/d${i % 7}/f${i}`] = 'x'.repeat(i * 37);
    writeTree(dir, spec);
  };
  const leftovers = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.tmp'));
  const scanned = async (dir: string) => (await scanTree(path.join(dir, 'src'), () => false)).tree;
  const image = (dir: string) => {
    mkdirSync(path.join(dir, 'image'));
    return path.join(dir, 'image');
  };

  for (const [variant, env] of [['native', {}], ['fallback', { OCCLUM_BOM_NO_NATIVE: '1' }]] as const) {
    it(`${variant}: every file in place with its content, no temporary file`, () => {
      const dir = tmp();
      tree(dir);
      writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /t\n    copy:\n      - dirs: [src]\n');
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image'], { ...process.env, ...env });
      assert.equal(r.code, 0, r.stderr);
      for (let i = 0; i < 300; i++) assert.equal(readFileSync(path.join(dir, `image/t/src/d${i % 7}/f${i}`), 'utf8'), 'x'.repeat(i * 37));
      assert.equal(Object.keys(readTree(path.join(dir, 'image/t/src'))).length, 307);
      assert.deepEqual(leftovers(path.join(dir, 'image')), []);
    });
  }

  it('a source removed after the scan stops the copy with its path', async () => {
    const dir = tmp();
    tree(dir);
    const entries = await scanned(dir);
    unlinkSync(path.join(dir, 'src/d3/f150'));
    const root = image(dir);
    await assert.rejects(copyTree(entries, root, newStats()), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.path === path.join(dir, 'src/d3/f150'));
    assert.equal(existsSync(path.join(root, 'src/d3/f150')), false);
    assert.deepEqual(leftovers(root), []);
  });

  it('a source rewritten after the scan is not put in place', async () => {
    const dir = tmp();
    tree(dir);
    const entries = await scanned(dir);
    const changed = path.join(dir, 'src/d1/f99');
    writeFileSync(changed, 'y'.repeat(99 * 37 + 1));
    const root = image(dir);
    await assert.rejects(copyTree(entries, root, newStats()), (e) => e instanceof CopyCheckError && e.reason === 'changed' && e.message.includes(changed));
    assert.equal(existsSync(path.join(root, 'src/d1/f99')), false);
    assert.deepEqual(leftovers(root), []);
  });
});

describe('a copy into a directory the run made (written unnamed, linked in whole)', () => {
  it('falls back to a temporary name the addon makes when a name appeared there meanwhile', { skip: !native && 'the addon is not built' }, async () => {
    const dir = tmp();
    const src = path.join(dir, 'src');
    const dest = path.join(dir, 'made', 'f');
    writeFileSync(src, 'new content');
    mkdirSync(path.dirname(dest));
    writeFileSync(dest, 'old'); // appeared after the run made the directory
    const st = statSync(src, { bigint: true });
    const [sec, nsec] = splitNs(st.mtimeNs);
    // No temporary name given (tmp empty), nothing said to be at dest (the FRESH flag, 0x10000).
    const job = [src, '', dest, ''].join('\0');
    const digest = await native!.copyBatch(Buffer.from(`${job}\0`), Float64Array.of(Number(st.size), sec, nsec, 0o640 | 0x10000, Number(st.uid), Number(st.gid)), 1, false);
    assert.deepEqual(digest, Buffer.concat([createHash('sha256').update('new content').digest(), Buffer.of(1)]), 'the digest, and 1: the copy did not start with the ELF magic');
    assert.equal(readFileSync(dest, 'utf8'), 'new content');
    assert.equal(statSync(dest).mode & 0o7777, 0o640);
    assert.equal(statSync(dest, { bigint: true }).mtimeNs, st.mtimeNs);
    assert.deepEqual(readdirSync(path.dirname(dest)), ['f'], 'no temporary file left');
  });

  it('says which files start with the ELF magic, from the bytes it copied', { skip: !native && 'the addon is not built' }, async () => {
    const dir = tmp();
    const files = { elf: Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), text: Buffer.from('#!/bin/sh\n'), short: Buffer.from('\x7fE', 'latin1'), empty: Buffer.alloc(0) };
    mkdirSync(path.join(dir, 'out'));
    const jobs = Object.entries(files).map(([name, bytes]) => {
      writeFileSync(path.join(dir, name), bytes);
      const st = statSync(path.join(dir, name), { bigint: true });
      const [sec, nsec] = splitNs(st.mtimeNs);
      return { text: [path.join(dir, name), '', path.join(dir, 'out', name), ''].join('\0'), numbers: [Number(st.size), sec, nsec, 0o644 | 0x10000, Number(st.uid), Number(st.gid)] };
    });
    const result = await native!.copyBatch(Buffer.from(`${jobs.map((j) => j.text).join('\0')}\0`), Float64Array.from(jobs.flatMap((j) => j.numbers)), jobs.length, false);
    // 2: the ELF magic; 1: not; 0: not known (fewer than four bytes read).
    assert.deepEqual([0, 1, 2, 3].map((k) => result[33 * k + 32]), [2, 1, 0, 0]);
    assert.deepEqual(result.subarray(0, 32), createHash('sha256').update(files.elf).digest());
    for (const [name, bytes] of Object.entries(files)) assert.deepEqual(readFileSync(path.join(dir, 'out', name)), bytes);
  });
});

describe("a tree's files keep their owners and modes", () => {
  // The addon makes an unnamed file with its final permissions and sets the owner and mode only
  // where the first new file of a directory says they differ: each case here must differ from
  // what a new file gets (umask 077, another owner, a set-group-ID directory of another group,
  // set-ID bits) or agree with it, in one directory and in several.
  it('whatever a new file in their directory is made with (umask, owner, set-group-ID directory)', () => {
    const dir = tmp();
    const root = process.getuid?.() === 0;
    const files: [string, number, number?, number?][] = [
      ['t/a', 0o644],
      ['t/b', 0o600],
      ['t/c', 0o755],
      ['t/d', 0o4755],
      ['t/e', 0o644, 1234, 5678],
      ['t/f', 0o640, 0, 5678],
      ['t/g/x', 0o644, 0, 0],
      ['t/g/y', 0o664, 0, 5678],
      ['t/g/z', 0o2755, 0, 5678],
      ['t/h/w', 0o1777],
    ];
    for (const [rel, mode, uid, gid] of files) {
      writeTree(dir, { [`src/${rel}`]: rel });
      if (root && uid !== undefined) chownSync(path.join(dir, 'src', rel), uid, gid!);
      chmodSync(path.join(dir, 'src', rel), mode);
    }
    if (root) chownSync(path.join(dir, 'src/t/g'), 0, 5678);
    chmodSync(path.join(dir, 'src/t/g'), 0o2775);
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /opt\n    copy:\n      - dirs: [src/t]\n');
    const owners = (base: string) => Object.fromEntries(Object.keys(readTree(base)).map((rel) => {
      const st = lstatSync(path.join(base, rel));
      return [rel, { mode: st.mode & 0o7777, ...(root ? { uid: st.uid, gid: st.gid } : {}) }];
    }));
    const want = owners(path.join(dir, 'src'));
    for (const [name, env] of [['native', {}], ['fallback', { OCCLUM_BOM_NO_NATIVE: '1' }]] as const) {
      const r = spawnSync('sh', ['-c', 'umask 077 && exec "$@"', 'sh', process.execPath, path.join(repo, 'bin/copy_bom.js'), '-f', 'bom.yaml', '--root', name], {
        cwd: dir,
        env: { ...process.env, OCCLUM_LOG_LEVEL: '', ...env },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(owners(path.join(dir, name, 'opt')), want, name);
    }
  });
});

describe('the native copy and its Node fallback', () => {
  it('build the same image, and both refuse bytes that differ from a pinned hash', () => {
    const dir = tmp();
    writeTree(dir, {
      'src/tree/a.txt': 'a',
      'src/tree/sub/b.bin': 'x'.repeat(300_000),
      'src/tree/sub/empty': '',
      'src/run.sh': '#!/bin/sh\necho hi\n',
    });
    chmodSync(path.join(dir, 'src/run.sh'), 0o4755);
    chmodSync(path.join(dir, 'src/tree/a.txt'), 0o600);
    utimesSync(path.join(dir, 'src/tree/sub/b.bin'), 1_000_000, 1_000_000.123456);
    const sha = createHash('sha256').update('#!/bin/sh\necho hi\n').digest('hex');
    const bom = (hash: string) =>
      `targets:\n  - target: /opt\n    copy:\n      - dirs: [src/tree]\n      - files:\n          - {name: src/run.sh, hash: ${hash}}\n`;
    writeFileSync(path.join(dir, 'good.yaml'), bom(sha));
    writeFileSync(path.join(dir, 'bad.yaml'), bom('0'.repeat(64)));
    const images: Record<string, ReturnType<typeof readTree>> = {};
    const digests: string[] = [];
    for (const [name, env] of [['native', {}], ['fallback', { OCCLUM_BOM_NO_NATIVE: '1' }]] as const) {
      const r = copyBom(dir, ['-f', 'good.yaml', '--root', name], { ...process.env, ...env });
      assert.equal(r.code, 0, r.stderr);
      digests.push(r.stdout);
      images[name] = readTree(path.join(dir, name));
      const bad = copyBom(dir, ['-f', 'bad.yaml', '--root', `${name}-bad`], { ...process.env, ...env });
      assert.equal(bad.code, 249, bad.stderr);
      assert.match(bad.stderr, /SHA-256/);
      assert.equal(existsSync(path.join(dir, `${name}-bad/opt/run.sh`)), false);
    }
    assert.equal(digests[0], digests[1]);
    assert.equal(images.native!['opt/run.sh']!.mode, 0o4755);
    // Node's utimes lands within a microsecond of the source's time; the addon exactly.
    for (const [rel, node] of Object.entries(images.native!)) {
      const other = images.fallback![rel]!;
      assert.deepEqual({ ...other, mtimeNs: undefined }, { ...node, mtimeNs: undefined }, rel);
      if (node.mtimeNs !== undefined) assert.ok(Math.abs(Number(node.mtimeNs - other.mtimeNs!)) < 2000, rel);
    }
    assert.equal(images.native!['opt/tree/sub/b.bin']!.mtimeNs, statSync(path.join(dir, 'src/tree/sub/b.bin'), { bigint: true }).mtimeNs);
  });
});
