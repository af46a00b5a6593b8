// Destination paths inside the image: '/'-separated, relative to the image root
// ('' is the root), normalised, and never above the root.
import path from 'node:path';
import { Exit, quote, UserError, type Where } from '../errors.js';

/**
 * Join destination parts (a target, then a name inside it). A leading '/' means the
 * image root, in the first part and in later ones alike: upstream's Path::join would
 * leave the image for an absolute name; we read it as a chroot would.
 */
export function imagePath(where: Where, first: string, ...rest: string[]): string {
  let joined = first;
  for (const part of rest) joined = part.startsWith('/') ? part : `${joined}/${part}`;
  const normal = path.posix.normalize(`/${joined}`);
  if (joined.split('/').includes('..') && escapes(joined)) {
    throw new UserError(`${quote(joined)} leads outside the image root`, Exit.invalidBom, where);
  }
  return normal === '/' ? '' : normal.slice(1).replace(/\/$/, '');
}

/** Whether `..` steps climb above the start of a relative path. */
function escapes(p: string): boolean {
  let depth = 0;
  for (const part of p.split('/')) {
    if (part === '..') {
      if (--depth < 0) return true;
    } else if (part !== '' && part !== '.') depth++;
  }
  return false;
}

/** The image path of a tree's row: `rel` inside the tree's destination `dest`. */
export const treePath = (dest: string, rel: string) => (dest && rel ? `${dest}/${rel}` : dest || rel);

/** How the image path is shown to the user: the root as given, joined. */
export function shown(root: string, rel: string): string {
  return rel === '' ? root : `${root.replace(/\/+$/, '')}/${rel}`;
}

/** Join a host path the way upstream does (no lexical `..` folding: the kernel resolves it). */
export function hostJoin(base: string, name: string): string {
  if (name.startsWith('/') || base === '' || base === '.') return name;
  return `${base.replace(/\/+$/, '')}/${name}`;
}

/** The last component of a source path, as Rust's Path::file_name() gives it (none for `..`). */
export function fileName(p: string): string | undefined {
  const last = p.split('/').filter((c) => c !== '' && c !== '.').at(-1);
  return last === undefined || last === '..' ? undefined : last;
}

/**
 * path.resolve(p) without its cost (a microsecond, thousands of times a run) when `p` already
 * is what it would give: absolute, without empty, `.` or `..` parts or a trailing '/'.
 */
export function resolved(p: string): string {
  return p.length > 1 && p.startsWith('/') && !UNRESOLVED.test(p) ? p : path.resolve(p);
}
const UNRESOLVED = /\/\/|\/\.\.?(?:\/|$)|\/$/;
