// copy_bom --delete: remove what an earlier run's BOMs put in the image and this run's no
// longer describe. Only paths the previous manifest attributes to a BOM are candidates (a
// file someone put in the image by hand is left alone); nothing is removed through a link.
import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Manifest } from './manifest.js';

/** Image paths to remove, deepest first: `keep` says which paths this run describes, or holds a path it describes. */
export function stalePaths(previous: Manifest | undefined, keep: (p: string) => boolean): string[] {
  if (!previous) return [];
  return previous.entries
    .filter((e) => e.from !== null && e.from !== 'parent' && e.path !== '/' && !keep(e.path)) // paths checked when the manifest was read
    .map((e) => e.path)
    .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

/** The paths a plan describes (src/manifest.ts provenance) and every directory above them. */
export function describedWithParents(paths: Iterable<string>): Set<string> {
  const keep = new Set<string>(['/']);
  for (const p of paths) for (let d = p; d !== '/' && !keep.has(d); d = path.posix.dirname(d)) keep.add(d);
  return keep;
}

/**
 * Remove them from the image; returns what was removed (a directory that still holds other
 * files stays). `written`: host paths this run wrote, under whatever image path (a link in the
 * image can lead two image paths to one file): those stay.
 */
export function removePaths(root: string, paths: readonly string[], written: { has(host: string): boolean }): string[] {
  const rootAbs = path.resolve(root);
  const removed: string[] = [];
  for (const p of paths) {
    const host = path.join(rootAbs, p);
    if (written.has(host) || !realDirsUpTo(rootAbs, path.dirname(host))) continue;
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      if (readdirSync(host).length > 0) continue;
      rmdirSync(host);
    } else unlinkSync(host);
    removed.push(p);
  }
  return removed;
}

/** Every directory from the root down to `dir` is a real directory (no link leads elsewhere). */
function realDirsUpTo(root: string, dir: string): boolean {
  for (let d = dir; d.length > root.length; d = path.dirname(d)) {
    const st = lstatSync(d, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return false;
  }
  return true;
}
