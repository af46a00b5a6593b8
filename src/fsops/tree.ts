// Scan a source directory the way `rsync -ar --copy-unsafe-links --exclude=...` sees it,
// before anything is written: the entries to create, with their metadata.
// Synchronous on purpose: a walk is thousands of metadata calls that the page cache
// answers in microseconds, where each promise round trip costs ten times the call.
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats, type Dirent } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { identity } from '../elf/cache.js';
import type { ExcludeMatcher } from './exclude.js';
import type { Inputs } from '../record.js';

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  /** For a regular file: device, inode, size, mtime and ctime as scanned (src/elf/cache.ts). */
  identity?: string;
}

export interface TreeEntry extends Meta {
  /** Path inside the destination directory ('' is the destination itself). */
  rel: string;
  kind: 'dir' | 'file' | 'link';
  /** Host path to read: the entry itself, or the path through an unsafe link that was followed. */
  src: string;
  /** Link target, for kind 'link'. */
  target?: string;
}

export function metaOf(st: BigIntStats): Meta {
  return { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), mtimeNs: st.mtimeNs };
}

/** A regular file's metadata with its identity: two copies of one identity may be one file in the image. */
export function fileMetaOf(st: BigIntStats): Meta {
  return { ...metaOf(st), identity: identity(st) };
}

/**
 * rsync's unsafe_symlink(): a link is unsafe when it is absolute or empty, when it has a `..`
 * other than in a run at its start or ends in `/..` (rsync 3.4.0 on, CVE-2024-12088: `a/../x`
 * leaves the tree once `a` is replaced by a link), or when its `..` steps climb above the top
 * of the transfer, counting from the link's own directory (`name` is the link's path relative
 * to the transfer root).
 */
export function unsafeSymlink(target: string, name: string): boolean {
  if (target === '' || target.startsWith('/')) return true;
  let rest = target;
  while (rest.startsWith('../')) rest = rest.slice(3).replace(/^\/+/, '');
  if (rest.includes('/../') || (target.length > 3 && target.endsWith('/..'))) return true;
  let depth = 0;
  const nameParts = name.split('/').filter((p) => p !== '');
  for (const part of nameParts.slice(0, -1)) {
    if (part === '..') depth = 0;
    else if (part !== '.') depth++;
  }
  if (nameParts.at(-1) === '..') depth = 0;
  const targetParts = target.split('/');
  const last = targetParts.pop()!;
  for (const part of targetParts) {
    if (part === '') continue;
    if (part === '..') {
      if (--depth < 0) return true;
    } else if (part !== '.') depth++;
  }
  if (last === '..') depth--;
  return depth < 0;
}

/**
 * The names in `dir` that are not UTF-8, as bytes. Names are handled as text, and Node reads
 * such a name back as another (U+FFFD in place of each bad byte); `names` are the directory's
 * names as Node read them: it is read again only when one of them has a U+FFFD.
 */
export function namesNotUtf8(dir: string, names: readonly (string | Dirent)[]): Buffer[] {
  if (!names.some((n) => (typeof n === 'string' ? n : n.name).includes('\uFFFD'))) return [];
  return readdirSync(dir, { encoding: 'buffer' }).filter((raw) => !isUtf8(raw));
}

/** The scan stops at a name (or link target) that is not UTF-8, rather than copy the wrong file or none. */
function notUtf8(raw: Buffer, what: string): Error {
  const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  return new Error(`${what}${shown} is not UTF-8, and copy_bom copies only names that are: rename it`);
}

export interface ScanResult {
  entries: TreeEntry[];
  warnings: string[];
}

/**
 * `source` is the directory named in the BOM. With a trailing slash (or a last part `.` or
 * `..`) its contents go into the destination (and the directory's own mode and mtime go onto
 * it, as rsync's "." entry); without, the directory itself is the one entry at the top.
 * `inputs` gets every path looked at.
 */
export async function scanTree(source: string, exclude: ExcludeMatcher, inputs?: Inputs): Promise<ScanResult> {
  const entries: TreeEntry[] = [];
  const warnings: string[] = [];
  // rsync copies the contents when the name ends in '/', '.' or '..' (no directory can be given those names).
  const contentsOnly = /(^|\/)(\.\.?)?$/.test(source);
  // Directories being walked, by device and inode: an unsafe link back to one of them
  // would make rsync recurse without end; we stop and say so.
  const walking = new Set<string>();

  const walkDir = (hostDir: string, rel: string, st: BigIntStats) => {
    const id = `${st.dev}:${st.ino}`;
    walking.add(id);
    const names = readdirSync(hostDir);
    const bad = namesNotUtf8(hostDir, names)[0];
    if (bad) throw notUtf8(bad, `${hostDir}/`);
    for (const name of names.sort()) {
      const host = path.join(hostDir, name);
      visit(host, rel ? `${rel}/${name}` : name, look('L', host));
    }
    walking.delete(id);
  };

  const visit = (host: string, rel: string, st: BigIntStats) => {
    if (st.isSymbolicLink()) {
      const target = readlinkSync(host);
      if (target.includes('\uFFFD')) {
        const raw = readlinkSync(host, { encoding: 'buffer' });
        if (!isUtf8(raw)) throw notUtf8(raw, `the target of ${host}: `);
      }
      if (!unsafeSymlink(target, rel)) {
        if (!exclude(rel, false)) entries.push({ rel, kind: 'link', src: host, target, ...metaOf(st) });
        return;
      }
      // An unsafe link is replaced by what it points to (followed all the way).
      const referent = statSync(host, { bigint: true, throwIfNoEntry: false }) ?? null;
      inputs?.add('S', host, referent);
      if (!referent) {
        if (!exclude(rel, false)) warnings.push(`skipping ${host} -> ${target}: the link leaves the copied tree and its referent does not exist`);
        return;
      }
      st = referent;
    }
    const isDir = st.isDirectory();
    if (exclude(rel, isDir)) return;
    if (isDir) {
      if (walking.has(`${st.dev}:${st.ino}`)) {
        warnings.push(`skipping ${host}: it leads back to a directory being copied (symlink loop)`);
        return;
      }
      entries.push({ rel, kind: 'dir', src: host, ...metaOf(st) });
      walkDir(host, rel, st);
    } else if (st.isFile()) {
      entries.push({ rel, kind: 'file', src: host, ...fileMetaOf(st) });
    } else {
      warnings.push(`skipping ${host}: special files (devices, FIFOs, sockets) are not copied`);
    }
  };

  // stat (S) or lstat (L), and what it said remembered, failures too.
  const look = (kind: 'S' | 'L', p: string) => {
    try {
      const st = (kind === 'S' ? statSync : lstatSync)(p, { bigint: true });
      inputs?.add(kind, p, st);
      return st;
    } catch (e) {
      inputs?.add(kind, p, null);
      throw e;
    }
  };

  if (contentsOnly) {
    const st = look('S', source);
    if (!st.isDirectory()) throw Object.assign(new Error(`${source} is not a directory`), { code: 'ENOTDIR' });
    entries.push({ rel: '', kind: 'dir', src: source, ...metaOf(st) });
    walkDir(source, '', st);
  } else {
    const clean = source.replace(/\/+$/, '');
    visit(clean, path.basename(clean), look('L', clean));
  }
  return { entries, warnings };
}
