// Atomic writes (issue 8, point 2): copy_bom is killed with SIGKILL at random moments while
// it builds a large image, then run again to completion. The final image must be the one a
// single clean run builds (same tree: paths, types, modes, file mtimes, contents, link
// targets, and the same manifest digest) and no temporary file may be left behind. A kill
// during a rebuild over a complete image whose sources changed must leave every destination
// either the old file or the whole new one, never a partial file.
//
// The moments are drawn from a seeded generator: INTERRUPT_SEED=<n> replays a run (the seed
// is in every test name and failure message). Half of the kills land anywhere in the run
// (spawn to exit), half inside the copy phase (from the moment the image lock appears).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { readTree, repo, tmp, type Node } from './helpers.ts';

const SEED = Number(process.env.INTERRUPT_SEED ?? 0x5eed8);
const COPY_BOM = path.join(repo, 'bin', 'copy_bom.js');
/** Our temporary names: `.<name>.<8 hex>.tmp` in the destination directory. */
const TEMP = /^\..+\.[0-9a-f]{8}\.tmp$/;
const FRESH_KILLS = 6;
const REBUILD_KILLS = 3;

/** mulberry32: a small seeded PRNG, so that a failing sequence of kill moments can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);

/** Content of a fixture file: deterministic bytes of `size` from `tag`. */
function bytes(tag: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  const r = prng([...tag].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
  for (let i = 0; i < size; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** Fixed nanosecond-ish mtimes (the seconds and a fraction), so that reference and reruns agree on them. */
function stamp(p: string, i: number, link = false): void {
  if (link) return; // link mtimes are compared only through the tree (readTree does not read them)
  const t = 1_600_000_000 + i * 37 + 0.123456;
  utimesSync(p, t, t);
}

interface Fixture {
  /** Workspace holding src/ and every image root. */
  work: string;
  src: string;
  bom: string;
  /** Regular files of the tree, relative to src/tree, for the rebuild's changes. */
  treeFiles: string[];
  bigFiles: string[];
}

/**
 * src/tree: 2,000 files in nested directories (a dozen of 1-3 MB, the rest up to 4 KB), with
 * various modes, relative links (to files and to a directory), an absolute link leaving the
 * tree (copied as a file, rsync's --copy-unsafe-links) and fixed mtimes; src/files: single
 * files. The BOM copies the tree, single files (one renamed), /usr/bin/ls with its libraries
 * (autodep), makes directories and a link.
 */
function makeFixture(): Fixture {
  const work = tmp('occlum-bom-interrupt-');
  const src = path.join(work, 'src');
  const tree = path.join(src, 'tree');
  const treeFiles: string[] = [];
  const bigFiles: string[] = [];
  const modes = [0o644, 0o755, 0o600, 0o444, 0o640];
  let n = 0;
  for (let a = 0; a < 10; a++) {
    for (let b = 0; b < 10; b++) {
      const dir = b < 5 ? `d${a}/e${b}` : `d${a}/e${b}/f${b}`;
      mkdirSync(path.join(tree, dir), { recursive: true });
      for (let c = 0; c < 20; c++) {
        const rel = `${dir}/file${c}.dat`;
        const big = n % 167 === 11;
        const size = big ? 1_000_000 + (n % 3) * 1_000_000 : (n * 131) % 4096;
        writeFileSync(path.join(tree, rel), bytes(rel, size), { mode: modes[n % modes.length] });
        chmodSync(path.join(tree, rel), modes[n % modes.length]!);
        stamp(path.join(tree, rel), n);
        (big ? bigFiles : treeFiles).push(rel);
        n++;
      }
    }
  }
  for (let i = 0; i < 40; i++) symlinkSync(`../e${i % 5}/file${i % 20}.dat`, path.join(tree, `d${i % 10}/e${(i + 1) % 5}/link${i}`));
  symlinkSync('e1', path.join(tree, 'd0/dirlink'));
  writeFileSync(path.join(work, 'outside.txt'), 'outside the copied tree\n');
  stamp(path.join(work, 'outside.txt'), 9999);
  symlinkSync(path.join(work, 'outside.txt'), path.join(tree, 'd1/unsafe-link'));
  mkdirSync(path.join(src, 'files'), { recursive: true });
  for (let i = 0; i < 5; i++) {
    writeFileSync(path.join(src, 'files', `single${i}`), bytes(`single${i}`, 200_000 * (i + 1)), { mode: 0o755 });
    stamp(path.join(src, 'files', `single${i}`), 5000 + i);
  }
  // Directory mtimes last: the writes above changed them.
  const stampDirs = (d: string, i: number): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) stampDirs(path.join(d, e.name), i + 1);
    stamp(d, 7000 + i);
  };
  stampDirs(tree, 0);
  const bom = path.join(work, 'bom.yaml');
  writeFileSync(
    bom,
    [
      'targets:',
      '  - target: /',
      '    mkdirs: [tmp, var/log, opt/app/etc]',
      '    createlinks:',
      '      - {src: /opt/app/tree/d0, linkname: data}',
      '  - target: /opt/app',
      '    copy:',
      `      - from: ${src}`,
      '        dirs: [tree]',
      '  - target: /bin',
      '    copy:',
      '      - files:',
      '          - /usr/bin/ls',
      `      - from: ${src}/files`,
      '        files:',
      '          - single0',
      '          - single1',
      '          - single2',
      '          - {name: single3, rename: renamed3}',
      '          - {name: single4, autodep: false}',
      '',
    ].join('\n'),
  );
  return { work, src, bom, treeFiles, bigFiles };
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  /** Milliseconds from spawn to the moment the image lock appeared (the copy phase), if seen. */
  lockAt: number | null;
  stderr: string;
}

/**
 * Run copy_bom on `root`. With `kill`, SIGKILL it `kill.ms` milliseconds after spawn (`after:
 * 'spawn'`) or after the image lock appears (`after: 'lock'`, falling back to spawn when no
 * lock file is ever seen).
 */
function copyBom(fx: Fixture, root: string, kill?: { ms: number; after: 'spawn' | 'lock' }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [COPY_BOM, '-f', fx.bom, '--root', root], {
      cwd: path.dirname(root),
      env: { ...process.env, OCCLUM_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    let lockAt: number | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      if (killTimer === undefined) killTimer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, ms));
    };
    const lockFile = `${root.replace(/\/+$/, '')}.lock`;
    const poll = setInterval(() => {
      if (lockAt === null && existsSync(lockFile)) {
        lockAt = performance.now() - start;
        if (kill?.after === 'lock') arm(kill.ms);
      }
    }, 2);
    if (kill?.after === 'spawn') arm(kill.ms);
    // Without a lock file (another locking scheme), fall back to a moment counted from spawn.
    const fallback = kill?.after === 'lock' ? setTimeout(() => arm(0), kill.ms + 4000) : undefined;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`copy_bom on ${root} did not finish within 30 s (hang?)`));
    }, 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(killTimer);
      clearTimeout(fallback);
      clearTimeout(guard);
      resolve({ code, signal, ms: performance.now() - start, lockAt, stderr });
    });
  });
}

const isTemp = (rel: string) => TEMP.test(path.posix.basename(rel));

/** The tree without our temporary files, and those files' paths. */
function split(tree: Record<string, Node>): { content: Record<string, Node>; temps: string[] } {
  const content: Record<string, Node> = {};
  const temps: string[] = [];
  for (const [rel, node] of Object.entries(tree)) {
    if (isTemp(rel)) temps.push(rel);
    else content[rel] = node;
  }
  return { content, temps };
}

/** Directories that come from the copied tree keep the source's mtime: compare those too. */
function treeDirMtimes(root: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const base = path.join(root, 'opt/app/tree');
  if (!existsSync(base)) return out;
  for (const [rel, node] of Object.entries(readTree(base, { dirMtimes: true }))) {
    if (node.type === 'dir' && !isTemp(rel)) out[rel] = node.mtimeNs!;
  }
  return out;
}

function manifestDigest(root: string): string | undefined {
  const file = `${root}.manifest.json`;
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { digest?: string }).digest;
}

/** Leftovers beside the root (the lock, a temporary manifest). */
function besideRoot(root: string): string[] {
  const base = path.basename(root);
  return readdirSync(path.dirname(root)).filter((n) => n.startsWith(`${base}.`) && n !== `${base}.manifest.json`);
}

/** The paths of `tree` that differ from `ref` (missing, extra, or with other metadata/content). */
function differences(ref: Record<string, Node>, tree: Record<string, Node>): string[] {
  const out: string[] = [];
  for (const rel of new Set([...Object.keys(ref), ...Object.keys(tree)])) {
    const a = ref[rel];
    const b = tree[rel];
    if (!a) out.push(`extra ${rel}`);
    else if (!b) out.push(`missing ${rel}`);
    else if (JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) !== JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) {
      out.push(`differs ${rel}: ${a.type}/${a.mode.toString(8)}/${a.sha?.slice(0, 8) ?? a.target}/${a.mtimeNs} vs ${b.type}/${b.mode.toString(8)}/${b.sha?.slice(0, 8) ?? b.target}/${b.mtimeNs}`);
    }
  }
  return out.sort();
}

const show = (xs: string[], n = 8) => `${xs.slice(0, n).join('; ')}${xs.length > n ? `; ... (${xs.length} in all)` : ''}`;

describe(`copy_bom killed with SIGKILL and run again (INTERRUPT_SEED=${SEED})`, { timeout: 120_000 }, () => {
  let fx: Fixture;
  let ref: { root: string; tree: Record<string, Node>; dirs: Record<string, bigint>; digest: string | undefined; ms: number; copyMs: number };

  /** Every kill: what the killed run left, and the state after the rerun. */
  interface Kill {
    label: string;
    killedAt: string;
    killed: boolean;
    partial: string[];
    tempsAfterKill: number;
    rerun: Outcome;
    diff: string[];
    dirDiff: string[];
    temps: string[];
    beside: string[];
    digest: string | undefined;
  }
  const kills: Kill[] = [];
  const rebuilds: Kill[] = [];
  let refNew: typeof ref;

  before(async () => {
    fx = makeFixture();
    const root = path.join(fx.work, 'ref', 'image');
    mkdirSync(path.dirname(root));
    const r = await copyBom(fx, root);
    assert.equal(r.code, 0, `the clean reference build failed: ${r.stderr}`);
    ref = { root, tree: readTree(root), dirs: treeDirMtimes(root), digest: manifestDigest(root), ms: r.ms, copyMs: r.lockAt === null ? r.ms : r.ms - r.lockAt };
    assert.ok(Object.keys(ref.tree).length > 2000, `the reference image has ${Object.keys(ref.tree).length} entries`);
  });

  it('the reference image holds the tree, the files, the program and its libraries', (t) => {
    t.diagnostic(`clean run ${Math.round(ref.ms)} ms (copy phase ${Math.round(ref.copyMs)} ms), ${Object.keys(ref.tree).length} entries`);
    assert.equal(ref.tree['bin/ls']?.type, 'file');
    assert.equal(ref.tree['bin/renamed3']?.type, 'file');
    assert.ok(Object.keys(ref.tree).some((p) => /libc\.so\.6$/.test(p)), 'libc was copied for /bin/ls');
    assert.equal(ref.tree['opt/app/tree/d1/unsafe-link']?.type, 'file', 'the unsafe link was copied as a file');
    assert.equal(ref.tree['opt/app/tree/d0/dirlink']?.type, 'link');
    assert.deepEqual(split(ref.tree).temps, [], 'a clean run leaves no temporary file');
    assert.deepEqual(besideRoot(ref.root), [], 'a clean run leaves no lock or temporary manifest');
  });

  it(`${FRESH_KILLS} runs on a fresh root killed at random moments, then run again`, async (t) => {
    for (let i = 0; i < FRESH_KILLS; i++) {
      const root = path.join(fx.work, `kill${i}`, 'image');
      mkdirSync(path.dirname(root));
      const inCopy = i % 2 === 1;
      const ms = Math.floor(rand() * 0.85 * (inCopy ? ref.copyMs : ref.ms));
      const killedAt = inCopy ? `${ms} ms into the copy phase` : `${ms} ms after spawn`;
      const first = await copyBom(fx, root, { ms, after: inCopy ? 'lock' : 'spawn' });
      const killed = first.signal === 'SIGKILL';
      // Before the rerun: a destination is absent or complete, never partial.
      const partial: string[] = [];
      let tempsAfterKill = 0;
      if (existsSync(root)) {
        for (const [rel, node] of Object.entries(readTree(root))) {
          if (isTemp(rel)) tempsAfterKill++;
          else if (node.type === 'file' && ref.tree[rel]?.type === 'file' && node.sha !== ref.tree[rel]!.sha) partial.push(rel);
        }
      }
      const rerun = await copyBom(fx, root);
      const now = existsSync(root) ? readTree(root) : {};
      const { content, temps } = split(now);
      const dirs = treeDirMtimes(root);
      const dirDiff = Object.keys({ ...ref.dirs, ...dirs }).filter((d) => ref.dirs[d] !== dirs[d]);
      kills.push({ label: `kill ${i}`, killedAt, killed, partial, tempsAfterKill, rerun, diff: differences(ref.tree, content), dirDiff, temps, beside: besideRoot(root), digest: manifestDigest(root) });
      t.diagnostic(`kill ${i}: ${killedAt}: ${killed ? 'killed' : `finished first (exit ${first.code})`}; ${tempsAfterKill} temporary files left by the kill; rerun exit ${rerun.code} in ${Math.round(rerun.ms)} ms; ${temps.length} temporary files after the rerun`);
    }
    assert.ok(kills.filter((k) => k.killed).length >= FRESH_KILLS - 2, `most runs must really be killed: ${kills.map((k) => `${k.label} ${k.killed}`).join(', ')}`);
  });

  it('no destination is ever partial after a kill', () => {
    for (const k of kills) assert.deepEqual(k.partial, [], `${k.label} (${k.killedAt}) left partial files: ${show(k.partial)}`);
  });

  it('the rerun succeeds and builds the same image as one clean run (tree, modes, mtimes, contents, links)', () => {
    for (const k of kills) {
      assert.equal(k.rerun.code, 0, `${k.label}: rerun failed: ${k.rerun.stderr}`);
      assert.deepEqual(k.diff, [], `${k.label} (${k.killedAt}): the image differs from the reference: ${show(k.diff)}`);
      assert.deepEqual(k.dirDiff, [], `${k.label}: directory mtimes of the copied tree differ: ${show(k.dirDiff)}`);
    }
  });

  it('no temporary file (.<name>.<8 hex>.tmp) is left in the image after the rerun', () => {
    const left = kills.filter((k) => k.temps.length > 0).map((k) => `${k.label} (${k.killedAt}): ${show(k.temps, 4)}`);
    assert.deepEqual(left, [], `temporary files of the killed runs remain after the rerun: ${left.join(' | ')}`);
  });

  it('the manifest digest equals the clean run\'s', () => {
    for (const k of kills) {
      assert.equal(k.digest, ref.digest, `${k.label} (${k.killedAt}): manifest digest ${k.digest} vs reference ${ref.digest}${k.temps.length ? ` (the image holds ${k.temps.length} temporary files, which the manifest lists)` : ''}`);
    }
  });

  it('nothing is left beside the root after the rerun (lock, temporary manifest)', () => {
    for (const k of kills) assert.deepEqual(k.beside, [], `${k.label}: left beside the root: ${k.beside.join(', ')}`);
  });

  describe('a rebuild over a complete image whose sources changed', () => {
    let oldRoot: string;
    let changed: string[];

    before(async () => {
      // The complete old image (the reference), kept aside; now change the sources.
      oldRoot = ref.root;
      changed = [];
      for (const rel of [...fx.treeFiles.filter((_, i) => i % 7 === 0), ...fx.bigFiles]) {
        const p = path.join(fx.src, 'tree', rel);
        const old = statSync(p);
        writeFileSync(p, bytes(`${rel} v2`, old.size + 17));
        utimesSync(p, old.atime, new Date(old.mtimeMs + 86_400_000));
        changed.push(rel);
      }
      for (let i = 0; i < 5; i++) {
        const p = path.join(fx.src, 'files', `single${i}`);
        writeFileSync(p, bytes(`single${i} v2`, 150_000 * (i + 2)));
        stamp(p, 6000 + i);
      }
      const root = path.join(fx.work, 'ref-new', 'image');
      mkdirSync(path.dirname(root));
      const r = await copyBom(fx, root);
      assert.equal(r.code, 0, `the clean build of the changed sources failed: ${r.stderr}`);
      refNew = { root, tree: readTree(root), dirs: treeDirMtimes(root), digest: manifestDigest(root), ms: r.ms, copyMs: r.lockAt === null ? r.ms : r.ms - r.lockAt };
      // What a rebuild over the old image takes (for the kill moments).
      const probe = path.join(fx.work, 'rebuild-probe', 'image');
      mkdirSync(path.dirname(probe));
      cpa(oldRoot, probe);
      const p = await copyBom(fx, probe);
      assert.equal(p.code, 0, p.stderr);
      refNew.ms = p.ms;
      refNew.copyMs = p.lockAt === null ? p.ms : p.ms - p.lockAt;
    });

    it(`${REBUILD_KILLS} rebuilds killed at random moments: every file is the old or the new one, and the rerun gives the new image`, async (t) => {
      for (let i = 0; i < REBUILD_KILLS; i++) {
        const root = path.join(fx.work, `rebuild${i}`, 'image');
        mkdirSync(path.dirname(root));
        cpa(oldRoot, root);
        const inCopy = i !== 1;
        const ms = Math.floor(rand() * 0.85 * (inCopy ? refNew.copyMs : refNew.ms));
        const killedAt = inCopy ? `${ms} ms into the copy phase` : `${ms} ms after spawn`;
        const first = await copyBom(fx, root, { ms, after: inCopy ? 'lock' : 'spawn' });
        const partial: string[] = [];
        let tempsAfterKill = 0;
        for (const [rel, node] of Object.entries(readTree(root))) {
          if (isTemp(rel)) tempsAfterKill++;
          else if (node.type === 'file' && node.sha !== ref.tree[rel]?.sha && node.sha !== refNew.tree[rel]?.sha) partial.push(rel);
        }
        const rerun = await copyBom(fx, root);
        const { content, temps } = split(readTree(root));
        const dirs = treeDirMtimes(root);
        const dirDiff = Object.keys({ ...refNew.dirs, ...dirs }).filter((d) => refNew.dirs[d] !== dirs[d]);
        rebuilds.push({ label: `rebuild ${i}`, killedAt, killed: first.signal === 'SIGKILL', partial, tempsAfterKill, rerun, diff: differences(refNew.tree, content), dirDiff, temps, beside: besideRoot(root), digest: manifestDigest(root) });
        t.diagnostic(`rebuild ${i}: ${killedAt}: ${first.signal === 'SIGKILL' ? 'killed' : `finished first (exit ${first.code})`}; ${tempsAfterKill} temporary files left by the kill; rerun exit ${rerun.code}; ${temps.length} temporary files after the rerun`);
      }
      assert.ok(changed.length > 100);
      assert.ok(rebuilds.filter((k) => k.killed).length >= REBUILD_KILLS - 1, `most rebuilds must really be killed: ${rebuilds.map((k) => `${k.label} ${k.killed}`).join(', ')}`);
      for (const k of rebuilds) assert.deepEqual(k.partial, [], `${k.label} (${k.killedAt}): files that are neither the old nor the new one: ${show(k.partial)}`);
      for (const k of rebuilds) {
        assert.equal(k.rerun.code, 0, `${k.label}: rerun failed: ${k.rerun.stderr}`);
        assert.deepEqual(k.diff, [], `${k.label} (${k.killedAt}): the image differs from a clean build of the new sources: ${show(k.diff)}`);
        assert.deepEqual(k.dirDiff, [], `${k.label}: directory mtimes of the copied tree differ: ${show(k.dirDiff)}`);
        assert.deepEqual(k.beside, [], `${k.label}: left beside the root: ${k.beside.join(', ')}`);
      }
    });

    it('no temporary file is left in the image after the rerun of a killed rebuild', () => {
      const left = rebuilds.filter((k) => k.temps.length > 0).map((k) => `${k.label} (${k.killedAt}): ${show(k.temps, 4)}`);
      assert.deepEqual(left, [], `temporary files of the killed rebuilds remain after the rerun: ${left.join(' | ')}`);
    });

    it('the manifest digest after the rerun equals a clean build\'s of the new sources', () => {
      for (const k of rebuilds) {
        assert.equal(k.digest, refNew.digest, `${k.label} (${k.killedAt}): manifest digest ${k.digest} vs ${refNew.digest}${k.temps.length ? ` (the image holds ${k.temps.length} temporary files, which the manifest lists)` : ''}`);
      }
    });
  });

});

/** cp -a: the old image as a previous run left it (times to the nanosecond, links as links). */
function cpa(from: string, to: string): void {
  const r = spawnSync('cp', ['-a', from, to]);
  assert.equal(r.status, 0, `cp -a failed: ${r.stderr}`);
  if (existsSync(`${from}.manifest.json`)) spawnSync('cp', ['-a', `${from}.manifest.json`, `${to}.manifest.json`]);
}
