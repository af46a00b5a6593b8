// What each file said when it was last read, kept between runs, so that a rebuild reads no
// ELF file again: per host path, the file's identity (device, inode, size, mtime, ctime) and
// either "not ELF" or what the loaders need of it (the ELF header bytes and the parsed
// headers). The ctime is part of the identity: no one can set it, so content rewritten with
// the old size and mtime put back still reads as changed. A file changed less than
// RACY_NS before it was read could change again within the same ctime tick: it is not kept.
// The whole answer of the last analysis is kept too, with every path it looked at and what
// `stat` said of each: when the inputs are the same and a fresh `stat` of each of those paths
// says the same, so would the analysis (it reads nothing else), and it is not run again.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { identity } from '../inputs.js';
import { cacheDir } from '../resources.js';
import { writeAtomically } from '../output.js';
import { earlierThan } from '../fsops/times.js';
import type { Probe } from './types.js';
import type { ElfResult } from './read.js';

const VERSION = 3;
export const RACY_NS = 2_000_000_000n;
/** Cache files of images not built for this long are deleted when another is saved. */
const KEEP_MS = 30 * 24 * 3600 * 1000;

type FileProbe = Extract<Probe, { kind: 'file' }>;
/** As stored: bigints as decimal strings, the header bytes in base64. */
type Stored = 0 | { id: string; size: number; head: string; elf: ElfResult };

/**
 * What `stat` says of a path, as a string: equal strings mean nothing an analysis could read
 * there has changed. A symbolic link (what `lstat` says of one walked inside a source root) is
 * `link:` and its own identity: a link re-pointed is another link.
 */
export function statState(st: BigIntStats | NodeJS.ErrnoException): string {
  if (!('isDirectory' in st)) return `missing:${st.code ?? 'EIO'}`;
  return st.isDirectory() ? 'dir' : `${st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other'}:${identity(st)}`;
}

/** `statState` of a path now; a `link:` state is checked with lstat, as it was taken. */
export function statNow(path: string, state?: string): string {
  try {
    return statState((state?.startsWith('link:') ? lstatSync : statSync)(path, { bigint: true }));
  } catch (e) {
    return statState(e as NodeJS.ErrnoException);
  }
}


/** The last analysis: a hash of its inputs, the paths it looked at with their `statState`, its answer (as JSON). */
interface Analysis {
  key: string;
  seen: [string, string][];
  answer: string;
}

export class ElfCache {
  private loaded: Map<string, [string, Stored]> | null = null;
  private readonly now = new Map<string, [string, Stored]>();
  private filesChanged = false;
  private saved = false;
  private analysisChanged = false;
  private readonly startedNs = BigInt(Date.now()) * 1_000_000n;
  /** Whether a ctime is RACY_NS or more before this run's start. */
  private readonly settled = earlierThan(this.startedNs - RACY_NS);
  private lastAnalysis: Analysis | null = null;
  /** The analysis this run's answer came from, when it is kept: found still holding, or remembered. */
  private holding: Analysis | null = null;
  /** Files known not to be ELF, PLAIN numbers a file (its identity), sorted by inode. */
  private plainLoaded: Float64Array | null = null;
  /** Those this run saw, known or read: `plainCount` identities. */
  private plainNow = new Float64Array(PLAIN * 1024);
  private plainCount = 0;
  private plainChanged = false;

  /**
   * `base` null: nothing is read or saved (a cache for this run only). Otherwise two files:
   * `<base>.files.json` (what each ELF file said), `<base>.plain.bin` (the identities of the
   * files that are not ELF: in a tree of 200,000 files nearly all, so kept as numbers, not
   * by path) and `<base>.analysis.json` (the last analysis), each read only when needed: a
   * rebuild whose analysis still holds reads only the last.
   */
  constructor(private readonly base: string | null) {}

  /** The cache of an image root: `$OCCLUM_BOM_CACHE_DIR` or `$XDG_CACHE_HOME/occlum-bom` or `~/.cache/occlum-bom`; an empty OCCLUM_BOM_CACHE_DIR turns it off. */
  static forImage(root: string, env: NodeJS.ProcessEnv = process.env): ElfCache {
    const dir = cacheDir(env);
    if (dir === '') return new ElfCache(null);
    const key = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 16);
    return new ElfCache(path.join(dir, `elf-${key}`));
  }

  /** The answer of the last analysis, if its inputs hashed to `key` and every path it looked at still stats the same. */
  analysis(key: string): string | undefined {
    const a = (this.lastAnalysis = this.base ? (load(`${this.base}.analysis.json`) as Analysis | null) : null);
    try {
      if (!a || a.key !== key || typeof a.answer !== 'string' || !a.seen.every(([p, state]) => statNow(p, state) === state)) return undefined;
    } catch {
      return undefined; // a damaged cache file
    }
    this.holding = a;
    return a.answer;
  }

  /** Every path the analysis of this run looked at, with its state then; null when the analysis is not kept. */
  analysisInputs(): readonly [string, string][] | null {
    return this.holding?.seen ?? null;
  }

  /**
   * Keep an analysis; `seen` must hold each path's state from before it was read (null: the
   * analysis saw a path in two states); `racyInputs`: a file hashed into `key` changed within
   * RACY_NS of the run. None is kept if a file among them changed within RACY_NS.
   */
  rememberAnalysis(key: string, seen: ReadonlyMap<string, string | null>, answer: string, racyInputs: boolean): void {
    if (racyInputs) return;
    for (const state of seen.values()) if (state === null || (/^(file|other|link):/.test(state) && this.racy(state))) return;
    this.lastAnalysis = this.holding = { key, seen: [...seen] as [string, string][], answer };
    this.analysisChanged = true;
  }

  /**
   * Whether a file with this identity (dev, ino, size, mtime sec and nsec, ctime sec and nsec)
   * was found not to be ELF; the content is the same while the identity is.
   */
  isPlain(id: ArrayLike<number>): boolean {
    const known = (this.plainLoaded ??= loadPlain(this.base));
    const rows = known.length / PLAIN;
    let lo = 0;
    let hi = rows;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (known[mid * PLAIN + 1]! < id[1]!) lo = mid + 1;
      else hi = mid;
    }
    for (let r = lo; r < rows && known[r * PLAIN + 1] === id[1]; r++) {
      let k = 0;
      while (k < PLAIN && known[r * PLAIN + k] === id[k]) k++;
      if (k === PLAIN) {
        this.pushPlain(id);
        return true;
      }
    }
    return false;
  }

  /** Remember that a file with this identity is not ELF (unless it changed within RACY_NS of the run). */
  rememberPlain(id: ArrayLike<number>): void {
    if (this.racyTime(id[5]!, id[6]!)) return;
    this.pushPlain(id);
    this.plainChanged = true;
  }

  private pushPlain(id: ArrayLike<number>): void {
    if (PLAIN * (this.plainCount + 1) > this.plainNow.length) {
      const bigger = new Float64Array(this.plainNow.length * 2);
      bigger.set(this.plainNow);
      this.plainNow = bigger;
    }
    for (let k = 0; k < PLAIN; k++) this.plainNow[PLAIN * this.plainCount + k] = id[k]!;
    this.plainCount++;
  }

  /** Whether a ctime (sec, nsec) is within RACY_NS of this run's start. */
  racyTime(sec: number, nsec: number): boolean {
    return !this.settled(sec, () => BigInt(sec) * 1_000_000_000n + BigInt(nsec));
  }

  /** The probe of an ELF file read earlier, if `st` still has its identity. */
  probe(file: string, st: BigIntStats): FileProbe | undefined {
    const hit = this.lookup(file, identity(st));
    if (hit === undefined || hit === 0) return undefined;
    return { kind: 'file', id: hit.id, size: hit.size, head: Buffer.from(hit.head, 'base64'), elf: decode(hit.elf) };
  }

  /** Remember what reading an ELF file gave. */
  remember(file: string, st: BigIntStats, p: FileProbe): void {
    if (p.elf.ok) this.keep(file, identity(st), { id: p.id, size: p.size, head: p.head.toString('base64'), elf: encode(p.elf) });
  }

  /**
   * Write what changed, once: the files this run looked at (and no others), the analysis.
   * Failures only cost speed. The identities of plain files (11 MB for 200,000) are let go:
   * nothing is written after this, and the manifest is made next.
   */
  save(): void {
    if (!this.base || this.saved) return;
    try {
      this.write(this.base);
    } finally {
      this.saved = true;
      this.plainLoaded = null;
      this.plainNow = new Float64Array(PLAIN * 1024);
      this.plainCount = 0;
    }
  }

  private write(base: string): void {
    const files = this.filesChanged || (this.loaded !== null && this.now.size !== this.loaded.size);
    const plain = this.plainChanged || (this.plainLoaded !== null && PLAIN * this.plainCount !== this.plainLoaded.length);
    if (!files && !plain && !this.analysisChanged) return;
    try {
      mkdirSync(path.dirname(base), { recursive: true, mode: 0o700 });
      if (files) writeAtomically(`${base}.files.json`, JSON.stringify({ version: VERSION, entries: Object.fromEntries(this.now) }), 0o600);
      if (plain) writeAtomically(`${base}.plain.bin`, plainBytes(this.plainNow.subarray(0, PLAIN * this.plainCount)), 0o600);
      if (this.analysisChanged) writeAtomically(`${base}.analysis.json`, JSON.stringify({ version: VERSION, ...this.lastAnalysis }), 0o600);
      pruneOld(path.dirname(base));
    } catch {
      // a read-only home, a full disk: the next run reads the files again
    }
  }

  private lookup(file: string, id: string): Stored | undefined {
    this.loaded ??= new Map(Object.entries((this.base ? (load(`${this.base}.files.json`) as { entries?: object } | null)?.entries : null) ?? {}));
    const hit = this.now.get(file) ?? this.loaded.get(file);
    if (!hit || hit[0] !== id) return undefined;
    this.now.set(file, hit);
    return hit[1];
  }

  private keep(file: string, id: string, value: Stored): void {
    if (this.racy(id)) return;
    this.now.set(file, [id, value]);
    this.filesChanged = true;
  }

  /** Whether the ctime of an identity (its last field, in ns) is within RACY_NS of this run's start. */
  private racy(id: string): boolean {
    const ns = id.slice(id.lastIndexOf(':') + 1);
    return !this.settled(Number(ns.slice(0, -9) || 0), () => BigInt(ns));
  }
}

/** Numbers an identity has in the plain set: dev, ino, size, mtime sec, nsec, ctime sec, nsec. */
const PLAIN = 7;

/** The plain set as stored: VERSION, then the identities sorted by inode (float64, this machine's byte order). */
function plainBytes(flat: Float64Array): Buffer {
  const rows = byInode(flat);
  const out = new Float64Array(1 + flat.length);
  out[0] = VERSION;
  let at = 1;
  for (const r of rows) {
    // the same file seen twice (two trees, two names of one inode) is kept once
    let k = 0;
    while (at > 1 && k < PLAIN && out[at - PLAIN + k] === flat[r * PLAIN + k]) k++;
    if (k === PLAIN) continue;
    for (k = 0; k < PLAIN; k++) out[at++] = flat[r * PLAIN + k]!;
  }
  return Buffer.from(out.buffer, 0, at * 8);
}

/**
 * The rows of the plain set in the order of their inodes (rows of one inode in their order).
 * Each inode and its row as one number (inode * 2^bits + row, exact below 2^53) sorted by the
 * engine's own numeric sort: 200,000 rows in 40-60 ms, where a comparison function took 130-180 ms.
 * Inodes too large for that are sorted with the function.
 */
function byInode(flat: Float64Array): Uint32Array {
  const n = flat.length / PLAIN;
  const span = 2 ** Math.max(1, Math.ceil(Math.log2(n + 1)));
  const keys = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const key = flat[r * PLAIN + 1]! * span + r;
    if (!Number.isSafeInteger(key)) return new Uint32Array(n).map((_, r) => r).sort((a, b) => flat[a * PLAIN + 1]! - flat[b * PLAIN + 1]! || a - b);
    keys[r] = key;
  }
  keys.sort();
  const rows = new Uint32Array(n);
  for (let k = 0; k < n; k++) rows[k] = keys[k]! % span;
  return rows;
}

function loadPlain(base: string | null): Float64Array {
  const data = base ? readTrusted(`${base}.plain.bin`) : null;
  if (!data || data.length % 8 !== 0 || (data.length / 8 - 1) % PLAIN !== 0) return new Float64Array(0);
  const all = new Float64Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  return all[0] === VERSION ? all.subarray(1) : new Float64Array(0);
}

/** A cache file of this version, or null. */
function load(file: string): Record<string, unknown> | null {
  const data = loadTrusted(file);
  return data?.version === VERSION ? data : null;
}

/**
 * A cache file's JSON object, or null (absent, unreadable, damaged, or not safe to trust: what
 * it says decides what is copied, so it must be ours and writable by no one else, as ssh asks
 * of its keys).
 */
export function loadTrusted(file: string): Record<string, unknown> | null {
  try {
    const data = JSON.parse(readTrusted(file)?.toString() ?? 'null') as unknown;
    if (data && typeof data === 'object') return data as Record<string, unknown>;
  } catch {
    // damaged: start empty
  }
  return null;
}

/** A cache file's bytes, or null (absent, unreadable, not ours, or writable by others). */
export function readTrusted(file: string): Buffer | null {
  try {
    const st = statSync(file);
    if ((process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) return null;
    return readFileSync(file);
  } catch {
    return null; // absent or unreadable
  }
}

function pruneOld(dir: string): void {
  const cutoff = Date.now() - KEEP_MS;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (/^(elf-[0-9a-f]{16}\.(files\.json|analysis\.json|plain\.bin)|run-[0-9a-f]{16}\.rec)$/.test(name) && (statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < cutoff) unlinkSync(p);
  }
}

/** The program headers' bigints as strings; everything else in an ElfResult is plain JSON. */
function encode(r: ElfResult): ElfResult {
  if (!r.ok) return r;
  return { ok: true, elf: { ...r.elf, loads: r.elf.loads.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, String(v)]))) as never } };
}

function decode(r: ElfResult): ElfResult {
  if (!r.ok) return r;
  const loads = (r.elf.loads as unknown as Record<string, string>[]).map((l) => ({
    type: Number(l.type),
    offset: BigInt(l.offset!),
    vaddr: BigInt(l.vaddr!),
    filesz: BigInt(l.filesz!),
    memsz: BigInt(l.memsz!),
    align: BigInt(l.align!),
  }));
  return { ok: true, elf: { ...r.elf, loads } };
}
