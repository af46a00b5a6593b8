// Paths inside the image root, resolved as a chroot would: a symlink met on the way is
// followed, but an absolute target restarts at the image root and `..` stops there, so
// no link (from an earlier run, a copied tree or a BOM) can lead a write out of the root.
// Synchronous system calls: a few per path, each answered from the dentry cache in
// microseconds, where a promise round trip costs ten times more.
import { lstatSync, mkdirSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

const MAX_LINKS = 40; // as the kernel's MAXSYMLINKS

/**
 * The image root as the kernel finds it: the real path of its longest existing part, the rest
 * appended. A root named through a symbolic link (`image -> /srv/img`) is that directory:
 * copied into, listed and checked there (and refused when it is `/`); `sym/../image` is
 * where the kernel takes `sym/..` to be, not `image`.
 */
export function realRoot(root: string): string {
  const rest: string[] = [];
  for (let p = root || '.'; ; p = path.dirname(p)) {
    try {
      return path.join(realpathSync.native(p), ...rest.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || p === '/' || p === '.') throw e;
      rest.push(path.basename(p));
    }
  }
}

/** Like a failed system call: `code` and `path` as errno errors have them, for the same one-line report. */
export class JailError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly path: string,
  ) {
    super(message);
  }
}

export class Jail {
  /** Directories known to exist (image path -> host path); cleared whenever links may have changed. */
  private dirs = new Map<string, string>();
  /** Host paths of the directories this run made: nothing was in them before it. */
  readonly made = new Set<string>();

  constructor(readonly root: string) {}

  forget(): void {
    this.dirs.clear();
  }

  /** Host path of an image path, following every link on the way (the last one too if `followLast`). */
  async resolve(rel: string, followLast = true): Promise<string> {
    return this.resolveSync(rel, followLast);
  }

  resolveSync(rel: string, followLast = true): string {
    return this.walk(rel, { create: false, followLast });
  }

  /** mkdir -p inside the root; returns the host path of the directory. */
  async mkdirp(rel: string): Promise<string> {
    return this.mkdirpSync(rel);
  }

  mkdirpSync(rel: string): string {
    const known = this.dirs.get(rel);
    if (known) return known;
    const host = this.walk(rel, { create: true, followLast: true });
    this.dirs.set(rel, host);
    return host;
  }

  private walk(rel: string, opts: { create: boolean; followLast: boolean }): string {
    const resolved: string[] = [];
    const pending = rel.split('/').filter((p) => p !== '' && p !== '.');
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        resolved.pop(); // at the root, `..` is the root
        continue;
      }
      const host = path.join(this.root, ...resolved, part);
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (st?.isSymbolicLink() && (pending.length > 0 || opts.followLast)) {
        if (++links > MAX_LINKS) throw new JailError(`${host}: too many levels of symbolic links`, 'ELOOP', host);
        const target = readlinkSync(host);
        if (target.startsWith('/')) resolved.length = 0;
        pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
        continue;
      }
      if (opts.create) {
        if (!st) {
          try {
            mkdirSync(host);
            this.made.add(host);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          }
        } else if (!st.isDirectory()) {
          throw new JailError(`${host} exists and is not a directory`, 'ENOTDIR', host);
        }
      }
      resolved.push(part);
    }
    return path.join(this.root, ...resolved);
  }
}
