// The manifest of a run, from what the run placed in the image (src/apply.ts) instead of a
// second walk of it: every path an operation wrote or found unchanged, the directories above
// them, and what the directories this run did not make already held (listed, and walked
// only where a name is not the run's: what an earlier run or someone else put there). A file
// the quick check kept has the hash the last manifest gave it when its size and mtime are the
// same (the trust of the quick check itself); files without one are read. `verify` stays the
// full walk (src/manifest.ts scanImage), and the tests hold the two equal.
//
// Memory stays near the tree's own: one string a path (for the order of the manifest), and
// each entry made only while it is hashed into the digest or written out.
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, unlinkSync, writeSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import type { Applied, Placed } from './apply.js';
import { readTrusted } from './elf/cache.js';
import { cacheDir } from './resources.js';
import { describeFsError, Exit, formatWhere, UserError } from './errors.js';
import { countNames, LEFTOVER, UNCHANGED, type FileState, type TreeCopy } from './fsops/copy.js';
import { hashFile } from './fsops/hash.js';
import { DIR, FILE } from './fsops/tree.js';
import { decimalSeconds, setMtime } from './fsops/times.js';
import { contentLine, entryOnDisk, MANIFEST_VERSION, namesIn, octal, type Entry, type Manifest } from './manifest.js';
import { identity } from './inputs.js';
import { sink, writeAll, writeAtomically } from './output.js';
import { indicesOf, rangesAt } from './nul-list.js';
import { mapLimit } from './pool.js';
import { native } from './fsops/native.js';
import { resolved } from './plan/paths.js';

/** A tree row is placed index * ROWS + row; another operation's path placed index * ROWS. */
const ROWS = 2 ** 26;

/** Hashes of the files of the last manifest, sorted by path: what a file the quick check kept still holds. */
export interface KnownHashes {
  /** The SHA-256 the last manifest gave `p`, if it gave it this size and mtime. */
  hashOf(p: string, size: number, mtime: string): string | undefined;
}

export const noHashes: KnownHashes = { hashOf: () => undefined };

/** The known hashes of a parsed manifest. */
export function hashesOf(m: Manifest): KnownHashes {
  const files = m.entries.filter((e) => e.type === 'file' && typeof e.sha256 === 'string');
  return sortedHashes(
    files.map((e) => e.path),
    files.map((e) => `${e.size} ${e.mtime}`),
    (i) => files[i]!.sha256!,
  );
}

/** Lookups by binary search in `paths` (sorted as the manifest is). */
export function sortedHashes(paths: readonly string[], sizeMtime: readonly string[], sha: (i: number) => string): KnownHashes {
  // Lookups mostly come in path order: from the last one's place forward, else by bisection.
  let at = 0;
  return {
    hashOf(p, size, mtime) {
      if (at < paths.length && paths[at]! <= p) {
        while (at < paths.length && paths[at]! < p) at++;
      } else {
        let hi = at;
        at = 0;
        while (at < hi) {
          const mid = (at + hi) >>> 1;
          if (paths[mid]! < p) at = mid + 1;
          else hi = mid;
        }
      }
      return paths[at] === p && sizeMtime[at] === `${size} ${mtime}` ? sha(at) : undefined;
    },
  };
}

/** The paths of a run's image, sorted, with a way to make each one's entry. */
export interface RunImage {
  paths: string[];
  entry(i: number): Entry;
  isDir(i: number): boolean;
  /**
   * Path i when it is a file of a copied tree whose strings need no escape in JSON, as the
   * manifest writes it without an Entry (most of an image's paths); the object is reused by the
   * next call. Undefined for any other path.
   */
  fileRow(i: number): FileRow | undefined;
  /**
   * The files of one copied tree that follow one another from path i on (at most `most`), as
   * the addon writes their entries (native manifestRows writes what writeManifest writes of a
   * FileRow); undefined when path i is not one of them.
   */
  treeFiles(i: number, most: number): TreeFiles | undefined;
}

/** Files of a tree for native manifestRows. */
export interface TreeFiles {
  /** The path after the last of them. */
  end: number;
  /** Five numbers a path: its row, mode, size, mtime seconds and nanoseconds (never before 1970). */
  numbers: Float64Array;
  /** The tree copy's hashes, 32 bytes a row. */
  sha: Buffer;
  bom: string;
  /** A path's source is `srcPrefix` and the path from byte `cut` on. */
  cut: number;
  srcPrefix: string;
}

/** What the manifest says of a tree's file besides its path (`bom`: the BOM entry's place). */
export interface FileRow {
  mode: string;
  size: number;
  mtime: string;
  sha256: string;
  bom: string;
  source: string;
}

/** The image paths the run placed something at, and the directories above them. */
export interface Described {
  has(p: string): boolean;
  /** Whether a host path (under the root) was written or checked by this run. */
  placedHost(host: string): boolean;
}

/**
 * What the run left: `rootAbs` the real root; temporary files of a killed run found in
 * directories this run did not make are deleted. Hashes not known are read here. `before`
 * runs once the run's own paths are known and before the rest of the image is listed
 * (copy_bom --delete removes what no BOM describes any more there).
 */
export async function imageOfRun(rootAbs: string, applied: Applied, known: KnownHashes, before?: (described: Described) => void): Promise<RunImage> {
  const { placed, made } = applied;
  const image = (host: string) => (host === rootAbs ? '/' : host.slice(rootAbs.length));
  const own = placedInOrder(placed, image);
  const find = (p: string) => indexIn(own.paths, p);
  // Directories above what was placed that no operation names ("parent"). Below a tree's top
  // row, every row's directory is a row of the tree (placed).
  const implied = new Set<string>();
  own.paths.forEach((p, i) => {
    const ref = own.refs[i]!;
    const pl = placed[Math.floor(ref / ROWS)]!;
    if ('copy' in pl && pl.copy.tree.parent[ref % ROWS]! >= 0) return;
    for (let d = path.posix.dirname(p); p !== '/' && find(d) < 0 && !implied.has(d); d = path.posix.dirname(d)) implied.add(d);
  });

  const hostOf = (p: string) => (p === '/' ? rootAbs : rootAbs + p);
  const placedHosts = new Set<string>();
  before?.({
    has: (p) => find(p) >= 0 || implied.has(p),
    placedHost: (host) => {
      if (placedHosts.size === 0) for (const p of own.paths) placedHosts.add(hostOf(p));
      return placedHosts.has(host);
    },
  });

  // What directories this run did not make already held, beside what it placed there.
  const others = new Map<string, Entry>();
  const hashes: { entry: Entry; host: string; ref: number }[] = [];
  const restore: { host: string; mtimeNs: bigint }[] = [];
  const listed = (dir: string, host: string) => {
    let removed: BigIntStats | undefined;
    for (const name of namesIn(host)) {
      const child = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (find(child) >= 0 || implied.has(child)) continue;
      if (LEFTOVER.test(name) && !lstatSync(`${host}/${name}`).isDirectory()) {
        // A temporary file or link of a killed run: by that kind of name, not a directory, not put there by this run.
        removed ??= lstatSync(host, { bigint: true });
        unlinkSync(`${host}/${name}`);
      } else walkOther(child, `${host}/${name}`);
    }
    // The removal touched the directory: give it back the mtime it had.
    if (removed) restore.push({ host, mtimeNs: removed.mtimeNs });
  };
  const walkOther = (p: string, host: string) => {
    const entry = entryOnDisk(p, host);
    if (entry.type === 'file') {
      entry.sha256 = known.hashOf(p, entry.size!, entry.mtime!) ?? '';
      if (entry.sha256 === '') hashes.push({ entry, host, ref: -1 });
    }
    others.set(p, entry);
    if (entry.type === 'dir') listed(p, host);
  };
  own.paths.forEach((p, i) => {
    const ref = own.refs[i]!;
    const pl = placed[Math.floor(ref / ROWS)]!;
    const row = ref % ROWS;
    const isDir = 'copy' in pl ? pl.copy.tree.kind[row] === DIR : pl.op.kind === 'mkdir';
    const fresh = 'copy' in pl ? (pl.copy.tree.rel(row) === '' ? made.has(pl.copy.base) : pl.copy.made[row] === 1) : made.has(pl.host);
    if (isDir && !fresh && !onlyTreeRows(pl, row, hostOf(p))) listed(p, hostOf(p));
  });
  for (const p of implied) if (!made.has(hostOf(p))) listed(p, hostOf(p));
  for (const { host, mtimeNs } of restore) await setMtime(host, mtimeNs, false);

  // Every path of the image in path order, with its place in `placed` (-1: a directory above
  // them, or another's).
  const rest = [...implied, ...others.keys()].sort(); // strings: by UTF-16 code units, as `<` compares them
  const { paths, refs } = mergeRuns(own, { paths: rest, refs: rest.map(() => -1) });
  // Files kept by the quick check: the hash the last manifest gave them, else read now.
  const fileStates = new Map<string, FileState>(); // `files` entries and libraries, by image path
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    const ref = refs[i]!;
    if (ref < 0) continue;
    const pl = placed[Math.floor(ref / ROWS)]!;
    if ('copy' in pl) {
      const { copy } = pl;
      const row = ref % ROWS;
      if (copy.tree.kind[row] !== FILE || copy.state[row] !== UNCHANGED) continue;
      const sha = known.hashOf(p, copy.tree.size[row]!, copy.mtimeText(row));
      if (sha !== undefined) copy.setSha(row, sha);
      else hashes.push({ entry: { path: p } as Entry, host: copy.at(row), ref });
    } else if (pl.op.kind === 'file' || pl.op.kind === 'lib') {
      const state = { ...applied.stats.done.get(pl.host)! };
      state.sha256 ??= known.hashOf(p, state.size, decimalSeconds(state.mtimeNs));
      if (state.sha256 === undefined) hashes.push({ entry: { path: p } as Entry, host: pl.host, ref });
      fileStates.set(p, state);
    }
  }
  await mapLimit(hashes, 8, async ({ entry, host, ref }) => {
    const sha = await hashFile(host);
    if (ref < 0) {
      entry.sha256 = sha;
      return;
    }
    const pl = placed[Math.floor(ref / ROWS)]!;
    if ('copy' in pl) pl.copy.setSha(ref % ROWS, sha);
    else fileStates.get(entry.path)!.sha256 = sha;
  });
  // The tables go before the manifest is written.
  implied.clear();
  placedHosts.clear();

  const boms = new Map<Placed, string>();
  const bomOf = (pl: Placed) => {
    let b = boms.get(pl);
    if (b === undefined) boms.set(pl, (b = pl.op.where ? formatWhere({ ...pl.op.where, file: path.resolve(pl.op.where.file) }) : 'command line'));
    return b;
  };
  // A tree whose directory is named in normal form has its rows' sources in normal form too
  // (names from a listing hold no '/' and are never '.' or '..'): only its top is resolved.
  const normalTops = new Map<Placed, boolean>();
  const normalTop = (pl: Placed & { copy: TreeCopy }) => {
    let normal = normalTops.get(pl);
    if (normal === undefined) normalTops.set(pl, (normal = resolved(pl.copy.tree.dirPath(0)) === pl.copy.tree.dirPath(0)));
    return normal;
  };
  const sourceOf = (pl: Placed & { copy: TreeCopy }, row: number) => {
    const t = pl.copy.tree;
    return row !== 0 && normalTop(pl) ? t.src(row) : resolved(t.src(row));
  };
  const entry = (i: number): Entry => {
    const p = paths[i]!;
    const ref = refs[i]!;
    if (ref < 0) return others.get(p) ?? { path: p, type: 'dir', mode: octal(Number(lstatSync(hostOf(p)).mode)), from: 'parent' };
    const pl = placed[Math.floor(ref / ROWS)]!;
    if ('copy' in pl) {
      const { copy } = pl;
      const t = copy.tree;
      const row = ref % ROWS;
      const e = { path: p, type: 'dir' } as Entry;
      if (t.kind[row] === DIR) e.mode = octal(t.mode[row]!);
      else if (t.kind[row] === FILE) {
        e.type = 'file';
        e.mode = octal(t.mode[row]!);
        e.size = t.size[row]!;
        e.mtime = copy.mtimeText(row);
        e.sha256 = copy.shaOf(row);
      } else {
        e.type = 'link';
        e.target = t.target(row)!;
      }
      e.from = { bom: bomOf(pl), op: 'tree', source: sourceOf(pl, row) };
      return e;
    }
    const { op } = pl;
    const bom = bomOf(pl);
    switch (op.kind) {
      case 'mkdir':
        return { path: p, type: 'dir', mode: octal(Number(lstatSync(pl.host).mode)), from: { bom, op: op.dest === '' ? 'root' : 'mkdir' } };
      case 'link':
        return { path: p, type: 'link', target: op.target, from: { bom, op: 'link' } };
      case 'file':
      case 'lib': {
        const e = { path: p, type: 'file' } as Entry;
        fileFields(e, fileStates.get(p)!);
        e.from = op.kind === 'file' ? { bom, op: 'file', source: path.resolve(op.source) } : { bom, op: 'lib', source: path.resolve(op.source), neededBy: path.resolve(op.neededBy), rule: op.rule };
        return e;
      }
    }
  };
  // A tree row's strings are its BOM's place, the image directory and the tree's top joined to names of the tree.
  const plainTrees = new Map<Placed, boolean>();
  const plainTree = (pl: Placed & { copy: TreeCopy }) => {
    let known = plainTrees.get(pl);
    if (known === undefined) plainTrees.set(pl, (known = plainText(bomOf(pl) + pl.copy.base + pl.copy.tree.allText())));
    return known;
  };
  // The tree copy that placed path i (its row: refs[i] % ROWS), if one did.
  const copyAt = (i: number) => {
    const ref = refs[i]!;
    const pl = ref < 0 ? undefined : placed[Math.floor(ref / ROWS)]!;
    return pl && 'copy' in pl ? pl : undefined;
  };
  const row: FileRow = { mode: '', size: 0, mtime: '', sha256: '', bom: '', source: '' };
  const fileRow = (i: number) => {
    const pl = copyAt(i);
    if (!pl) return undefined;
    const { copy } = pl;
    const r = refs[i]! % ROWS;
    if (copy.tree.kind[r] !== FILE || !plainTree(pl)) return undefined;
    row.mode = octal(copy.tree.mode[r]!);
    row.size = copy.tree.size[r]!;
    row.mtime = copy.mtimeText(r);
    row.sha256 = copy.shaOf(r);
    row.bom = bomOf(pl);
    row.source = sourceOf(pl, r);
    return row;
  };
  // Files whose entries the addon writes: a tree's sources and image paths are its top's joined
  // to the same names, its strings need no escape, and the mtime is the source's, in 1970 or later.
  const byNames = new Map<Placed, { cut: number; srcPrefix: string } | null>();
  const namedAlike = (pl: Placed & { copy: TreeCopy }) => {
    let known = byNames.get(pl);
    if (known === undefined) {
      const t = pl.copy.tree;
      const top = t.dirPath(0);
      const row0 = pl.copy.topPath(image(pl.copy.base));
      known = plainTree(pl) && t.readAtNames && normalTop(pl) ? { cut: row0 === '/' ? 0 : row0.length, srcPrefix: top === '/' ? '' : top } : null;
      byNames.set(pl, known);
    }
    return known;
  };
  const nativeFile = (i: number) => {
    const pl = copyAt(i);
    if (!pl) return undefined;
    const { copy } = pl;
    const r = refs[i]! % ROWS;
    return r > 0 && copy.tree.kind[r] === FILE && copy.tree.mtimeSec[r]! >= 0 && !copy.mtimeNs.has(r) && namedAlike(pl) ? pl : undefined;
  };
  const treeFiles = (i: number, most: number): TreeFiles | undefined => {
    const pl = nativeFile(i);
    if (!pl) return undefined;
    let end = i + 1;
    while (end < paths.length && end - i < most && nativeFile(end) === pl) end++;
    const t = pl.copy.tree;
    const numbers = new Float64Array(5 * (end - i));
    for (let k = i, n = 0; k < end; k++, n += 5) {
      const r = refs[k]! % ROWS;
      numbers[n] = r;
      numbers[n + 1] = t.mode[r]!;
      numbers[n + 2] = t.size[r]!;
      numbers[n + 3] = t.mtimeSec[r]!;
      numbers[n + 4] = t.mtimeNsec[r]!;
    }
    return { end, numbers, sha: pl.copy.sha, bom: bomOf(pl), ...namedAlike(pl)! };
  };
  const isDir = (i: number) => {
    const ref = refs[i]!;
    if (ref < 0) return (others.get(paths[i]!)?.type ?? 'dir') === 'dir'; // not another's: a directory above
    const pl = placed[Math.floor(ref / ROWS)]!;
    return 'copy' in pl ? pl.copy.tree.kind[ref % ROWS] === DIR : pl.op.kind === 'mkdir';
  };
  return { paths, entry, isDir, fileRow, treeFiles };
}

/**
 * Whether a directory of a copied tree holds only the tree's rows: the copy put every one of
 * them there, so as many names as rows means no other name (and no leftover of a killed run).
 * Counted, not listed: a directory an earlier run filled is most of an incremental run's image.
 */
function onlyTreeRows(pl: Placed, row: number, host: string): boolean {
  if (!('copy' in pl)) return false;
  const range = pl.copy.tree.children.get(row);
  return range !== undefined && countNames(host) === range[1] - range[0];
}

/** Image paths in path order, and each one's place (ROWS). */
interface Run {
  paths: string[];
  refs: number[];
}

/**
 * Every path the operations placed, in path order (each tree's rows come in that order; the
 * other operations' paths are sorted), with its place. A path two operations placed is the
 * later one's.
 */
function placedInOrder(placed: readonly Placed[], image: (host: string) => string): Run {
  let runs: Run[] = [];
  const single: Run = { paths: [], refs: [] };
  placed.forEach((pl, p) => {
    if (!('copy' in pl)) {
      single.paths.push(image(pl.host));
      single.refs.push(p * ROWS);
      return;
    }
    const run: Run = { paths: [], refs: [] };
    pl.copy.imagePaths(image(pl.copy.base), (i, imagePath) => {
      run.paths.push(imagePath);
      run.refs.push(p * ROWS + i);
    });
    runs.push(run);
  });
  const ps = single.paths;
  const order = ps.map((_, k) => k).sort((a, b) => (ps[a]! < ps[b]! ? -1 : ps[a]! > ps[b]! ? 1 : a - b));
  const sorted: Run = { paths: [], refs: [] };
  for (const k of order) append(sorted, ps[k]!, single.refs[k]!);
  runs.push(sorted);
  // Two at a time, round after round: each path takes part in log2(runs) merges.
  while (runs.length > 1) {
    const next: Run[] = [];
    for (let k = 0; k < runs.length; k += 2) next.push(k + 1 < runs.length ? mergeRuns(runs[k]!, runs[k + 1]!) : runs[k]!);
    runs = next;
  }
  return runs[0]!;
}

/**
 * Two runs as one in path order; of a path in both, the later operation's place (the larger
 * ref). A few paths go into many by bisection (a tree of 200,000 rows and the directories
 * above it: no 200,000 comparisons).
 */
function mergeRuns(a: Run, b: Run): Run {
  if (a.paths.length < b.paths.length) [a, b] = [b, a];
  if (b.paths.length === 0) return a;
  const out: Run = { paths: [], refs: [] };
  if (b.paths.length * 64 < a.paths.length) {
    out.paths = a.paths.slice();
    out.refs = a.refs.slice();
    b.paths.forEach((p, k) => {
      const at = lowerBound(out.paths, p);
      if (out.paths[at] === p) out.refs[at] = Math.max(out.refs[at]!, b.refs[k]!);
      else {
        out.paths.splice(at, 0, p);
        out.refs.splice(at, 0, b.refs[k]!);
      }
    });
    return out;
  }
  let j = 0;
  a.paths.forEach((p, i) => {
    for (; j < b.paths.length && b.paths[j]! <= p; j++) append(out, b.paths[j]!, b.refs[j]!);
    append(out, p, a.refs[i]!);
  });
  for (; j < b.paths.length; j++) append(out, b.paths[j]!, b.refs[j]!);
  return out;
}

/** `p` at the end of a run made in path order; a path already there keeps the later operation's place (the larger ref). */
function append(run: Run, p: string, ref: number): void {
  const last = run.paths.length - 1;
  if (run.paths[last] === p) run.refs[last] = Math.max(run.refs[last]!, ref);
  else {
    run.paths.push(p);
    run.refs.push(ref);
  }
}

/** The first index whose path does not sort before `p` (sorted `paths`). */
function lowerBound(paths: readonly string[], p: string): number {
  let lo = 0;
  let hi = paths.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (paths[mid]! < p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of `p` in sorted `paths`, or -1. */
function indexIn(paths: readonly string[], p: string): number {
  const at = lowerBound(paths, p);
  return paths[at] === p ? at : -1;
}

/** A file's content fields in the order the manifest has always written them. */
function fileFields(e: Entry, state: FileState): void {
  e.mode = octal(state.mode);
  e.size = state.size;
  e.mtime = decimalSeconds(state.mtimeNs);
  e.sha256 = state.sha256!;
}


/**
 * A JSON value as JSON.stringify writes it. Most strings here hold no quote, backslash, control
 * character or surrogate, need no escape, and are quoted as they are; the others (a character
 * past the BMP among them) go through JSON.stringify.
 */
const PLAIN_TEXT = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
const plainText = (v: string) => PLAIN_TEXT.test(v);
const json = (v: unknown) => (typeof v === 'string' && plainText(v) ? `"${v}"` : JSON.stringify(v));

/**
 * An entry as JSON.stringify(manifest, null, 1) writes it inside the entries array (the keys
 * in the order entries are made with), without its machinery: a fifth of the time.
 */
function entryText(e: Entry): string {
  let text = `  {\n   "path": ${json(e.path)},\n   "type": "${e.type}"`;
  if (e.mode !== undefined) text += `,\n   "mode": "${e.mode}"`;
  if (e.size !== undefined) text += `,\n   "size": ${e.size}`;
  if (e.mtime !== undefined) text += `,\n   "mtime": "${e.mtime}"`;
  if (e.sha256 !== undefined) text += `,\n   "sha256": "${e.sha256}"`;
  if (e.target !== undefined) text += `,\n   "target": ${json(e.target)}`;
  const from = e.from;
  if (from === null || typeof from === 'string') return `${text},\n   "from": ${json(from)}\n  }`;
  text += `,\n   "from": {\n    "bom": ${json(from.bom)},\n    "op": "${from.op}"`;
  if (from.source !== undefined) text += `,\n    "source": ${json(from.source)}`;
  if (from.neededBy !== undefined) text += `,\n    "neededBy": ${json(from.neededBy)}`;
  if (from.rule !== undefined) text += `,\n    "rule": ${json(from.rule)}`;
  return `${text}\n   }\n  }`;
}


/** The text before the entries, with the digest's place: the digest is written there once the entries are. */
const HEAD = (digest: string) => `{\n "version": ${MANIFEST_VERSION},\n "digest": ${JSON.stringify(digest)},\n "entries": [`;

/**
 * What says a manifest's text is unchanged: the SHA-256 of its digest and of the SHA-256 of
 * its text after the head (the entries), as the writer hashes them while it writes.
 */
export function manifestKey(text: string, digest: string): string {
  const body = text.slice(HEAD(digest).length);
  return createHash('sha256').update(`${digest}\n${createHash('sha256').update(body).digest('hex')}`).digest('hex');
}

/**
 * What the index of a manifest holds besides its header: the lines its digest hashes, and its
 * files in path order: each path, and `<size> <mtime>`, ended by NUL; 32 bytes of SHA-256 each.
 * A run writes each section to a temporary file beside the index as the manifest is written
 * (17 MB for 200,000 files, not held while memory peaks); a delta run has them in memory.
 */
export interface IndexSections<S extends Section = Section> {
  lines: S;
  paths: S;
  sizeMtime: S;
  sha: S;
  count: number;
}

type Section = Spool | Buffer;

/** At most this many files' entries are made by one call of the addon (a megabyte or two of text). */
const NATIVE_ROWS = 4096;

/**
 * Write the manifest as `serialize` would (src/manifest.ts), in one pass over the entries
 * (the digest, which comes first in the text, is written into its place at the end),
 * through a temporary file beside `file`, renamed into place unless its key (manifestKey) is
 * `unchangedKey` (a run that changes nothing leaves the file alone). Returns the digest, the
 * key and the sections of the index, written to temporary files as the manifest is (null
 * without a cache directory).
 */
export function writeManifest(file: string, img: RunImage, unchangedKey: string | undefined): { digest: string; key: string; index: IndexSections | null } {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const index = sectionsTemp(file);
  const content = createHash('sha256');
  const body = createHash('sha256');
  const placeholder = `sha256:${'0'.repeat(64)}`;
  const head = HEAD(placeholder);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', 0o644);
    writeSync(fd, head);
    const out = sink((bytes) => {
      body.update(bytes);
      writeAll(fd!, bytes);
    });
    const contentLines = sink((bytes) => {
      content.update(bytes);
      if (index) spoolBytes(index.lines, bytes);
    });
    const filePaths = index ? sink((bytes) => spoolBytes(index.paths, bytes)) : undefined;
    const sizeMtime = index ? sink((bytes) => spoolBytes(index.sizeMtime, bytes)) : undefined;
    // The hashes as hex text, decoded a megabyte at a time (a flush ends between two of them): 200,000 decodings cost more.
    const shaHex = index ? sink((hex) => spoolBytes(index.sha, Buffer.from(hex.toString('latin1'), 'hex'))) : undefined;
    let scratch = Buffer.alloc(0); // what the addon writes entries into, used again for each part
    const indexed = (p: string, size: number, mtime: string, sha256: string) => {
      filePaths!(`${p}\0`);
      sizeMtime!(`${size} ${mtime}\0`);
      shaHex!(sha256);
      index!.count++;
    };
    for (let i = 0; i < img.paths.length; i++) {
      const files = native && img.treeFiles(i, NATIVE_ROWS);
      if (files) {
        const joined = img.paths.slice(i, files.end).join('\0');
        const write = () => native!.manifestRows(joined, files.numbers, files.sha, files.bom, files.cut, files.srcPrefix, i === 0, scratch);
        let ends = write();
        if (typeof ends === 'number') {
          scratch = Buffer.allocUnsafe(ends);
          ends = write() as number[];
        }
        const section = (k: number) => scratch.subarray(k ? ends[k - 1] : 0, ends[k]);
        out(section(0));
        contentLines(section(1));
        if (index) {
          filePaths!(section(2));
          sizeMtime!(section(3));
          shaHex!(null);
          spoolBytes(index.sha, section(4));
          index.count += files.end - i;
        }
        i = files.end - 1;
        continue;
      }
      const f = img.fileRow(i);
      if (f) {
        // What contentLine and entryText write of such an entry, as one string each.
        const p = img.paths[i]!;
        contentLines(`${p}\tfile\t${f.mode}\t${f.size}\t${f.sha256}\t\n`);
        out(
          `${i ? ',' : ''}\n  {\n   "path": "${p}",\n   "type": "file",\n   "mode": "${f.mode}",\n   "size": ${f.size},\n   "mtime": "${f.mtime}",\n   "sha256": "${f.sha256}",\n   "from": {\n    "bom": "${f.bom}",\n    "op": "tree",\n    "source": "${f.source}"\n   }\n  }`,
        );
        if (index) indexed(p, f.size, f.mtime, f.sha256);
        continue;
      }
      const e = img.entry(i);
      contentLines(`${contentLine(e)}\n`);
      out(`${i ? ',' : ''}\n${entryText(e)}`);
      if (index && e.type === 'file' && e.sha256) indexed(e.path, e.size!, e.mtime!, e.sha256);
    }
    out(img.paths.length ? '\n ]\n}\n' : ']\n}\n');
    for (const end of [out, contentLines, filePaths, sizeMtime, shaHex]) end?.(null);
    if (index) for (const section of spools(index)) closeSpool(section);
    const digest = `sha256:${content.digest('hex')}`;
    writeSync(fd, digest, head.indexOf(placeholder));
    closeSync(fd);
    fd = undefined;
    const key = createHash('sha256').update(`${digest}\n${body.digest('hex')}`).digest('hex');
    if (key === unchangedKey) unlinkSync(tmp);
    else renameSync(tmp, file);
    return { digest, key, index };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    if (index) for (const section of spools(index)) dropSpool(section);
    try {
      unlinkSync(tmp);
    } catch {
      // never made, or already renamed
    }
    throw new UserError(`cannot write ${file}: ${describeFsError(e)}`, Exit.copyFile);
  }
}

/*
 * The manifest's index, kept in the cache directory: its files' paths, sizes, mtimes and
 * hashes as the next run needs them, without parsing a JSON document of 60 MB (1.4 s and 150
 * MB for 200,000 files). Trusted only while the manifest file is the one it was made from
 * (same device, inode, size, mtime and ctime): a manifest edited, replaced or touched is
 * parsed instead. A NUL-ended JSON header, then the paths, then `<size> <mtime>` of each
 * (each ended by NUL), then 32 bytes of SHA-256 each. Beside it (`.lines`), the lines the
 * manifest's digest hashes, so that a delta run (src/delta.ts) makes the digest again without
 * a walk or a parse.
 */
const INDEX_VERSION = 3;

interface IndexHeader {
  version: number;
  manifest: string;
  key: string;
  count: number;
  paths: number;
  meta: number;
  /** The bytes of the lines file. */
  lines: number;
}

/** The index and its lines file; undefined without a cache directory. */
function indexFiles(manifestFile: string, env: NodeJS.ProcessEnv): { index: string; lines: string } | undefined {
  const dir = cacheDir(env);
  if (dir === '') return undefined;
  const index = path.join(dir, `man-${createHash('sha256').update(path.resolve(manifestFile)).digest('hex').slice(0, 16)}.idx`);
  return { index, lines: `${index}.lines` };
}

/** A section of an index being written, in a temporary file beside the index. */
interface Spool {
  tmp: string;
  fd?: number;
  bytes: number;
}

/** Temporary files for the sections of the index of a manifest about to be written; null without a (writable) cache directory. */
function sectionsTemp(manifestFile: string): IndexSections<Spool> | null {
  const files = indexFiles(manifestFile, process.env);
  if (!files) return null;
  const made: Spool[] = [];
  const spool = (name: string): Spool => {
    const tmp = `${files.index}.${name}.${process.pid}.tmp`;
    made.push({ tmp, fd: openSync(tmp, 'w', 0o600), bytes: 0 });
    return made.at(-1)!;
  };
  try {
    mkdirSync(path.dirname(files.index), { recursive: true, mode: 0o700 });
    return { lines: spool('lines'), paths: spool('paths'), sizeMtime: spool('meta'), sha: spool('sha'), count: 0 };
  } catch {
    for (const s of made) dropSpool(s);
    return null; // a read-only cache: no index
  }
}

const isSpool = (s: Section): s is Spool => !Buffer.isBuffer(s);
const spools = (index: IndexSections): Spool[] => [index.lines, index.paths, index.sizeMtime, index.sha].filter(isSpool);
const sectionBytes = (s: Section) => (isSpool(s) ? s.bytes : s.length);

function spoolBytes(s: Spool, bytes: Buffer): void {
  s.bytes += writeAll(s.fd!, bytes);
}

function closeSpool(s: Spool): void {
  if (s.fd !== undefined) closeSync(s.fd);
  s.fd = undefined;
}

function dropSpool(s: Spool): void {
  closeSpool(s);
  rmSync(s.tmp, { force: true });
}

/** A section's bytes appended at the descriptor's position: a spool's copied a megabyte at a time. */
function appendSection(fd: number, s: Section): void {
  if (!isSpool(s)) {
    writeAll(fd, s);
    return;
  }
  const from = openSync(s.tmp, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(from, buf, 0, buf.length, null)) > 0; ) writeAll(fd, buf.subarray(0, n));
  } finally {
    closeSync(from);
  }
}

/** The index as stored: its header and sections, the lines file's bytes; undefined when there is none to trust. */
export function readIndexFile(manifestFile: string, env: NodeJS.ProcessEnv = process.env): { header: IndexHeader; paths: Buffer; sizeMtime: Buffer; sha: Buffer; lines: () => Buffer | undefined } | undefined {
  const files = indexFiles(manifestFile, env);
  const data = files ? readTrusted(files.index) : null;
  const end = data?.indexOf(0) ?? -1;
  if (!files || !data || end < 0) return undefined;
  try {
    const header = JSON.parse(data.subarray(0, end).toString()) as IndexHeader;
    const st = lstatSync(manifestFile, { bigint: true, throwIfNoEntry: false });
    if (header.version !== INDEX_VERSION || !st || identity(st) !== header.manifest) return undefined;
    let at = end + 1;
    const paths = data.subarray(at, (at += header.paths));
    const sizeMtime = data.subarray(at, (at += header.meta));
    const sha = data.subarray(at);
    if (sha.length !== 32 * header.count) return undefined;
    const lines = () => {
      const bytes = readTrusted(files.lines);
      return bytes?.length === header.lines ? bytes : undefined;
    };
    return { header, paths, sizeMtime, sha, lines };
  } catch {
    return undefined; // damaged: the manifest is parsed instead
  }
}

/** What the last run's manifest holds, from its index; undefined when there is none to trust. */
export function readIndex(manifestFile: string, env: NodeJS.ProcessEnv = process.env): { known: KnownHashes; key: string } | undefined {
  const index = readIndexFile(manifestFile, env);
  if (!index) return undefined;
  const paths = index.paths.toString().split('\0');
  const sizeMtime = index.sizeMtime.toString().split('\0');
  const { count } = index.header;
  if (paths.length !== count + 1 || sizeMtime.length !== count + 1) return undefined;
  return { known: sortedHashes(paths, sizeMtime, (i) => index.sha.toString('hex', 32 * i, 32 * i + 32)), key: index.header.key };
}

/**
 * Keep the index of the manifest just written (or left alone): the lines of its digest renamed
 * into place (or written), the index written whole through a temporary name; the temporary
 * files of the sections are removed in any case. A failure only costs the next run a parse.
 */
export function writeIndex(manifestFile: string, key: string, index: IndexSections | null, env: NodeJS.ProcessEnv = process.env): void {
  const where = indexFiles(manifestFile, env);
  try {
    if (!where || !index) return;
    const st = lstatSync(manifestFile, { bigint: true });
    const { count, lines, paths, sizeMtime, sha } = index;
    const header: IndexHeader = { version: INDEX_VERSION, manifest: identity(st), key, count, paths: sectionBytes(paths), meta: sectionBytes(sizeMtime), lines: sectionBytes(lines) };
    mkdirSync(path.dirname(where.index), { recursive: true, mode: 0o700 });
    if (isSpool(lines)) renameSync(lines.tmp, where.lines);
    else writeAtomically(where.lines, lines, 0o600);
    const tmp = `${where.index}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, Buffer.from(`${JSON.stringify(header)}\0`));
      for (const section of [paths, sizeMtime, sha]) appendSection(fd, section);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, where.index);
  } catch {
    // a read-only cache: the next run parses the manifest
  } finally {
    if (index) for (const section of spools(index)) dropSpool(section); // nothing left behind
    if (where) rmSync(`${where.index}.${process.pid}.tmp`, { force: true });
  }
}

/** A manifest entry replaced: where its text is in the manifest, what it said and says now. */
export interface EntryChange {
  start: number;
  end: number;
  was: Entry;
  now: Entry;
}

/**
 * The one entry of a manifest's text whose provenance is the tree row copied from `source`,
 * and where its text is; undefined unless there is exactly one (a file copied twice is the
 * full run's).
 */
export function treeEntryOf(text: Buffer, source: string): { start: number; end: number; entry: Entry } | undefined {
  const tail = `\n    "source": ${json(source)}\n   }\n  }`;
  const at = text.indexOf(tail);
  if (at < 0 || text.indexOf(tail, at + 1) >= 0) return undefined;
  const start = text.lastIndexOf('\n  {\n', at) + 1;
  const end = at + tail.length;
  const entry = JSON.parse(text.toString('utf8', start, end)) as Entry;
  return typeof entry.from === 'object' && entry.from?.op === 'tree' && entry.from.source === source ? { start, end, entry } : undefined;
}

/**
 * A manifest's text with entries replaced, made from the old text and its index instead of a
 * walk: the digest from the index's lines with the changed entries' lines replaced (the old
 * lines are checked against the old digest first), the key, the index's files with the new
 * sizes, mtimes and hashes. Undefined when the index does not hold what the text says.
 * Nothing is written.
 */
export function patchedManifest(text: Buffer, index: NonNullable<ReturnType<typeof readIndexFile>>, changes: readonly EntryChange[]): { pieces: Buffer[]; digest: string; key: string; index: IndexSections } | undefined {
  // The digest (`sha256:` and 64 hex) where HEAD puts it; the text must start with HEAD of it.
  const empty = HEAD('');
  const digestAt = empty.indexOf('"digest": "') + '"digest": "'.length;
  const old = text.toString('latin1', digestAt, digestAt + 71);
  const head = Buffer.from(HEAD(old));
  const lines = index.lines();
  if (!text.subarray(0, head.length).equals(head) || !lines) return undefined;
  if (`sha256:${createHash('sha256').update(lines).digest('hex')}` !== old) return undefined;
  // Each changed entry's content line, its size and mtime in the index, its hash there.
  const sorted = [...changes].sort((a, b) => a.start - b.start);
  const lineEdits: [number, number, string][] = [];
  const metaEdits: [number, number, string][] = [];
  const sha = Buffer.from(index.sha);
  for (const c of sorted) {
    const line = Buffer.from(`${contentLine(c.was)}\n`);
    const at = lines.indexOf(line);
    if (at < 0 || (at > 0 && lines[at - 1] !== 10) || lines.indexOf(line, at + 1) >= 0) return undefined;
    lineEdits.push([at, at + line.length, `${contentLine(c.now)}\n`]);
    const [k = -1] = indicesOf(index.paths, [c.was.path]); // the index's paths are unique
    const field = k < 0 ? undefined : rangesAt(index.sizeMtime, [k])[0];
    if (!field || index.sizeMtime.toString('utf8', ...field) !== `${c.was.size} ${c.was.mtime}` || index.sha.toString('hex', 32 * k, 32 * k + 32) !== c.was.sha256) return undefined;
    metaEdits.push([...field, `${c.now.size} ${c.now.mtime}`]);
    sha.write(c.now.sha256!, 32 * k, 'hex');
  }
  const newLines = Buffer.concat(spliced(lines, lineEdits.sort((a, b) => a[0] - b[0])));
  const digest = `sha256:${createHash('sha256').update(newLines).digest('hex')}`;
  const pieces = [Buffer.from(HEAD(digest)), ...spliced(text, sorted.map((c) => [c.start, c.end, entryText(c.now)] as [number, number, string]), head.length)];
  const body = createHash('sha256');
  for (const p of pieces.slice(1)) body.update(p);
  const key = createHash('sha256').update(`${digest}\n${body.digest('hex')}`).digest('hex');
  const sizeMtime = Buffer.concat(spliced(index.sizeMtime, metaEdits.sort((a, b) => a[0] - b[0])));
  return { pieces, digest, key, index: { lines: newLines, paths: index.paths, sizeMtime, sha, count: index.header.count } };
}

/** `bytes` from `from` on with the ranges [start, end) replaced by the texts (ranges sorted, not overlapping). */
function spliced(bytes: Buffer, edits: readonly [number, number, string][], from = 0): Buffer[] {
  const out: Buffer[] = [];
  let at = from;
  for (const [start, end, text] of edits) {
    out.push(bytes.subarray(at, start), Buffer.from(text));
    at = end;
  }
  out.push(bytes.subarray(at));
  return out;
}
