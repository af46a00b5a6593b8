// Scan a source directory the way `rsync -ar --copy-unsafe-links --exclude=...` sees it,
// before anything is written: the entries to create, with their metadata.
// Synchronous on purpose: a walk is thousands of metadata calls that the page cache
// answers in microseconds, where each promise round trip costs ten times the call.
// A tree of 200,000 files is kept in typed arrays, a row an entry with its name and its
// directory's row instead of a path (about 100 bytes an entry, where objects with BigInt
// times and full paths took kilobytes); paths are made when they are needed.
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats, type Dirent } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { identity, type InputSet, type Inputs, type Kind } from '../inputs.js';
import type { ExcludeMatcher } from './exclude.js';
import type { SourceRoot } from './root.js';
import { native } from './native.js';
import { splitNs } from './times.js';

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  /** For a regular file: device, inode, size, mtime and ctime as scanned (src/elf/cache.ts). */
  identity?: string;
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

export const DIR = 1;
export const FILE = 2;
export const LINK = 3;
type EntryKind = typeof DIR | typeof FILE | typeof LINK;

const NS = 1_000_000_000n;
/** An exact decimal of nanoseconds from a timespec (sec, nsec), as BigInt's toString would write it. */
function nsText(sec: number, nsec: number): string {
  if (sec > 0) return `${sec}${String(nsec).padStart(9, '0')}`;
  return sec === 0 ? String(nsec) : String(BigInt(sec) * NS + BigInt(nsec));
}

/**
 * A scanned tree: row 0 is the top (the directory itself, or its contents' '' entry), every
 * directory's entries are consecutive rows in name order, after the directory's own row.
 */
export class Tree implements InputSet {
  length = 0;
  readonly names: string[] = [];
  /** Link targets by row. */
  readonly targets = new Map<number, string>();
  parent = new Int32Array(16);
  kind = new Uint8Array(16);
  /** st_mode with the type bits; uid, gid. */
  mode = new Uint32Array(16);
  uid = new Uint32Array(16);
  gid = new Uint32Array(16);
  size = new Float64Array(16);
  mtimeSec = new Float64Array(16);
  mtimeNsec = new Uint32Array(16);
  ctimeSec = new Float64Array(16);
  ctimeNsec = new Uint32Array(16);
  dev = new Float64Array(16);
  ino = new Float64Array(16);
  /** 1: an unsafe link, stat'ed through (the row holds what it leads to). */
  followed = new Uint8Array(16);
  /** A directory row's entries: rows from..to (exclusive), in name order. */
  readonly children = new Map<number, [number, number]>();
  private readonly dirRel = new Map<number, string>();
  /** A row is read at a path a followed link gave, not at its top's path joined with its names. */
  private readElsewhere = false;
  private readonly dirSrc = new Map<number, string>();

  /** `top`: the host path of row 0 as named; `topRel`: its path in the destination ('' for contents). */
  constructor(
    readonly top: string,
    private readonly topRel: string,
  ) {}

  /** `followed`: the row is what an unsafe link leads to; a string is the host path to read it at (inside a source root). */
  add(name: string, parent: number, kind: EntryKind, st: Stat, followed: boolean | string = false): number {
    if (this.length === this.kind.length) this.grow();
    const i = this.length++;
    this.names.push(name);
    this.parent[i] = parent;
    this.kind[i] = kind;
    this.mode[i] = st.mode;
    this.uid[i] = st.uid;
    this.gid[i] = st.gid;
    this.size[i] = st.size;
    this.mtimeSec[i] = st.mtimeSec;
    this.mtimeNsec[i] = st.mtimeNsec;
    this.ctimeSec[i] = st.ctimeSec;
    this.ctimeNsec[i] = st.ctimeNsec;
    this.dev[i] = st.dev;
    this.ino[i] = st.ino;
    this.followed[i] = followed ? 1 : 0;
    if (typeof followed === 'string' && i > 0) {
      this.dirSrc.set(i, followed);
      this.readElsewhere = true;
    }
    return i;
  }

  private grow(): void {
    this.resize(Math.max(16, this.kind.length * 2));
  }

  /** Let go of the room the doubling left (up to as much again as the rows hold, 66 bytes a row) once the scan is done. */
  trim(): void {
    if (this.kind.length > this.length) this.resize(this.length);
  }

  private resize(n: number): void {
    const sized = <T extends Int32Array | Uint8Array | Uint32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a.subarray(0, Math.min(n, this.length)));
      return b;
    };
    this.parent = sized(this.parent);
    this.kind = sized(this.kind);
    this.mode = sized(this.mode);
    this.uid = sized(this.uid);
    this.gid = sized(this.gid);
    this.size = sized(this.size);
    this.mtimeSec = sized(this.mtimeSec);
    this.mtimeNsec = sized(this.mtimeNsec);
    this.ctimeSec = sized(this.ctimeSec);
    this.ctimeNsec = sized(this.ctimeNsec);
    this.dev = sized(this.dev);
    this.ino = sized(this.ino);
    this.followed = sized(this.followed);
  }

  /** Path inside the destination directory ('' is the destination itself). */
  rel(i: number): string {
    if (i === 0) return this.topRel;
    const known = this.dirRel.get(i);
    if (known !== undefined) return known;
    const up = this.rel(this.parent[i]!);
    const rel = up === '' ? this.names[i]! : `${up}/${this.names[i]}`;
    if (this.kind[i] === DIR) this.dirRel.set(i, rel);
    return rel;
  }

  /** Whether every row below the top is read at the top's path (dirPath(0)) joined with its names. */
  get readAtNames(): boolean {
    return !this.readElsewhere;
  }

  /** Host path to read: the entry itself, or the path through an unsafe link that was followed. */
  src(i: number): string {
    if (i === 0) return this.top;
    const known = this.dirSrc.get(i);
    if (known !== undefined) return known;
    const p = this.parent[i]!;
    const up = p === 0 ? this.topDir() : this.src(p);
    const src = up === '/' ? `/${this.names[i]}` : `${up}/${this.names[i]}`;
    if (this.kind[i] === DIR) this.dirSrc.set(i, src);
    return src;
  }

  /** A directory row's host path to join names to (path.join's normal form). */
  dirPath(row: number): string {
    return row === 0 ? this.topDir() : this.src(row);
  }

  private topDir(): string {
    let d = this.dirSrc.get(0);
    if (d === undefined) this.dirSrc.set(0, (d = path.normalize(this.top).replace(/(.)\/+$/, '$1')));
    return d;
  }

  /**
   * The rows in the order of their paths as strings compare (by UTF-16 code units, as the
   * manifest is sorted): each directory's entries, listed in byte order, sorted again with a
   * directory's own name apart from the names below it (`a`, `a-b`, `a.b`, `a/x`, `a0`).
   * Parents come before their children.
   */
  pathOrder(): Int32Array {
    const order = new Int32Array(this.length);
    if (this.length === 0) return order;
    let n = 0;
    order[n++] = 0;
    // Keys to emit, last first: 2 * row for a row itself, 2 * row + 1 for the entries below a directory row.
    const pending: number[] = [];
    const below = (dir: number) => {
      const range = this.children.get(dir);
      if (!range) return;
      // Most often the listing's order is the path order already.
      let listed = true;
      for (let c = range[0] + 1; c < range[1] && listed; c++) listed = (this.kind[c - 1] === DIR ? `${this.names[c - 1]}/` : this.names[c - 1]!) < this.names[c]!;
      if (listed) {
        for (let c = range[1] - 1; c >= range[0]; c--) {
          if (this.kind[c] === DIR) pending.push(2 * c + 1);
          pending.push(2 * c);
        }
        return;
      }
      const keys: number[] = [];
      for (let c = range[0]; c < range[1]; c++) {
        keys.push(2 * c);
        if (this.kind[c] === DIR) keys.push(2 * c + 1);
      }
      const text = keys.map((k) => (k & 1 ? `${this.names[k >> 1]}/` : this.names[k >> 1]!));
      const at = keys.map((_, i) => i).sort((a, b) => (text[a]! < text[b]! ? -1 : 1)); // keys are unique; the listing's order needs few changes
      for (let i = at.length - 1; i >= 0; i--) pending.push(keys[at[i]!]!);
    };
    below(0);
    while (pending.length) {
      const k = pending.pop()!;
      if (k & 1) below(k >> 1);
      else order[n++] = k >> 1;
    }
    return order;
  }

  /** The row at a path below row 0 (its names), or -1. */
  find(names: readonly string[]): number {
    let row = 0;
    for (const name of names) {
      const range = this.children.get(row);
      if (!range) return -1;
      let r = range[0];
      while (r < range[1] && this.names[r] !== name) r++;
      if (r === range[1]) return -1;
      row = r;
    }
    return this.length ? row : -1;
  }

  /** Every string a row's paths and entries are made of, joined: the top, the names, the link targets and the paths through followed links. */
  allText(): string {
    return this.top + this.topRel + [...this.targets.values(), ...this.dirSrc.values()].join('') + this.names.join('');
  }

  target(i: number): string | undefined {
    return this.targets.get(i);
  }

  mtimeNs(i: number): bigint {
    return BigInt(this.mtimeSec[i]!) * NS + BigInt(this.mtimeNsec[i]!);
  }

  /** Device, inode, size, mtime and ctime, as src/inputs.ts identity() writes them. */
  identity(i: number): string {
    return `${this.dev[i]}:${this.ino[i]}:${this.size[i]}:${nsText(this.mtimeSec[i]!, this.mtimeNsec[i]!)}:${nsText(this.ctimeSec[i]!, this.ctimeNsec[i]!)}`;
  }

  /** The metadata of a row as one object (for the few places that take one). */
  meta(i: number): Meta {
    const m: Meta = { mode: this.mode[i]!, uid: this.uid[i]!, gid: this.gid[i]!, size: this.size[i]!, mtimeNs: this.mtimeNs(i) };
    if (this.kind[i] === FILE) m.identity = this.identity(i);
    return m;
  }

  get inputCount(): number {
    return Math.max(0, this.length - 1);
  }

  /** Every path the scan looked at, for the run's record: lstat of each entry, stat through a followed link. */
  forEachInput(fn: (kind: Kind, path: string, dev: number, ino: number) => void): void {
    // Row 0 was recorded when it was looked at (and a followed link's own lstat with it).
    for (let i = 1; i < this.length; i++) fn(this.followed[i] ? 'S' : 'L', this.src(i), this.dev[i]!, this.ino[i]!);
  }
}

/** What the scan keeps of a stat. */
interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  dev: number;
  ino: number;
}

function statOf(st: BigIntStats): Stat {
  const [mtimeSec, mtimeNsec] = splitNs(st.mtimeNs);
  const [ctimeSec, ctimeNsec] = splitNs(st.ctimeNs);
  return { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), mtimeSec, mtimeNsec, ctimeSec, ctimeNsec, dev: Number(st.dev), ino: Number(st.ino) };
}

const S_IFMT = 0o170000;
const isDirMode = (m: number) => (m & S_IFMT) === 0o040000;
const isFileMode = (m: number) => (m & S_IFMT) === 0o100000;
const isLinkMode = (m: number) => (m & S_IFMT) === 0o120000;

/** A directory's names in byte order, and what lstat said of each (`stat(k)`, filled into one reused object). */
interface Listing {
  names: string[];
  stat(k: number): Stat;
}

/**
 * A directory listed: the addon lists and lstat's it in one trip to the thread pool (started
 * early, see scanTree); Node needs a call an entry.
 */
function startListing(dir: string): Promise<Buffer> | null {
  if (!native) return null;
  const listed = native.listDir(dir);
  listed.catch(() => undefined); // a failure is thrown where the listing is taken in
  return listed;
}

async function listing(dir: string, started: Promise<Buffer> | null): Promise<Listing> {
  if (!started) {
    const raw = readdirSync(dir);
    const bad = namesNotUtf8(dir, raw)[0];
    if (bad) throw notUtf8(bad, `${dir}/`);
    const names = raw.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return { names, stat: (k) => statOf(lstatSync(path.join(dir, names[k]!), { bigint: true })) };
  }
  const buf = await started;
  const count = buf.readUInt32LE(0);
  const blob = buf.subarray(8 + 64 * count);
  if (!isUtf8(blob)) {
    const bad = blob.toString('latin1').split('\0').map((n) => Buffer.from(n, 'latin1')).find((raw) => !isUtf8(raw))!;
    throw notUtf8(bad, `${dir}/`);
  }
  const names = blob.toString('utf8').split('\0');
  names.pop();
  const aligned = buf.byteOffset % 8 === 0 ? buf : Buffer.from(buf);
  const f64 = new Float64Array(aligned.buffer, aligned.byteOffset + 8, 8 * count);
  const u32 = new Uint32Array(aligned.buffer, aligned.byteOffset + 8, 16 * count);
  const st = {} as Stat;
  return {
    names,
    stat(k) {
      const f = 8 * k;
      const u = 16 * k + 10;
      if (u32[u] === 0) {
        const code = getSystemErrorName(-u32[u + 1]!);
        const p = path.join(dir, names[k]!);
        throw Object.assign(new Error(`${code}: lstat '${p}'`), { code, syscall: 'lstat', path: p });
      }
      st.size = f64[f]!;
      st.mtimeSec = f64[f + 1]!;
      st.ctimeSec = f64[f + 2]!;
      st.dev = f64[f + 3]!;
      st.ino = f64[f + 4]!;
      st.mode = u32[u]!;
      st.uid = u32[u + 1]!;
      st.gid = u32[u + 2]!;
      st.mtimeNsec = u32[u + 3]!;
      st.ctimeNsec = u32[u + 4]!;
      return st;
    },
  };
}

export interface ScanResult {
  tree: Tree;
  warnings: string[];
}

/**
 * `source` is the directory named in the BOM. With a trailing slash (or a last part `.` or
 * `..`) its contents go into the destination (and the directory's own mode and mtime go onto
 * it, as rsync's "." entry); without, the directory itself is the one entry at the top.
 * `inputs` gets every path looked at. `keepLinks`: every link is a link, unsafe ones too (rsync
 * -a without --copy-unsafe-links).
 */
export async function scanTree(source: string, exclude: ExcludeMatcher, inputs?: Inputs, root?: SourceRoot, keepLinks = false): Promise<ScanResult> {
  const warnings: string[] = [];
  const inRoot = root && !root.isHost ? root : undefined;
  // What an unsafe link leads to, and the host path to read it at: its real path inside the source root.
  const through = (p: string): { path: string; st: BigIntStats } | null => {
    let real = p;
    try {
      if (inRoot) real = inRoot.reading(p, true, inputs);
    } catch {
      return null;
    }
    const st = statSync(real, { bigint: true, throwIfNoEntry: false });
    return st ? { path: real, st } : null;
  };
  // rsync copies the contents when the name ends in '/', '.' or '..' (no directory can be given those names).
  const contentsOnly = /(^|\/)(\.\.?)?$/.test(source);
  // Directories being walked, by device and inode: an unsafe link back to one of them
  // would make rsync recurse without end; we stop and say so.
  const walking = new Set<string>();
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

  // Each directory's entries are added together (name order), then its subdirectories walked,
  // in order; their listings are started at once, so that the thread pool lists (and lstat's)
  // the next directories while this one's entries are taken in.
  const walkDir = async (tree: Tree, row: number, rel: string, started = startListing(tree.dirPath(row))) => {
    const id = `${tree.dev[row]}:${tree.ino[row]}`;
    walking.add(id);
    const hostDir = tree.dirPath(row);
    const list = await listing(hostDir, started);
    const names = list.names;
    const dirs: [number, string][] = [];
    const first = tree.length;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const childRel = rel ? `${rel}/${name}` : name;
      let st = list.stat(k);
      let followed: boolean | string = false; // a string: the host path read instead of a followed link
      if (isLinkMode(st.mode)) {
        const host = hostDir === '/' ? `/${name}` : `${hostDir}/${name}`;
        const target = readlinkSync(host);
        if (target.includes('\uFFFD')) {
          const raw = readlinkSync(host, { encoding: 'buffer' });
          if (!isUtf8(raw)) throw notUtf8(raw, `the target of ${host}: `);
        }
        if (keepLinks || !unsafeSymlink(target, childRel)) {
          if (!exclude(childRel, false)) tree.targets.set(tree.add(name, row, LINK, st), target);
          continue;
        }
        // An unsafe link is replaced by what it points to (followed all the way).
        inputs?.add('L', host, st); // the link itself; its row holds what it leads to
        const referent = through(host);
        if (!referent) {
          inputs?.add('S', host, null);
          if (!exclude(childRel, false)) warnings.push(`skipping ${host} -> ${target}: the link leaves the copied tree and its referent does not exist`);
          continue;
        }
        st = statOf(referent.st);
        followed = referent.path === host ? true : referent.path;
      }
      const isDir = isDirMode(st.mode);
      if (exclude(childRel, isDir)) continue;
      if (isDir) {
        if (walking.has(`${st.dev}:${st.ino}`)) {
          warnings.push(`skipping ${path.join(hostDir, name)}: it leads back to a directory being copied (symlink loop)`);
          continue;
        }
        dirs.push([tree.add(name, row, DIR, st, followed), childRel]);
      } else if (isFileMode(st.mode)) {
        tree.add(name, row, FILE, st, followed);
      } else {
        warnings.push(`skipping ${path.join(hostDir, name)}: special files (devices, FIFOs, sockets) are not copied`);
      }
    }
    tree.children.set(row, [first, tree.length]);
    const next = dirs.map(([child]) => startListing(tree.dirPath(child)));
    for (let k = 0; k < dirs.length; k++) await walkDir(tree, dirs[k]![0], dirs[k]![1], next[k]!);
    walking.delete(id);
  };

  let tree: Tree;
  if (contentsOnly) {
    const top = inRoot ? inRoot.reading(source, true, inputs) : source;
    const st = look('S', top);
    if (!st.isDirectory()) throw Object.assign(new Error(`${source} is not a directory`), { code: 'ENOTDIR' });
    tree = new Tree(top, '');
    tree.add('', -1, DIR, statOf(st));
    await walkDir(tree, 0, '');
  } else {
    const named = source.replace(/\/+$/, '');
    const name = path.basename(named);
    const clean = inRoot ? `${inRoot.reading(path.dirname(named), true, inputs)}/${name}` : named;
    const top = topEntry(clean, name, look('L', clean));
    tree = new Tree(typeof top !== 'string' && typeof top.followed === 'string' ? top.followed : clean, name);
    if (typeof top === 'string') {
      if (top) warnings.push(top);
    } else if (top.kind === LINK) {
      if (!exclude(name, false)) tree.targets.set(tree.add(name, -1, LINK, top.st), top.target!);
    } else if (!exclude(name, top.kind === DIR)) {
      tree.add(name, -1, top.kind, top.st, top.followed);
      if (top.kind === DIR) await walkDir(tree, 0, name);
    }
  }
  tree.trim();
  inputs?.addSet(tree);
  return { tree, warnings };

  /** The directory named without a trailing slash: the one entry at the top, or a warning ('' when an excluded link is skipped). */
  function topEntry(clean: string, name: string, lst: BigIntStats): { kind: EntryKind; st: Stat; followed: boolean | string; target?: string } | string {
    let st = lst;
    let at: string | undefined;
    if (st.isSymbolicLink()) {
      const target = readlinkSync(clean);
      if (target.includes('\uFFFD')) {
        const raw = readlinkSync(clean, { encoding: 'buffer' });
        if (!isUtf8(raw)) throw notUtf8(raw, `the target of ${clean}: `);
      }
      if (keepLinks || !unsafeSymlink(target, name)) return { kind: LINK, st: statOf(st), followed: false, target };
      const referent = through(clean);
      inputs?.add('S', referent?.path ?? clean, referent?.st ?? null);
      if (!referent) return exclude(name, false) ? '' : `skipping ${clean} -> ${target}: the link leaves the copied tree and its referent does not exist`;
      st = referent.st;
      at = referent.path === clean ? undefined : referent.path;
    }
    const followed = at ?? st !== lst;
    if (st.isDirectory()) return { kind: DIR, st: statOf(st), followed };
    if (st.isFile()) return { kind: FILE, st: statOf(st), followed };
    return exclude(name, false) ? '' : `skipping ${clean}: special files (devices, FIFOs, sockets) are not copied`;
  }
}
