// A root file system whose paths are read as a process chrooted into it would see them: the
// one place where a source path becomes a host path (the host itself is the root `/`). A path is
// walked a component at a time, as the kernel walks it, with the kernel's rules inside a root
// (openat2's RESOLVE_IN_ROOT, chroot): an absolute link starts again at the root, and `..` stops
// there, so no walk ever leaves it. The walk says where it ends, every symbolic link met on the
// way (an image must hold each one, so that the same name leads to the same file there) and the
// directories a `..` walked back out of. lstat and readlink only; their answers are kept, as one
// run names the same directories thousands of times.
//
// `--source-root` spells an absolute source path of a BOM as the host path below the root
// (`spell`), and every read of such a path goes to what `reading` gives: its real path inside
// the root, a host path with no link left in it, so the kernel's own walk cannot leave the root.
import { lstatSync, readlinkSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import type { Inputs } from '../inputs.js';

/** The kernel's limit on links followed in one walk (MAXSYMLINKS, ELOOP). */
const MAX_LINKS = 40;

/** Paths here are as seen inside the root (absolute, `/` is the root). */
export interface Walked {
  /** Where the walk ends, with no link on the way: null when some component does not exist (or a loop). */
  real: string | null;
  /** What is there: a regular file, a directory, a link (last component not followed), anything else. */
  type: 'file' | 'dir' | 'link' | 'other' | null;
  /** Why the walk ends nowhere (errno's name), when it does. */
  code?: 'ENOENT' | 'ENOTDIR' | 'ELOOP';
  /** Each link met, where it is (its own path, with no link above it) and what it says. */
  links: { path: string; target: string }[];
  /** Directories walked into and left again by `..`: the image needs them for the same walk. */
  through: string[];
}

export class SourceRoot {
  private readonly stats = new Map<string, BigIntStats | null>();
  private readonly targets = new Map<string, string>();

  /** `root`: the root's real path on the host; `/` is the host itself. */
  constructor(readonly root = '/') {}

  /** The root a user named: a directory, taken by its real path. Throws fs errors (ENOTDIR when not a directory). */
  static open(dir: string): SourceRoot {
    const real = realpathSync(dir);
    if (!statSync(real).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    return new SourceRoot(real);
  }

  /** Whether this is the host itself (every path is read as the kernel finds it). */
  get isHost(): boolean {
    return this.root === '/';
  }

  /** The host spelling of a source path: an absolute one is inside the root, a relative one is the host's. */
  spell(p: string): string {
    return p.startsWith('/') && !this.isHost ? `${this.root}${p}` : p; // a trailing '/' kept: rsync's "the contents"
  }

  /**
   * The host path to read for `p`, a path as seen inside the root (absolute), every link on it
   * followed there: `reading` of its spelling. On the host, `p` itself. Throws as `reading`.
   */
  real(p: string, links?: Pick<Inputs, 'add'>): string {
    return this.reading(this.spell(p), true, links);
  }

  /** The path inside the root that a host path spells, or null when it is not below the root (or the root is the host). */
  inside(hostPath: string): string | null {
    if (this.isHost) return null;
    if (hostPath === this.root || hostPath === `${this.root}/`) return '/';
    return hostPath.startsWith(`${this.root}/`) ? hostPath.slice(this.root.length) : null;
  }

  /**
   * The host path to read for `hostPath`: itself when it is outside the root (or the root is
   * the host), else its real path inside the root, the last component followed if it is a link
   * only if `follow`. A walk that ends nowhere throws fs's error (code ENOENT, ENOTDIR or
   * ELOOP) naming `hostPath`. `links` gets each link met, with what lstat says of it (a link
   * re-pointed is a changed source).
   */
  reading(hostPath: string, follow: boolean, links?: Pick<Inputs, 'add'>): string {
    const p = this.inside(hostPath);
    if (p === null) return hostPath;
    const w = this.walk(p, follow);
    for (const l of w.links) links?.add('L', this.host(l.path), this.lstat(l.path));
    if (w.real === null) {
      const code = w.code ?? 'ENOENT';
      throw Object.assign(new Error(`${code}: no such file inside the source root, '${hostPath}'`), { code, path: hostPath });
    }
    return this.host(w.real);
  }


  /** The host path of a path inside the root (absolute, as `walk` gives them). */
  host(p: string): string {
    return this.root === '/' ? p : p === '/' ? this.root : `${this.root}${p}`;
  }

  private lstat(p: string): BigIntStats | null {
    let st = this.stats.get(p);
    if (st === undefined) {
      try {
        st = lstatSync(this.host(p), { bigint: true });
      } catch {
        st = null;
      }
      this.stats.set(p, st);
    }
    return st;
  }

  /** Whether the file at `p` (no link on the way) has an execute bit. */
  executable(p: string): boolean {
    return ((Number(this.lstat(p)?.mode ?? 0)) & 0o111) !== 0;
  }

  /** What the link at `p` says (readlink). */
  readlink(p: string): string {
    let t = this.targets.get(p);
    if (t === undefined) this.targets.set(p, (t = readlinkSync(this.host(p))));
    return t;
  }

  /** Walk `p` (absolute, inside the root); the last component is followed when it is a link only if `follow`. */
  walk(p: string, follow: boolean): Walked {
    const links: { path: string; target: string }[] = [];
    const through: string[] = [];
    const todo = p.split('/').filter((c) => c !== '').reverse(); // next component last
    let at = '/';
    let followed = 0;
    while (todo.length > 0) {
      const name = todo.pop()!;
      if (name === '.') continue;
      if (name === '..') {
        if (at !== '/') through.push(at);
        at = at === '/' ? '/' : at.slice(0, at.lastIndexOf('/')) || '/';
        continue;
      }
      const next = at === '/' ? `/${name}` : `${at}/${name}`;
      const st = this.lstat(next);
      if (st === null) return { real: null, type: null, code: 'ENOENT', links, through };
      if (st.isSymbolicLink() && (todo.length > 0 || follow)) {
        if (++followed > MAX_LINKS) return { real: null, type: null, code: 'ELOOP', links, through };
        let target: string;
        try {
          target = this.readlink(next);
        } catch {
          return { real: null, type: null, code: 'ENOENT', links, through };
        }
        links.push({ path: next, target });
        todo.push(...target.split('/').filter((c) => c !== '').reverse());
        if (target.startsWith('/')) at = '/';
        continue;
      }
      if (todo.length > 0 && !st.isDirectory()) return { real: null, type: null, code: 'ENOTDIR', links, through };
      at = next;
    }
    const st = this.lstat(at);
    const type = st === null ? null : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other';
    return { real: at, type, links, through };
  }
}
