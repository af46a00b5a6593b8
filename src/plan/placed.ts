// What the BOMs will have put at an image path before the libraries are copied: the file a
// path leads to once the image's own links are followed (those of copied trees, kept as links,
// and `createlinks`), as the loader inside the image will follow them, and where that file
// comes from. Read only from the resolved BOMs (nothing on disk): a library is already there
// when the path the loader opens leads to a copy of that very file.
import { DIR, FILE, LINK } from '../fsops/tree.js';
import type { ResolvedBom, TreeItem } from './resolve.js';

const MAX_LINKS = 40; // as the kernel's MAXSYMLINKS

/** What an image path holds: a file (its host device and inode, `dev:ino`), a link, a directory, or nothing known. */
type Placed = { id: string } | { link: string } | { dir: true } | null;

export interface PlannedImage {
  /** The file (by `dev:ino`) the image path `at` ('/'-separated, relative to the root) leads to, links followed; null if none is known. */
  fileAt(at: string): string | null;
  /** The image path `at` leads to once every link on the way is followed (relative to the root); null for a link loop. */
  realPath(at: string): string | null;
}

export function plannedImage(boms: readonly ResolvedBom[]): PlannedImage {
  const links = new Map<string, string>();
  const files = new Map<string, string>();
  for (const b of boms) {
    for (const l of b.links) links.set(l.dest, l.target);
    for (const f of b.files) if (f.meta.identity !== undefined) files.set(f.dest, idOf(f.meta.identity));
  }
  // Later trees are copied over earlier ones: looked at last first.
  const trees = boms.flatMap((b) => b.trees).reverse();

  /** What one image path (no link on the way followed) holds, as far as the BOMs say. */
  const at = (p: string): Placed => {
    const file = files.get(p);
    if (file !== undefined) return { id: file };
    for (const t of trees) {
      const row = rowAt(t, p);
      if (row < 0) continue;
      const tree = t.tree;
      if (tree.kind[row] === LINK) return { link: tree.target(row)! };
      if (tree.kind[row] === FILE) return { id: `${tree.dev[row]}:${tree.ino[row]}` };
      if (tree.kind[row] === DIR) return { dir: true };
    }
    const link = links.get(p);
    return link === undefined ? null : { link };
  };

  /** `target` with every link on the way followed, as a chroot's kernel follows them; null for a loop. */
  const realPath = (target: string): string | null => {
    let parts = target.split('/').filter(Boolean);
    let done: string[] = [];
    for (let followed = 0; parts.length > 0; ) {
      const name = parts.shift()!;
      if (name === '.') continue;
      if (name === '..') {
        done.pop(); // `..` stops at the root
        continue;
      }
      const what = at([...done, name].join('/'));
      if (what !== null && 'link' in what) {
        if (++followed > MAX_LINKS) return null;
        // An absolute target starts again at the image root, as in a chroot.
        if (what.link.startsWith('/')) done = [];
        parts = [...what.link.split('/').filter(Boolean), ...parts];
        continue;
      }
      done.push(name);
    }
    return done.join('/');
  };

  return {
    realPath,
    fileAt(target) {
      const real = realPath(target);
      const what = real === null || real === '' ? null : at(real);
      return what !== null && 'id' in what ? what.id : null;
    },
  };
}

/** The row of a tree that is at image path `p`, or -1. */
function rowAt(t: TreeItem, p: string): number {
  const dest = t.dest;
  if (dest !== '' && p !== dest && !p.startsWith(`${dest}/`)) return -1;
  const names = (dest === '' ? p : p.slice(dest.length)).split('/').filter(Boolean);
  const top = t.tree.length ? t.tree.rel(0) : '';
  if (top === '') return names.length === 0 ? -1 : t.tree.find(names);
  return names[0] === top ? t.tree.find(names.slice(1)) : -1;
}

/** `dev:ino` of an identity (src/elf/cache.ts: `dev:ino:size:mtime:ctime`). */
export const idOf = (identity: string) => identity.split(':', 2).join(':');
