// Wildcards in BOM `files` and `dirs` entries, expanded the way bash does with
// `shopt -s globstar nullglob` (and LC_ALL=C ordering):
//   - `*`, `?` and `[...]` match within one path component (rsync's wildmatch
//     syntax, so bytes, not characters, and a `[` with no closing `]` matches
//     nothing rather than itself);
//   - a wildcard never matches the leading `.` of a name: only a component that
//     itself starts with `.` can match dot-files;
//   - `**` as a whole component matches zero or more directories. It does not
//     enter dot-directories, and it does not follow symlinks while walking, so
//     a symlink loop cannot make it run forever: a symlink to a directory is
//     matched as a directory, but what lies under it is not searched. The
//     directory `**` starts from is read even if it is a symlink.
// Components without wildcards are used as written, only with their backslash
// escapes removed, so results keep the user's spelling of the literal prefix.

import { readdir, stat } from 'node:fs/promises';
import type { BigIntStats, Dirent } from 'node:fs';
import type { SourceRoot } from '../fsops/root.js';
import { compileWildmatch } from '../fsops/wildmatch.js';
import { statSeen, type Inputs } from '../inputs.js';

/** Where the reads go: `inputs` gets what was read; inside a source root, each path is read at its real path there. */
interface Reads {
  inputs?: Inputs;
  root?: SourceRoot;
}

/** True if `p` contains a `*`, `?` or `[` that is not escaped by a backslash. */
export function hasGlobMagic(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/**
 * Expands an absolute pattern into the existing paths that match it and are
 * regular files (`want: 'file'`) or directories (`want: 'dir'`), symlinks
 * counting as what they point to. A trailing slash on the pattern is kept on
 * every result (and only directories can match it). The result is sorted in
 * byte order and empty when nothing matches. `inputs` gets every directory read and every
 * path stat'ed. With a source `root`, paths below it are read inside it (src/fsops/root.ts) and
 * returned as spelled.
 */
export async function expandGlob(pattern: string, want: 'file' | 'dir', inputs?: Inputs, root?: SourceRoot): Promise<string[]> {
  const io: Reads = { inputs, root };
  if (!pattern.startsWith('/')) throw new Error(`glob pattern is not an absolute path: ${pattern}`);
  const trailingSlash = pattern.length > 1 && pattern.endsWith('/');
  const parts = (trailingSlash ? pattern.replace(/\/+$/, '') : pattern).split('/');

  // The literal prefix, as written: everything before the first component with a wildcard.
  let first = parts.findIndex(hasGlobMagic);
  if (first < 0) first = parts.length;
  const base = parts.slice(0, first).map(unescape).join('/') + '/';
  // "**/**" is "**", as in bash; searching again from each directory found would
  // also enter the symlinked directories the first "**" declined to walk into.
  const rest = parts.slice(first).filter((c, i, all) => c !== '' && !(c === '**' && all[i - 1] === '**'));

  const candidates = new Set<string>();
  if (rest.length === 0) candidates.add(base.length > 1 ? base.slice(0, -1) : base);
  else await expand(base, rest, candidates, io);

  const kept: string[] = [];
  await Promise.all(
    [...candidates].map(async (path) => {
      const st = await statOrNull(path, io);
      if (!st || !(want === 'dir' ? st.isDirectory() : st.isFile() && !trailingSlash)) return;
      kept.push(trailingSlash && !path.endsWith('/') ? `${path}/` : path);
    }),
  );
  return kept
    .map((path) => ({ path, key: Buffer.from(path) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map((r) => r.path);
}

/** Adds to `out` the paths below `dir` (which ends in '/') that match `comps`. */
async function expand(dir: string, comps: readonly string[], out: Set<string>, io: Reads): Promise<void> {
  const [comp, ...rest] = comps as [string, ...string[]];
  const last = rest.length === 0;

  if (comp === '**') {
    if (last) {
      // Zero directories match `dir` itself, when it is one.
      if (await walk(dir, (path) => out.add(path), io)) out.add(dir.length > 1 ? dir.slice(0, -1) : dir);
    } else {
      const dirs = [dir];
      await walk(dir, (path, entry) => {
        if (entry.isDirectory() || entry.isSymbolicLink()) dirs.push(`${path}/`);
      }, io);
      // Symlinks to non-directories fail in the next step like any other non-directory.
      await Promise.all(dirs.map((d) => expand(d, rest, out, io)));
    }
    return;
  }

  if (!hasGlobMagic(comp)) {
    const path = dir + unescape(comp);
    if (last) out.add(path);
    else await expand(`${path}/`, rest, out, io);
    return;
  }

  const matches = compileWildmatch(comp);
  const dotOk = comp.startsWith('.') || comp.startsWith('\\.');
  const names = (await readdirOrNull(dir, io)) ?? [];
  const below: Promise<void>[] = [];
  for (const { name } of names) {
    if ((name.startsWith('.') && !dotOk) || !matches(name)) continue;
    if (last) out.add(dir + name);
    else below.push(expand(`${dir}${name}/`, rest, out, io));
  }
  await Promise.all(below);
}

/**
 * Calls `visit` for every entry below `dir` (which ends in '/'), descending
 * into real directories only and skipping names that start with '.'.
 * Returns false if `dir` cannot be read as a directory.
 */
async function walk(dir: string, visit: (path: string, entry: Dirent) => void, io: Reads): Promise<boolean> {
  const entries = await readdirOrNull(dir, io);
  if (!entries) return false;
  const below: Promise<boolean>[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = dir + entry.name;
    visit(path, entry);
    if (entry.isDirectory()) below.push(walk(`${path}/`, visit, io));
  }
  await Promise.all(below);
  return true;
}

/** Removes the backslash escapes of a component without wildcards. */
function unescape(comp: string): string {
  return comp.replace(/\\(.)/gs, '$1');
}

// A path that vanished, is not a directory, cannot be read or loops is simply
// not a match, as for the shell; anything else is a real error.
const NO_MATCH = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP', 'ENAMETOOLONG']);

function ignorable(e: unknown): boolean {
  return NO_MATCH.has((e as NodeJS.ErrnoException).code ?? '');
}

async function readdirOrNull(dir: string, io: Reads): Promise<Dirent[] | null> {
  try {
    const real = io.root ? io.root.reading(dir, true, io.inputs) : dir;
    if (io.inputs) await statSeen(real, io.inputs); // which directory was read
    return await readdir(real, { withFileTypes: true });
  } catch (e) {
    if (ignorable(e)) return null;
    throw e;
  }
}

async function statOrNull(path: string, io: Reads): Promise<BigIntStats | null> {
  let real = path;
  try {
    if (io.root) real = io.root.reading(path, true, io.inputs);
    const st = await stat(real, { bigint: true });
    io.inputs?.add('S', real, st);
    return st;
  } catch (e) {
    if (!ignorable(e)) throw e;
    io.inputs?.add('S', real, null);
    return null;
  }
}
