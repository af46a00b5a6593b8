// The writes: files (temporary name, metadata, then rename, so a destination is always
// either the old file or the whole new one), links, and directory trees as rsync -a
// leaves them. Nothing here follows a link inside the destination.
import { constants, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, type BigIntStats } from 'node:fs';
import { chmod, copyFile, lchown, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { DIR, FILE, type Meta, type Tree } from './tree.js';
import { inParts, mapLimit } from '../pool.js';
import { hashFile } from './hash.js';
import { native } from './native.js';
import { decimalSeconds, exactTimes, sameMtime, setMtime, splitNs } from './times.js';

/** rsync -a as root also keeps owners; as anyone else it cannot. */
const keepOwner = process.getuid?.() === 0;

/** A regular file as this run left it (permission bits only in `mode`). */
export interface FileState {
  mode: number;
  size: number;
  mtimeNs: bigint;
  /** For a file written: its SHA-256, taken as the bytes were written. */
  sha256?: string;
}

export interface CopyStats {
  files: number;
  /** Files made a second name of a copy this run wrote of the same host file. */
  linked: number;
  unchanged: number;
  bytes: number;
  /** Every regular file of a `files` entry or a library this run wrote or checked, by host path (trees keep theirs: TreeCopy). */
  done: Map<string, FileState>;
  /** The inodes among `shared`'s identities: a tree's row needs its identity made only when its inode is one of them. */
  sharedInos: Set<string>;
  /**
   * Host files (by identity) the plan copies to more than one image path: null until this run
   * writes one of them, then the copy written (undefined if it failed).
   */
  shared: Map<string, Promise<Written | undefined> | null>;
}

interface Written {
  dest: string;
  state: FileState;
}

/** `repeated`: the identities of host files the plan copies more than once (they become one file in the image). */
export const newStats = (repeated: Iterable<string> = []): CopyStats => ({
  files: 0,
  linked: 0,
  unchanged: 0,
  bytes: 0,
  done: new Map(),
  shared: new Map(Array.from(repeated, (id) => [id, null])),
  sharedInos: new Set(Array.from(repeated, inodeOf)),
});

/** `dev:ino` of an identity (`dev:ino:size:mtime:ctime`, tree.ts identity), as sharedInos keeps it. */
const inodeOf = (identity: string) => identity.split(':', 2).join(':');

/**
 * `.<name>.copy_bom.<8 hex>.tmp` beside the destination: distinctive, so leftovers of a killed
 * run can be recognised. `~` stands for a name too long to fit (names have 255 bytes at most).
 */
let tempCounter = randomBytes(4).readUInt32BE();
function tempName(dest: string): string {
  tempCounter = (tempCounter + 1) >>> 0;
  const name = path.basename(dest);
  return path.join(path.dirname(dest), `.${Buffer.byteLength(name) > 200 ? '~' : name}.copy_bom.${tempCounter.toString(16).padStart(8, '0')}.tmp`);
}

export const LEFTOVER = /^\..+\.copy_bom\.[0-9a-f]{8}\.tmp$/;

/** The destination as it is now. Synchronous: on an unchanged image this is the whole run. */
function lstatOrNull(p: string): BigIntStats | null {
  return lstatSync(p, { bigint: true, throwIfNoEntry: false }) ?? null;
}

/** Owner, permission bits and mtime as the source's, touching only what differs from `now`. */
async function setMeta(p: string, meta: Meta, isLink: boolean, now?: BigIntStats): Promise<void> {
  const ownerDiffers = !now || Number(now.uid) !== meta.uid || Number(now.gid) !== meta.gid;
  if (keepOwner && ownerDiffers) await lchown(p, meta.uid, meta.gid); // before chmod: chown clears set-id bits
  if (!isLink && (!now || ownerDiffers || (Number(now.mode) & 0o7777) !== (meta.mode & 0o7777))) await chmod(p, meta.mode & 0o7777);
  if (!now || !sameMtime(now.mtimeNs, meta.mtimeNs)) await setMtime(p, meta.mtimeNs, isLink);
}

/** A copy that must not be put in place: the source changed under us, or the bytes are not the pinned ones. */
export class CopyCheckError extends Error {
  constructor(
    message: string,
    readonly reason: 'changed' | 'hash',
  ) {
    super(message);
  }
}

/**
 * Copy a regular file unless the destination already has its size and mtime (rsync's quick
 * check). `meta` is the source as scanned: if the source no longer matches it after the copy,
 * it changed while being copied and the half-new copy is thrown away. With `sha256`, the bytes
 * written are checked, not just the source read earlier.
 */
export async function copyFileAtomic(src: string, dest: string, meta: Meta, stats: CopyStats, sha256?: string): Promise<void> {
  const kept = await keepIfUnchanged(dest, meta, stats);
  if (kept) stats.done.set(dest, kept);
  else stats.done.set(dest, await writeFile(src, dest, meta, stats, sha256));
}

/**
 * rsync's quick check: a regular file with the source's size and mtime keeps its content
 * (its owner and mode still follow the source); anything else but a directory is replaced.
 */
async function keepIfUnchanged(dest: string, meta: Meta, stats: CopyStats): Promise<FileState | undefined> {
  const old = lstatOrNull(dest);
  if (old?.isDirectory()) {
    removeEmptyDir(dest);
    return undefined;
  }
  if (!old?.isFile() || Number(old.size) !== meta.size || !sameMtime(old.mtimeNs, meta.mtimeNs)) return undefined;
  await setMeta(dest, meta, false, old);
  stats.unchanged++;
  return { mode: meta.mode & 0o7777, size: meta.size, mtimeNs: old.mtimeNs };
}

const isDirectory = (dest: string) => Object.assign(new Error(`${dest} is a directory`), { code: 'EISDIR', path: dest });

/** A directory where a file goes: removed when empty, as rsync does; one with something in it is an error. */
function removeEmptyDir(dest: string): void {
  try {
    rmdirSync(dest);
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST' ? isDirectory(dest) : e;
  }
}

/**
 * Write `dest`. A host file that this run already copied elsewhere in the image (one inode
 * under two names on the host, or a library copied again at the path its loader names) gets
 * a hard link to that copy, as `cp -a` and `rsync -H` keep hard links: the same content,
 * mode, owner and mtime, and no bytes written twice.
 */
async function writeFile(src: string, dest: string, meta: Meta, stats: CopyStats, sha256?: string): Promise<FileState> {
  const id = meta.identity;
  const first = id === undefined ? undefined : stats.shared.get(id);
  if (first) {
    const copy = await first;
    if (copy && (sha256 === undefined || copy.state.sha256 === sha256) && linkCopy(copy, dest, stats)) return copy.state;
  }
  const written = copyBytes(src, dest, meta, stats, sha256);
  if (first === null) stats.shared.set(id!, written.then((state) => ({ dest, state }), () => undefined));
  return written;
}

/** Errors of link(2) that only mean "copy instead": another file system under the image, a link limit, no hard links there. */
const LINK_REFUSED = new Set(['EXDEV', 'EMLINK', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * `dest` as a second name of `copy` (temporary name, then rename, as for a copy). False when
 * the file system refuses, or `copy` is no longer the file this run wrote.
 */
function linkCopy(copy: Written, dest: string, stats: CopyStats): boolean {
  const tmp = tempName(dest);
  try {
    linkSync(copy.dest, tmp);
  } catch (e) {
    if (LINK_REFUSED.has((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
  try {
    const st = lstatSync(tmp, { bigint: true });
    const { size, mtimeNs, mode } = copy.state;
    if (!st.isFile() || Number(st.size) !== size || st.mtimeNs !== mtimeNs || (Number(st.mode) & 0o7777) !== mode) {
      unlinkSync(tmp);
      return false;
    }
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true }); // left only by a failure, or by a rename onto a name of the same file (which does nothing)
  }
  stats.linked++;
  return true;
}

/**
 * The copy itself, to a temporary name renamed over `dest` once content and metadata are
 * complete: the destination is always absent, the old file or the whole new one.
 */
async function copyBytes(src: string, dest: string, meta: Meta, stats: CopyStats, sha256?: string): Promise<FileState> {
  const tmp = tempName(dest);
  let actual: string;
  if (native) {
    // One trip to the thread pool: read, hash, write, owner, mode, mtime, check, rename.
    const [sec, nsec] = splitNs(meta.mtimeNs);
    actual = await native.copy(src, tmp, dest, meta.size, sec, nsec, meta.mode, meta.uid, meta.gid, keepOwner, sha256 ?? '').catch((e: NodeJS.ErrnoException) => {
      throw checkError(e, src, sha256);
    });
  } else {
    try {
      await copyFile(src, tmp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      const now = statSync(src, { bigint: true });
      const written = lstatSync(tmp, { bigint: true });
      if (Number(now.size) !== meta.size || now.mtimeNs !== meta.mtimeNs || Number(written.size) !== meta.size) throw changed(src);
      actual = await hashFile(tmp);
      if (sha256 !== undefined && actual !== sha256) throw wrongHash(src, actual, sha256);
      await setMeta(tmp, meta, false);
      await rename(tmp, dest);
    } catch (e) {
      // EEXIST: the name was taken by someone else, whose file stays.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }
  // Node's utimes (no addon) lands near the source's mtime, not on it: then it is read back.
  return wrote(meta, actual, stats, exactTimes ? meta.mtimeNs : lstatSync(dest, { bigint: true }).mtimeNs);
}

const changed = (src: string) => new CopyCheckError(`${src} changed while it was being copied (run again to copy it as it is now)`, 'changed');
const wrongHash = (src: string, actual: string, expected: string) =>
  new CopyCheckError(`the bytes copied from ${src} have SHA-256 ${actual.toUpperCase()}, not ${expected.toUpperCase()}`, 'hash');

/** The addon's refusals (ECHANGED, EHASH: the message is the digest read) as CopyCheckErrors; other errors as they are. */
function checkError(e: NodeJS.ErrnoException, src: string, sha256?: string): Error {
  return e.code === 'ECHANGED' ? changed(src) : e.code === 'EHASH' ? wrongHash(src, e.message, sha256!) : e;
}

/** A file this run wrote, as it left it, counted. */
function wrote(meta: Meta, sha256: string, stats: CopyStats, mtimeNs = meta.mtimeNs): FileState {
  stats.files++;
  stats.bytes += meta.size;
  return { mode: meta.mode & 0o7777, size: meta.size, mtimeNs, sha256 };
}

/** The addon's flag on a copy's mode: nothing is at the destination (native/fs.c, copyBatch). */
const FRESH = 0x10000;

/** A batch of the addon's: at most this many files or (unless one file is more) bytes. */
const BATCH_FILES = 64;
const BATCH_BYTES = 8 << 20;

/**
 * A tree's rows copied in batches of the addon's, one trip to the thread pool each, largest
 * first. None of them is a host file the plan copies more than once.
 */
async function copyRows(rows: readonly number[], out: TreeCopy, stats: CopyStats): Promise<void> {
  const t = out.tree;
  const batches: number[][] = [];
  let bytes = Infinity;
  for (const i of rows) {
    if (bytes + t.size[i]! > BATCH_BYTES || batches.at(-1)!.length === BATCH_FILES) {
      batches.push([]);
      bytes = 0;
    }
    batches.at(-1)!.push(i);
    bytes += t.size[i]!;
  }
  await mapLimit(batches, PARALLEL_COPIES, async (batch) => {
    let jobs = '';
    const numbers = new Float64Array(6 * batch.length);
    batch.forEach((i, k) => {
      const dest = out.at(i);
      // In a directory this run made nothing is at the destination: the addon may link the file
      // in whole (FRESH), and names a temporary file itself only if it cannot.
      const fresh = out.inMade(i);
      jobs += `${t.src(i)}\0${fresh ? '' : tempName(dest)}\0${dest}\0\0`;
      const n = 6 * k;
      numbers[n] = t.size[i]!;
      numbers[n + 1] = t.mtimeSec[i]!;
      numbers[n + 2] = t.mtimeNsec[i]!;
      numbers[n + 3] = t.mode[i]! | (fresh ? FRESH : 0);
      numbers[n + 4] = t.uid[i]!;
      numbers[n + 5] = t.gid[i]!;
    });
    const digests = await native!.copyBatch(Buffer.from(jobs), numbers, batch.length, keepOwner).catch((e: NodeJS.ErrnoException & { index?: number }) => {
      throw checkError(e, t.src(batch[e.index ?? 0]!));
    });
    batch.forEach((i, k) => {
      out.setSha(i, digests.subarray(33 * k, 33 * k + 32));
      out.head[i] = digests[33 * k + 32]!;
      stats.files++;
      stats.bytes += t.size[i]!;
    });
  });
}

/** TreeCopy.head of a file row. */
export const HEAD_PLAIN = 1;
export const HEAD_ELF = 2;

/**
 * Offer the files tree copies wrote as the first copies of host files that copies planned
 * after them will write (`identities`): each such later copy (a library found once the trees
 * were copied) becomes a hard link to the tree's file, as it does when one plan has both
 * (repeatedSources in src/apply.ts).
 */
export function shareWritten(copies: readonly TreeCopy[], identities: Iterable<string>, stats: CopyStats): void {
  const wanted = new Map(Array.from(identities, (id) => [inodeOf(id), id]));
  if (wanted.size === 0) return;
  for (const copy of copies) {
    const t = copy.tree;
    for (let i = 0; i < t.length; i++) {
      if (t.kind[i] !== FILE || copy.state[i] !== WRITTEN) continue;
      const inode = `${t.dev[i]}:${t.ino[i]}`;
      const id = wanted.get(inode);
      if (id === undefined || t.identity(i) !== id || stats.shared.get(id)) continue;
      const state = { mode: t.mode[i]! & 0o7777, size: t.size[i]!, mtimeNs: copy.mtimeNs.get(i) ?? t.mtimeNs(i), sha256: copy.shaOf(i) };
      stats.shared.set(id, Promise.resolve({ dest: copy.at(i), state }));
      stats.sharedInos.add(inode);
    }
  }
}

/** TreeCopy.shaOf decodes the hashes of 2^HEX_ROWS_LOG rows at a time. */
const HEX_ROWS_LOG = 10;

/** A row's state in a TreeCopy. */
export const UNTOUCHED = 0;
export const UNCHANGED = 1;
export const WRITTEN = 2;

/** What a tree copy left in the image, by row of its tree. */
export class TreeCopy {
  /** UNCHANGED (the quick check kept it: no digest yet) or WRITTEN (digest in `sha`) for files. */
  readonly state: Uint8Array;
  /** The SHA-256 of each file written, 32 bytes a row. */
  readonly sha: Buffer;
  /** The image file's mtime where it is not the source's (Node's utimes, without the addon). */
  readonly mtimeNs = new Map<number, bigint>();
  /** Directory rows this run made (they held nothing before). */
  readonly made: Uint8Array;
  /**
   * What the addon's copy of a file row read first: HEAD_ELF the ELF magic, HEAD_PLAIN not,
   * 0 not known (not copied by the addon, or a first read of fewer than four bytes).
   */
  readonly head: Uint8Array;

  /** `base`: the real directory in the image the tree's rows go into. */
  constructor(
    readonly tree: Tree,
    readonly base: string,
  ) {
    this.state = new Uint8Array(tree.length);
    this.sha = Buffer.alloc(32 * tree.length);
    this.made = new Uint8Array(tree.length);
    this.head = new Uint8Array(tree.length);
  }

  /** The host path of a row in the image. */
  at(i: number): string {
    const rel = this.tree.rel(i);
    return rel === '' ? this.base : `${this.base}/${rel}`;
  }

  /** Whether a row's directory was made by this run (so nothing is in its place). */
  inMade(i: number): boolean {
    const p = this.tree.parent[i]!;
    return p >= 0 && this.made[p] === 1;
  }

  /** Record what a copy (or the quick check) left at row i. */
  set(i: number, state: FileState): void {
    if (state.sha256 === undefined) this.state[i] = UNCHANGED;
    else this.setSha(i, state.sha256);
    if (state.mtimeNs !== this.tree.mtimeNs(i)) this.mtimeNs.set(i, state.mtimeNs);
  }

  /** The SHA-256 of a file row as its copy, the last manifest or a read found it (in hex, or its 32 bytes). */
  setSha(i: number, sha256: string | Uint8Array): void {
    if (typeof sha256 === 'string') this.sha.write(sha256, 32 * i, 'hex');
    else this.sha.set(sha256, 32 * i);
    this.state[i] = WRITTEN;
    if (i >> HEX_ROWS_LOG === this.hexBlock) this.hexBlock = -1;
  }

  /**
   * A row's SHA-256 in hex, cut from the hex of its block of rows: one decoding 1,024 rows
   * instead of one a row (the manifest asks for them in nearly row order).
   */
  shaOf(i: number): string {
    const block = i >> HEX_ROWS_LOG;
    if (block !== this.hexBlock) {
      this.hex = this.sha.toString('hex', 32 * (block << HEX_ROWS_LOG), Math.min(this.sha.length, 32 * ((block + 1) << HEX_ROWS_LOG)));
      this.hexBlock = block;
    }
    const at = 64 * (i - (block << HEX_ROWS_LOG));
    return this.hex.slice(at, at + 64);
  }

  private hexBlock = -1;
  private hex = '';

  /** The image file's mtime as the manifest writes it (`sec.nsec`). */
  mtimeText(i: number): string {
    const sec = this.tree.mtimeSec[i]!;
    const other = this.mtimeNs.get(i);
    if (other !== undefined || sec < 0) return decimalSeconds(other ?? this.tree.mtimeNs(i));
    return `${sec}.${String(this.tree.mtimeNsec[i]).padStart(9, '0')}`;
  }

  /** The image path of row 0 (`base`: the image path of the tree's directory). */
  topPath(base: string): string {
    const name = this.tree.rel(0);
    return name === '' ? base : base === '/' ? `/${name}` : `${base}/${name}`;
  }

  /** Each row's image path (`base`: the image path of the tree's directory), in path order (Tree.pathOrder). */
  imagePaths(base: string, fn: (i: number, imagePath: string) => void): void {
    const t = this.tree;
    // Each directory's path with its slash, made once: a file's path is then one concatenation
    // (one cons string of 32 bytes, where `${up}/${name}` makes two).
    const dirs = new Map<number, string>();
    for (const i of t.pathOrder()) {
      const parent = t.parent[i]!;
      const p = parent < 0 ? this.topPath(base) : dirs.get(parent)! + t.names[i]!;
      if (t.kind[i] === DIR) dirs.set(i, p === '/' ? p : `${p}/`);
      fn(i, p);
    }
  }
}

/**
 * Create or replace a symlink (an existing directory there is an error, as for rsync and
 * upstream). `absent`: its directory was made by this run, so nothing is there.
 */
export async function makeLink(dest: string, target: string, meta?: Meta, absent = false): Promise<void> {
  const old = absent ? null : lstatOrNull(dest);
  if (old?.isSymbolicLink() && readlinkSync(dest) === target) return meta ? setMeta(dest, meta, true, old) : undefined;
  if (old?.isDirectory()) {
    // rsync removes an empty directory in the way; a full one is an error.
    await rmdir(dest);
  }
  const tmp = tempName(dest);
  await symlink(target, tmp);
  try {
    if (meta) await setMeta(tmp, meta, true);
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * A real directory at `dest`: anything else there (a file, a link) is replaced, as rsync does.
 * `absent`: its parent was made by this run, so nothing is there. True when it was made.
 * Synchronous: nothing else is in flight while a tree's directories are made.
 */
function ensureDir(dest: string, absent: boolean): boolean {
  if (!absent) {
    const old = lstatOrNull(dest);
    if (old?.isDirectory()) return false;
    if (old) unlinkSync(dest);
  }
  mkdirSync(dest);
  return true;
}

/**
 * Copies in flight: four per core. A copy of a small file mostly waits (creating the inode,
 * renaming it into place), so one per core leaves the cores idle; on the 2-core machine of the
 * README's benchmark 8 beat 2 and 4 in each of three interleaved rounds (copy phase 1.9-3.4 s
 * against 2.5-4.1 s), and 16 spent twice the kernel time of 1 on lock contention. A batch of
 * the addon's counts as one: its files are copied one after the other.
 */
const PARALLEL_COPIES = 4 * availableParallelism();

/**
 * Copy `items` in parallel, largest first, so that no big file is left copying alone at the
 * end. A second name of a host file whose first copy is among them waits for it outside the
 * pool, then becomes a hard link, instead of holding a place in the pool while it waits.
 */
export async function copyMany<T>(
  items: readonly T[],
  metaOf: (item: T) => Pick<Meta, 'size' | 'identity'>,
  stats: CopyStats,
  copy: (item: T) => Promise<void>,
): Promise<void> {
  const firsts: T[] = [];
  const seconds: T[] = [];
  const seen = new Set<string>();
  const metas = new Map(items.map((item) => [item, metaOf(item)]));
  for (const item of [...items].sort((a, b) => metas.get(b)!.size - metas.get(a)!.size)) {
    const id = metas.get(item)!.identity;
    if (id !== undefined && stats.shared.has(id) && (seen.has(id) || stats.shared.get(id) !== null)) seconds.push(item);
    else firsts.push(item);
    if (id !== undefined) seen.add(id);
  }
  await mapLimit(firsts, PARALLEL_COPIES, copy);
  await mapLimit(seconds, PARALLEL_COPIES, copy);
}

/** Quick checks in flight at once: the thread pool has four threads, two cores share them. */
const CHECK_PARTS = 4;

/**
 * rsync's quick check of the file rows whose directory this run did not make: UNCHANGED in
 * `out.state` for those kept; the others are returned, to be copied.
 */
async function quickCheck(rows: readonly number[], out: TreeCopy, stats: CopyStats): Promise<number[]> {
  const t = out.tree;
  const copy: number[] = [];
  if (!native) {
    for (const i of rows) {
      const kept = await keepIfUnchanged(out.at(i), t.meta(i), stats);
      if (kept) out.set(i, kept);
      else copy.push(i);
    }
    return copy;
  }
  const parts = inParts(rows, CHECK_PARTS);
  const answers = await Promise.all(
    parts.map((part) => {
      const numbers = new Float64Array(6 * part.length);
      part.forEach((i, k) => {
        numbers[6 * k] = t.size[i]!;
        numbers[6 * k + 1] = t.mtimeSec[i]!;
        numbers[6 * k + 2] = t.mtimeNsec[i]!;
        numbers[6 * k + 3] = t.mode[i]!;
        numbers[6 * k + 4] = t.uid[i]!;
        numbers[6 * k + 5] = t.gid[i]!;
      });
      return native!.quickCheck(Buffer.from(part.map((i) => out.at(i)).join('\0')), numbers, keepOwner).catch((e: NodeJS.ErrnoException & { index?: number }) => {
        throw Object.assign(e, { path: out.at(part[e.index ?? 0]!) });
      });
    }),
  );
  parts.forEach((part, p) =>
    part.forEach((i, k) => {
      const answer = answers[p]![k];
      if (answer === 2) {
        removeEmptyDir(out.at(i));
        copy.push(i);
      } else if (answer === 0) {
        out.state[i] = UNCHANGED;
        stats.unchanged++;
      } else copy.push(i);
    }),
  );
  return copy;
}

/**
 * The first row of `tree` that is a file or a link where the image (the tree copied under
 * `base`) holds a directory that is not empty: rsync cannot put it there, and copy_bom deletes
 * no directory with something in it. Read only, before anything is written: from the top, only
 * through directories the image already has, and only their subdirectories are looked at (one
 * listing a directory, no stat a file). An empty directory in the way is replaced, as rsync does.
 */
export function typeConflict(tree: Tree, base: string): { row: number; dest: string } | undefined {
  if (tree.length === 0) return undefined;
  const top = tree.rel(0) === '' ? base : path.join(base, tree.rel(0));
  if (tree.kind[0] !== DIR) return lstatOrNull(top)?.isDirectory() && countNames(top) > 0 ? { row: 0, dest: top } : undefined;
  const todo: [number, string][] = [[0, top]];
  while (todo.length > 0) {
    const [row, host] = todo.pop()!;
    let names: string[];
    try {
      names = native ? native.subdirs(host) : readdirSync(host, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      continue; // not a directory (yet): nothing of the image in the way below it
    }
    if (names.length === 0) continue;
    const range = tree.children.get(row);
    if (!range) continue;
    const byName = new Map<string, number>();
    for (let c = range[0]; c < range[1]; c++) byName.set(tree.names[c]!, c);
    for (const name of names) {
      const c = byName.get(name);
      if (c === undefined) continue;
      const dest = path.join(host, name);
      if (tree.kind[c] === DIR) todo.push([c, dest]);
      else if (countNames(dest) > 0) return { row: c, dest };
    }
  }
  return undefined;
}

/** How many names a directory holds, as readdir gives them (`.` and `..` not counted). */
export const countNames = (dir: string): number => (native ? native.countNames(dir) : readdirSync(dir).length);

/**
 * Apply a scanned tree under `base` (a real directory inside the image): directories
 * top-down, then files in parallel with the links, then directory metadata bottom-up so
 * that the writes inside do not disturb the directories' mtimes. Below a directory this
 * call made, nothing needs a look first.
 */
export async function copyTree(tree: Tree, base: string, stats: CopyStats): Promise<TreeCopy> {
  const out = new TreeCopy(tree, base);
  const dirs: number[] = [];
  const files: number[] = [];
  const links: number[] = [];
  for (let i = 0; i < tree.length; i++) (tree.kind[i] === DIR ? dirs : tree.kind[i] === FILE ? files : links).push(i);
  for (const d of dirs) if (tree.rel(d) !== '' && ensureDir(out.at(d), out.inMade(d))) out.made[d] = 1;
  // The quick check of every file first, then only the copies, so that the checks (cheap)
  // do not queue behind the copies (many, on the thread pool).
  const copies = [...files.filter((i) => out.inMade(i)), ...(await quickCheck(files.filter((i) => !out.inMade(i)), out, stats))];
  copies.sort((a, b) => tree.size[b]! - tree.size[a]!);
  // A host file the plan copies more than once goes through copyMany, which makes its other names hard links.
  const shared = (i: number) => stats.sharedInos.has(`${tree.dev[i]}:${tree.ino[i]}`) && stats.shared.has(tree.identity(i));
  const plain = native ? copies.filter((i) => !shared(i)) : [];
  const others = native ? copies.filter(shared) : copies;
  const write = async (i: number) => out.set(i, await writeFile(tree.src(i), out.at(i), tree.meta(i), stats));
  const makeLinks = async () => {
    for (const l of links) await makeLink(out.at(l), tree.target(l)!, tree.meta(l), out.inMade(l));
  };
  const done = await Promise.allSettled([
    copyRows(plain, out, stats),
    copyMany(others, (i) => ({ size: tree.size[i]!, identity: shared(i) ? tree.identity(i) : undefined }), stats, write),
    makeLinks(),
  ]);
  for (const r of done) if (r.status === 'rejected') throw r.reason;
  for (const d of dirs.reverse()) {
    const p = out.at(d);
    await setMeta(p, tree.meta(d), false, lstatOrNull(p) ?? undefined);
  }
  return out;
}
