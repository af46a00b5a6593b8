// Reflinks (issue 30): on a file system that shares extents (XFS made with reflink=1, in a loop
// file), a copied file shares its source's extents (filefrag says "shared") and its manifest
// hash is still the SHA-256 of its bytes; to another file system the copy falls back to read
// and write and says so at debug level; the interrupt tests hold on the reflink path.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Entry } from '../src/manifest.ts';
import { hasCommand, repo, run, tmp, yaml } from './helpers.ts';

/** Why an XFS file system cannot be made and mounted here, or false. */
function cannotMountXfs(): string | false {
  if (process.getuid?.() !== 0) return 'mounting a loop file needs root';
  for (const cmd of ['losetup', 'mkfs.xfs', 'mount', 'umount', 'filefrag']) if (!hasCommand(cmd)) return `${cmd} is not installed`;
  if (process.env.OCCLUM_BOM_NO_NATIVE) return 'reflinks are the addon\'s';
  return false;
}

const shared = (file: string) => /[\s,]shared[\s,]/.test(execFileSync('filefrag', ['-v', file], { encoding: 'utf8' }));
const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];

describe('reflinks', { skip: cannotMountXfs(), timeout: 600_000 }, () => {
  let mnt = '';
  let loop = '';
  before(() => {
    const dir = tmp('occlum-bom-xfs-');
    const file = path.join(dir, 'xfs.img');
    execFileSync('truncate', ['-s', '2G', file]);
    loop = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
    execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', loop]);
    mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', [loop, mnt]);
    const src = path.join(mnt, 'src');
    mkdirSync(path.join(src, 'tree'), { recursive: true });
    for (const [name, size] of [['big', 3_000_000], ['mid', 100_000], ['small', 100]] as const) {
      writeFileSync(path.join(src, 'tree', name), Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + name.length) & 255)));
    }
    writeFileSync(path.join(src, 'alone'), Buffer.alloc(500_000, 7));
    writeFileSync(path.join(mnt, 'bom.yaml'), yaml(`targets:\n  - target: /data\n    copy:\n      - dirs: [${src}/tree]\n      - files: [${src}/alone]\n`));
  });
  after(() => {
    if (mnt) spawnSync('umount', [mnt]);
    if (loop) spawnSync('losetup', ['-d', loop]);
  });

  /** copy_bom of bom.yaml into `root`; its manifest's files. */
  const build = (root: string): { stderr: string; files: Entry[] } => {
    const r = run('copy_bom', ['-f', 'bom.yaml', '--root', root], { cwd: mnt, env: { OCCLUM_LOG_LEVEL: 'debug' } });
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(readFileSync(`${path.resolve(mnt, root)}.manifest.json`, 'utf8')) as { entries: Entry[] };
    return { stderr: r.stderr, files: manifest.entries.filter((e) => e.type === 'file') };
  };

  it('on XFS with reflinks, a copy shares its source\'s extents (64 KiB and more), and the manifest hashes are sha256sum\'s', () => {
    const { stderr, files } = build('image');
    assert.match(stderr, /^\[DEBUG\] device (\d+) -> \1: reflinks \(FICLONE\)/m);
    const image = path.join(mnt, 'image');
    for (const f of ['data/tree/big', 'data/tree/mid', 'data/alone']) assert.ok(shared(path.join(image, f)), `${f} shares its source's extents`);
    assert.ok(!shared(path.join(image, 'data/tree/small')), 'a small file is written');
    assert.equal(files.length, 4);
    for (const f of files) assert.equal(f.sha256, sha256sum(path.join(image, f.path)), f.path);
    const verify = run('occlum-bom', ['verify', '--root', image]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  it('to another file system, the copy reads and writes, and says why at debug level', () => {
    const other = path.join(tmp(), 'image');
    const { stderr, files } = build(other);
    assert.match(stderr, /^\[DEBUG\] device \d+ -> \d+: no reflinks \(Invalid cross-device link\): data read and written$/m);
    assert.ok(!shared(path.join(other, 'data/tree/big')));
    for (const f of files) assert.equal(f.sha256, sha256sum(path.join(other, f.path)), f.path);
  });

  it('the interrupt tests hold on the reflink path (test/interrupt.test.ts with its files on that file system)', () => {
    const dir = path.join(mnt, 'interrupt');
    mkdirSync(dir);
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'test/interrupt.test.ts'], {
      cwd: repo,
      // Its own run, not a child of this one (NODE_TEST_CONTEXT), with every file it makes on XFS.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT' && k !== 'OCCLUM_BOM_CACHE_DIR')), TMPDIR: dir },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout.split('\n').filter((l) => /^\s*not ok|error:/.test(l)).join('\n'));
    assert.match(r.stdout, /^# fail 0$/m);
    assert.match(r.stdout, /^# pass [1-9]/m);
  });
});
