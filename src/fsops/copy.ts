// The writes: files (temporary name, metadata, then rename, so a destination is always
// either the old file or the whole new one), links, and directory trees as rsync -a
// leaves them. Nothing here follows a link inside the destination.
import { constants, lstatSync, readlinkSync, statSync, type BigIntStats } from 'node:fs';
import { chmod, copyFile, lchown, mkdir, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Meta, TreeEntry } from './tree.js';
import { mapLimit } from '../pool.js';
import { hashFile } from './hash.js';
import { sameMtime, setMtime } from './times.js';

/** rsync -a as root also keeps owners; as anyone else it cannot. */
const keepOwner = process.getuid?.() === 0;

export interface CopyStats {
  files: number;
  unchanged: number;
  bytes: number;
  /** SHA-256 of each file written, by host path: hashed while the bytes are in the page cache. */
  written: Map<string, string>;
}

export const newStats = (): CopyStats => ({ files: 0, unchanged: 0, bytes: 0, written: new Map() });

/** `.<name>.copy_bom.<8 hex>.tmp` beside the destination: distinctive, so leftovers of a killed run can be recognised. */
function tempName(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.copy_bom.${randomBytes(4).toString('hex')}.tmp`);
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
  const old = lstatOrNull(dest);
  if (old?.isFile() && Number(old.size) === meta.size && sameMtime(old.mtimeNs, meta.mtimeNs)) {
    // Content is taken as unchanged; the permission bits and owner still follow the source.
    await setMeta(dest, meta, false, old);
    stats.unchanged++;
    return;
  }
  if (old?.isDirectory()) throw Object.assign(new Error(`${dest} is a directory`), { code: 'EISDIR' });
  const tmp = tempName(dest);
  try {
    await copyFile(src, tmp, constants.COPYFILE_FICLONE);
    const now = statSync(src, { bigint: true });
    const written = lstatSync(tmp, { bigint: true });
    if (Number(now.size) !== meta.size || now.mtimeNs !== meta.mtimeNs || Number(written.size) !== meta.size) {
      throw new CopyCheckError(`${src} changed while it was being copied (run again to copy it as it is now)`, 'changed');
    }
    const actual = await hashFile(tmp);
    if (sha256 !== undefined && actual !== sha256) {
      throw new CopyCheckError(`the bytes copied from ${src} have SHA-256 ${actual.toUpperCase()}, not ${sha256.toUpperCase()}`, 'hash');
    }
    await setMeta(tmp, meta, false);
    await rename(tmp, dest);
    stats.written.set(dest, actual);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  stats.files++;
  stats.bytes += meta.size;
}

/** Create or replace a symlink (an existing directory there is an error, as for rsync and upstream). */
export async function makeLink(dest: string, target: string, meta?: Meta): Promise<void> {
  const old = lstatOrNull(dest);
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

/** A real directory at `dest`: anything else there (a file, a link) is replaced, as rsync does. */
async function ensureDir(dest: string): Promise<void> {
  const old = lstatOrNull(dest);
  if (old?.isDirectory()) return;
  if (old) await unlink(dest);
  await mkdir(dest);
}


const PARALLEL_COPIES = 16;

/**
 * Apply scanned entries under `base` (a real directory inside the image): directories
 * top-down, then files in parallel, then links, then directory metadata bottom-up so
 * that the writes inside do not disturb the directories' mtimes.
 */
export async function copyTree(entries: readonly TreeEntry[], base: string, stats: CopyStats): Promise<void> {
  const dirs = entries.filter((e) => e.kind === 'dir');
  for (const d of dirs) if (d.rel !== '') await ensureDir(path.join(base, d.rel));
  await mapLimit(
    entries.filter((e) => e.kind === 'file'),
    PARALLEL_COPIES,
    (f) => copyFileAtomic(f.src, path.join(base, f.rel), f, stats),
  );
  for (const l of entries) if (l.kind === 'link') await makeLink(path.join(base, l.rel), l.target!, l);
  for (const d of [...dirs].reverse()) {
    const p = path.join(base, d.rel);
    await setMeta(p, d, false, lstatOrNull(p) ?? undefined);
  }
}
