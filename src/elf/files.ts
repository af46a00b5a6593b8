// What the loaders see when they try a path, read once per path and remembered: the file system
// is assumed not to change while one resolver is in use. Paths are never normalised: the kernel
// resolves "dir/link/../x" through the link, and the loaders report paths as they built them.
import { closeSync, openSync, readSync, statSync, type BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { SourceRoot } from '../fsops/root.js';
import { statState, type ElfCache } from './cache.js';
import { HEAD_BYTES, ehdrSize, hasElfMagic, readElf } from './read.js';
import type { Probe } from './types.js';

const EHDR_MAX = ehdrSize(64);
/**
 * Files open at once, however many resolutions run in parallel: running out of descriptors
 * (EMFILE) would otherwise read as a missing library.
 */
const MAX_OPEN = 64;
let active = 0;
const waiting: (() => void)[] = [];

async function limited<T>(fn: () => Promise<T>): Promise<T> {
  // A finishing call hands its slot to the first waiting one.
  if (active < MAX_OPEN) active++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
}

export type { Probe } from './types.js';

export class FileCache {
  private readonly probes = new Map<string, Promise<Probe>>();
  private readonly dirs = new Map<string, Promise<string>>();
  /** What `stat` said of every path looked at, when it was looked at (src/elf/cache.ts: statState). */
  readonly seen = new Map<string, string>();
  /** Links walked inside a source root, seen by what lstat said of them. */
  private readonly links = { add: (_kind: 'L', p: string, st: unknown) => void this.seen.set(p, statState(st as BigIntStats)) };

  /**
   * `cwd` is the directory relative paths are relative to, as for the analysed process. With a
   * source `root`, paths are as seen inside it (src/fsops/root.ts) and read at their real paths there.
   */
  constructor(
    private readonly cwd: string,
    private readonly cache?: ElfCache,
    private readonly root?: SourceRoot,
  ) {}

  /** What opening and reading `path` gives; `outside`: a host path outside the source root, read where it is. */
  probe(path: string, outside = false): Promise<Probe> {
    const key = outside ? `\0${path}` : path;
    let p = this.probes.get(key);
    if (!p) {
      const absolute = outside ? path : this.host(path);
      p = typeof absolute !== 'string'
        ? Promise.resolve({ kind: 'absent', code: absolute.code })
        : limited(() => probeFile(absolute, this.cache, (state) => this.seen.set(absolute, state)));
      this.probes.set(key, p);
    }
    return p;
  }

  /** The whole of a file the loader reads (its cache, musl's path file). */
  read(path: string): Promise<Buffer> {
    const absolute = this.host(path);
    return typeof absolute === 'string' ? readFile(absolute) : Promise.reject(Object.assign(new Error(`${absolute.code}: ${path}`), absolute));
  }

  /** 'dir' when `path` is a directory, else the errno code opening a file inside it gives. */
  dirState(path: string): Promise<string> {
    let p = this.dirs.get(path);
    if (!p) {
      const absolute = this.host(path === '' ? '.' : path);
      p = typeof absolute !== 'string' ? Promise.resolve(absolute.code) : stat(absolute, { bigint: true }).then(
        (st) => {
          this.seen.set(absolute, statState(st));
          return st.isDirectory() ? 'dir' : 'ENOTDIR';
        },
        (e: NodeJS.ErrnoException) => {
          this.seen.set(absolute, statState(e));
          return e.code ?? 'EIO';
        },
      );
      this.dirs.set(path, p);
    }
    return p;
  }

  /** The host path to read for a path the loader tries, or why there is none inside the source root (whose links walked are seen too). */
  host(path: string): string | { code: string } {
    const absolute = path.startsWith('/') ? path : `${this.cwd.replace(/\/+$/, '')}/${path}`;
    if (!this.root || this.root.isHost) return absolute;
    try {
      return this.root.real(absolute, this.links);
    } catch (e) {
      // Seen as missing: a file put there later is a change (the kernel's stat of the spelling says so).
      this.seen.set(this.root.spell(absolute), statState(e as NodeJS.ErrnoException));
      return { code: (e as NodeJS.ErrnoException).code ?? 'ENOENT' };
    }
  }
}

// Synchronous system calls: a resolver probes thousands of files that the page cache
// answers in microseconds, where each promise round trip would cost ten times more.
async function probeFile(path: string, cache: ElfCache | undefined, seen: (state: string) => void): Promise<Probe> {
  let fd: number | undefined;
  try {
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch (e) {
      seen(statState(e as NodeJS.ErrnoException));
      throw e;
    }
    seen(statState(st));
    if (st.isDirectory()) return { kind: 'directory' };
    // Opening a FIFO or a device could block or have effects; no library is one.
    if (!st.isFile()) return { kind: 'absent', code: 'ENOENT' };
    const known = cache?.probe(path, st);
    if (known) return known;
    fd = openSync(path, 'r');
    const size = Number(st.size);
    // Most files a copied tree holds are not ELF: their first bytes settle it, and only an
    // ELF file gets the larger first read that usually holds its program headers too.
    let head = Buffer.alloc(Math.min(size, EHDR_MAX));
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    if (hasElfMagic(head) && size > head.length) {
      head = Buffer.alloc(Math.min(size, HEAD_BYTES));
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    }
    const source = { read: async (b: Buffer, o: number, l: number, p: number) => ({ bytesRead: readSync(fd!, b, o, l, p) }) };
    const elf = await readElf(source, size, head);
    // Keep only the ELF header for the loaders' checks, not the whole first read.
    const ehdr = Buffer.from(head.subarray(0, EHDR_MAX));
    const probe = { kind: 'file', id: `${st.dev}:${st.ino}`, size, head: ehdr, elf } as const;
    cache?.remember(path, st, probe);
    return probe;
  } catch (e) {
    return { kind: 'absent', code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
