// Delta runs (src/delta.ts): when the record of the last run says only a few plain files of
// copied trees changed, copy_bom copies just those. The judges take no shortcut: a full run
// with no cache afterwards (it must change nothing, say the same, leave the same manifest), a
// fresh image built from scratch (the same tree, directory mtimes included, and manifest),
// and `occlum-bom verify`. The record's `deltas` count says which path a rebuild took.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, lstatSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyBom, readTree, run, settled, tmp, writeTree, type Run } from './helpers.ts';

/** A run records no path that changed within 2 s of its start (src/record.ts): the next run records them once none has. */
const settle = (ws: string) => settled([path.join(ws, 'src'), path.join(ws, 'bom.yaml')]);

/** src/app (plain files, a subdirectory, a link, an ELF file, 70 files in many/), src/conf.txt (a `files` entry), the BOM. */
function workspace(): string {
  const ws = tmp();
  const spec: Parameters<typeof writeTree>[1] = {
    'src/app/a.txt': 'a\n',
    'src/app/b.txt': 'b\n',
    'src/app/sub/c.txt': 'c\n',
    'src/app/sub/d.py': { content: 'print("d")\n', mode: 0o755 },
    'src/app/link': { link: 'a.txt' },
    'src/conf.txt': 'conf\n',
  };
  for (let i = 0; i < 70; i++) spec[`src/app/many/m${i}`] = `${i}\n`;
  writeTree(ws, spec);
  copyFileSync('/bin/true', path.join(ws, 'src/app/tool'));
  writeFileSync(path.join(ws, 'bom.yaml'), 'targets:\n  - target: /opt\n    copy:\n      - from: src\n        dirs: [app]\n  - target: /etc\n    copy:\n      - from: src\n        files: [conf.txt]\n');
  return ws;
}

const env = (ws: string, cache = path.join(ws, 'cache')) => ({ OCCLUM_BOM_CACHE_DIR: cache });
const build = (ws: string, root = 'image', cache?: string): Run => copyBom(ws, ['-f', 'bom.yaml', '--root', root], env(ws, cache));

/** The record's count of delta runs since its full run, with the record file's identity; 'none' without a record. */
function record(ws: string): { deltas: number; id: string } | 'none' {
  const dir = path.join(ws, 'cache');
  const f = readdirSync(dir).find((n) => n.endsWith('.rec'));
  if (!f) return 'none';
  const data = readFileSync(path.join(dir, f));
  const st = lstatSync(path.join(dir, f));
  return { deltas: (JSON.parse(data.subarray(0, data.indexOf(10)).toString()) as { deltas: number }).deltas, id: `${st.ino}:${st.mtimeMs}` };
}
const deltas = (ws: string) => {
  const r = record(ws);
  return r === 'none' ? -1 : r.deltas;
};

const manifestOf = (ws: string, root = 'image') => readFileSync(path.join(ws, `${root}.manifest.json`), 'utf8');

/** What a full run with no cache says and leaves: `rebuild` said the same, and the run changed nothing. */
function assertFullRunAgrees(ws: string, rebuild: Run): void {
  const tree = readTree(path.join(ws, 'image'), { dirMtimes: true });
  const manifest = manifestOf(ws);
  const full = copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], { OCCLUM_BOM_CACHE_DIR: '' });
  assert.deepEqual(rebuild, full);
  assert.deepEqual(readTree(path.join(ws, 'image'), { dirMtimes: true }), tree, 'a full run finds nothing to change');
  assert.equal(manifestOf(ws), manifest, 'a full run writes the same manifest');
  // And an image built from nothing is the same (but for the mtimes of directories made, not copied), its manifest too.
  const fresh = `fresh-${Date.now()}`;
  assert.equal(build(ws, fresh, '').code, 0);
  assert.deepEqual(readTree(path.join(ws, fresh)), readTree(path.join(ws, 'image')));
  const copied = (t: ReturnType<typeof readTree>) => Object.fromEntries(Object.entries(t).filter(([p]) => p.startsWith('opt/app')));
  assert.deepEqual(copied(readTree(path.join(ws, fresh), { dirMtimes: true })), copied(tree), 'the copied directories have their sources\' mtimes');
  assert.equal(manifestOf(ws, fresh), manifest);
  const verify = run('occlum-bom', ['verify', '--root', path.join(ws, 'image')]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
}

describe('a rebuild after a few plain files of a copied tree changed', () => {
  it('copies just them, and leaves what a full run leaves', async () => {
    const ws = workspace();
    await settle(ws);
    assert.equal(build(ws).code, 0);
    assert.equal(deltas(ws), 0, 'the cold run was recorded');

    // Two files rewritten with other sizes, one in a subdirectory, and one made executable.
    writeFileSync(path.join(ws, 'src/app/a.txt'), 'a, longer now\n');
    writeFileSync(path.join(ws, 'src/app/sub/c.txt'), 'c, longer too\n');
    chmodSync(path.join(ws, 'src/app/b.txt'), 0o700);
    const rebuild = build(ws);
    assert.equal(rebuild.code, 0, rebuild.stderr);
    assert.equal(deltas(ws), 1, 'a delta run');
    assert.equal(readFileSync(path.join(ws, 'image/opt/app/a.txt'), 'utf8'), 'a, longer now\n');
    assert.equal(lstatSync(path.join(ws, 'image/opt/app/b.txt')).mode & 0o777, 0o700);
    assertFullRunAgrees(ws, rebuild);
  });

  it('looks again at a file that changed within 2 s of the run, until it has settled; then the record holds', async () => {
    const ws = workspace();
    await settle(ws);
    build(ws);
    writeFileSync(path.join(ws, 'src/app/b.txt'), 'b, once\n');
    build(ws);
    writeFileSync(path.join(ws, 'src/app/b.txt'), 'b, twice\n'); // the same size and, maybe, the same mtime tick
    const again = build(ws);
    assert.equal(deltas(ws), 2, 'the changed file was looked at again: a second delta run');
    assert.equal(readFileSync(path.join(ws, 'image/opt/app/b.txt'), 'utf8'), 'b, twice\n');
    assertFullRunAgrees(ws, again);
    await settle(ws);
    build(ws);
    const kept = record(ws);
    assert.equal(deltas(ws), 3, 'once more, now that it has settled');
    const noop = build(ws);
    assert.deepEqual(record(ws), kept, 'then nothing changed: the record answers, untouched');
    assert.equal(noop.code, 0);
  });

  it('keeps the image file, as rsync does, when the source is rewritten with its old size and mtime (the manifest says what is there)', async () => {
    const ws = workspace();
    await settle(ws);
    build(ws);
    const src = path.join(ws, 'src/app/sub/c.txt');
    const mtime = execFileSync('stat', ['-c', '%.9Y', src], { encoding: 'utf8' }).trim(); // exact nanoseconds
    writeFileSync(src, 'C\n');
    execFileSync('touch', ['-m', '-d', `@${mtime}`, src]);
    const rebuild = build(ws);
    assert.equal(rebuild.code, 0);
    assert.equal(deltas(ws), 1);
    assert.equal(readFileSync(path.join(ws, 'image/opt/app/sub/c.txt'), 'utf8'), 'c\n');
    const verify = run('occlum-bom', ['verify', '--root', path.join(ws, 'image')]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const full = copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], { OCCLUM_BOM_CACHE_DIR: '' });
    assert.deepEqual(rebuild, full, 'a full run (quick check too) says the same');
  });
});

describe('a rebuild after any other change', () => {
  const CASES: { name: string; mutate: (ws: string) => void }[] = [
    { name: 'an ELF file replaced by another', mutate: (ws) => copyFileSync('/bin/false', path.join(ws, 'src/app/tool')) },
    { name: 'a plain file that became an ELF file', mutate: (ws) => copyFileSync('/bin/true', path.join(ws, 'src/app/a.txt')) },
    { name: 'a file added to a copied directory', mutate: (ws) => writeFileSync(path.join(ws, 'src/app/sub/new.txt'), 'new\n') },
    { name: 'a file given a second name (its copy would be shared)', mutate: (ws) => linkSync(path.join(ws, 'src/app/a.txt'), path.join(ws, 'src/a-again.txt')) },
    { name: 'an image file changed', mutate: (ws) => writeFileSync(path.join(ws, 'image/opt/app/b.txt'), 'edited in the image\n') },
    { name: 'the source of a `files` entry changed', mutate: (ws) => writeFileSync(path.join(ws, 'src/conf.txt'), 'conf, changed\n') },
    { name: 'more files changed than a delta run takes (64)', mutate: (ws) => readdirSync(path.join(ws, 'src/app/many')).forEach((n) => writeFileSync(path.join(ws, 'src/app/many', n), `${n} changed\n`)) },
    { name: 'the manifest touched', mutate: (ws) => utimesSync(path.join(ws, 'image.manifest.json'), new Date(), new Date()) },
  ];

  it('is a full run, which gives what a full run with no cache gives', async () => {
    const spaces = CASES.map(() => workspace());
    for (const ws of spaces) await settle(ws);
    for (const ws of spaces) assert.equal(build(ws).code, 0);
    CASES.forEach((c, i) => c.mutate(spaces[i]!));
    for (const ws of spaces) await settle(ws); // so that the full run keeps its record, and says so by `deltas`
    CASES.forEach((c, i) => {
      const ws = spaces[i]!;
      const before = record(ws);
      const rebuild = build(ws);
      assert.equal(rebuild.code, 0, `${c.name}: ${rebuild.stderr}`);
      const after = record(ws);
      assert.ok(after !== 'none' && before !== 'none' && after.id !== before.id && after.deltas === 0, `${c.name}: a full run, recorded`);
      assertFullRunAgrees(ws, rebuild);
    });
  });
});
