// The record of the last run, checked by stat, so that a rebuild where nothing changed is
// answered without redoing the run. What copy_bom does is a function of its command line, its
// working directory, the environment variables it reads, the files and directories it looks
// at (the BOMs and the places searched for them, the loader config, every source, every path
// the dependency analysis looked at, its own code) and the image as it finds it. A run that
// ends normally records each of those paths with what stat, lstat or a directory listing says
// of it, the image as the run left it, and what the run reported (warnings, missing libraries,
// digest). The next run with the same command line in the same directory checks every path
// (thousands of system calls in one trip to the thread pool, src/fsops/native.ts): when each
// says the same, applying the BOMs again would change nothing, so it reports the same and stops.
// Each path's line is kept as a hash of 8 bytes, so that the check also says which paths
// changed: when only a few files of copied trees did, src/delta.ts copies just those.
//
// A source is recorded only when its ctime is older than the run by RACY_NS (as in the ELF
// cache): a change made within the file system's timestamp granularity of the moment it was
// looked at, or during the run, could leave it stating the same. That covers directories too:
// a directory whose state is unchanged has the same names in it. The image's directories are
// written by the run itself, so their names are recorded too (the D lines); the next run lists
// again only those whose ctime is too close to the moment of that listing for their lstat to
// tell (native/fs.c names_settled).
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readTrusted, RACY_NS } from './elf/cache.js';
import { cacheDir, isExecutable, packageFile } from './resources.js';
import { native, nativeFile } from './fsops/native.js';
import { log, enabled } from './log.js';
import type { MissingReport } from './report.js';
import { collector, writeAtomically } from './output.js';
import { earlierThan, splitNs } from './fsops/times.js';
import { entriesAt } from './nul-list.js';
import { found, type Found, type Inputs, type Kind } from './inputs.js';

const VERSION = 5; // 2: the root as named is recorded too; 3: a hash a path; 4: listedNs; 5: a stat's hash of its fields
/** Bytes of each path's hash (lineHash: a check of change, cheap enough for 400,000 paths a run). */
const HASH = 8;
/** The hash of a path that changed too recently to be trusted (see the top): no line has it, so the next run looks again. */
const UNSETTLED = Buffer.alloc(HASH, 0xff);
/** More changed paths than this: the full run. */
const MAX_CHANGED = 64;
/** Check this many parts of the paths at once (half the sources, half the image; and the manifest file). */
const PARTS = 4;

/** What a run reported, replayed by a run that finds everything unchanged. */
export interface Outcome {
  /** Warnings of reading the BOMs, scanning the sources and planning, in order. */
  warnings: string[];
  digest: string;
  missing: MissingReport;
}

/**
 * The record file: this as JSON, a newline, then the paths of every part, NUL-separated, one
 * part after the other (no escaping to undo, and handed to the addon as they are), then the
 * hashes of every part's lines, HASH bytes a path. The parts: `inputs` of what the run read,
 * then the manifest file, then the image.
 */
interface Stored {
  version: number;
  key: string;
  /** Environment variables the BOMs read, with their values (null: unset). */
  env: [string, string | null][];
  root: string;
  /** How many parts are what the run read (the sources, BOMs, code and what the analysis looked at). */
  inputs: number;
  /** When the image's states were taken (ns since 1970, decimal): its D lines were made after. */
  listedNs: string;
  /** How many delta runs (src/delta.ts) refreshed the record since the full run that made it. */
  deltas: number;
  /** Checked in parallel: the kind of each path and the length of their bytes. */
  parts: { kinds: string; bytes: number }[];
  outcome: Outcome;
}

/** A record as read back: its parts with their paths and hashes. */
export interface LoadedRecord {
  file: string;
  stored: Stored;
  parts: { kinds: string; paths: Buffer; hashes: Buffer }[];
}

/** Whether a line of ours says what `was` said then, and the path's ctime passes `settled` (RACY_NS before the run). */
function unchangedSince(was: Found | null, state: string, settled: ReturnType<typeof earlierThan>): boolean {
  if (was === null) return false;
  if (state.startsWith('missing:')) return was === 'missing';
  if (state.startsWith('content:')) return state === was; // the content read, exactly: no time to trust
  // type:mode:dev:ino:size:mtime:ctime
  const dev = state.indexOf(':', state.indexOf(':') + 1) + 1;
  const size = state.indexOf(':', state.indexOf(':', dev) + 1);
  if (state.slice(dev, size) !== was) return false;
  return ctimeSettled(state, settled);
}

/** Whether the ctime of a stat line (its last field, `sec.nsec`) passes `settled`. */
function ctimeSettled(state: string, settled: ReturnType<typeof earlierThan>): boolean {
  const ctime = state.slice(state.lastIndexOf(':') + 1);
  return settled(Number(ctime.slice(0, ctime.indexOf('.'))), () => nanoseconds(ctime));
}

/** What each path is now (`paths` NUL-separated, one kind letter each), as native/fs.c `states` says it (see there for `mode`). */
function statesNow(kinds: string, paths: Buffer, mode: 'lines'): Promise<[string, Buffer]>;
function statesNow(kinds: string, paths: Buffer, mode: 'hashes'): Promise<Buffer>;
function statesNow(kinds: string, paths: Buffer, mode: Buffer, listedNs?: bigint): Promise<Buffer>;
function statesNow(kinds: string, paths: Buffer, mode: Float64Array, settledNs: bigint): Promise<Buffer | null>;
async function statesNow(kinds: string, paths: Buffer, mode: 'lines' | 'hashes' | Buffer | Float64Array, ns?: bigint): Promise<[string, Buffer] | Buffer | null> {
  if (native) return ns !== undefined ? native.states(paths, kinds, mode as never, ns) : native.states(paths, kinds, mode as never);
  const names = kinds === '' ? [] : paths.toString().split('\0');
  const lines = names.map((p, i) => stateOf(kinds[i] as Kind, p));
  const hashes = Buffer.concat(lines.map(lineHash));
  if (mode instanceof Float64Array) {
    const settled = earlierThan(ns!);
    return lines.every((line, i) => unchangedSince(found(mode[2 * i] === -1 ? null : { dev: mode[2 * i]!, ino: mode[2 * i + 1]! }), line, settled)) ? hashes : null;
  }
  if (mode === 'lines') return [lines.map((l) => `${l}\n`).join(''), hashes];
  if (mode === 'hashes') return hashes;
  const differ = [];
  for (let i = 0; i < lines.length; i++) if (!hashes.subarray(HASH * i, HASH * i + HASH).equals(mode.subarray(HASH * i, HASH * i + HASH))) differ.push(i);
  const out = Buffer.alloc(4 * differ.length);
  differ.forEach((index, k) => out.writeUInt32LE(index, 4 * k));
  return out;
}

/** A line's hash while lineHash makes it: 64 bits as two int32 halves. */
let lo = 0;
let hi = 0;

/** The hash times FNV's 64-bit prime P = 2^40 + 435 (mod 2^64). */
function timesPrime(): void {
  const t0 = (lo & 0xffff) * 435;
  const t1 = (lo >>> 16) * 435 + (t0 >>> 16);
  hi = (Math.imul(hi, 435) + (lo << 8) + (t1 >>> 16)) | 0;
  lo = ((t1 & 0xffff) << 16) | (t0 & 0xffff);
}

const TYPES = ['dir', 'file', 'link', 'other'];

/** One 64-bit word (its halves) into a stat line's hash (native/fs.c mix). */
function mix(wordLo: number, wordHi: number): void {
  lo ^= wordLo;
  hi ^= wordHi;
  timesPrime();
  lo ^= hi;
}

/** A decimal integer's 64 bits in two's complement into the hash: from a double when it holds it exactly (| 0 is modulo 2^32), else by BigInt. */
function mixDecimal(n: number, line: string, from: number, to: number): void {
  if (Number.isSafeInteger(n)) mix(n | 0, Math.floor(n / 2 ** 32) | 0);
  else {
    const big = BigInt.asUintN(64, BigInt(line.slice(from, to)));
    mix(Number(BigInt.asIntN(32, big)), Number(BigInt.asIntN(32, big >> 32n)));
  }
}

/**
 * The addon's hash of a line, 8 bytes little-endian (lines are ASCII). A stat line
 * (`type:mode:dev:ino:size:mtime:ctime`, times `sec.nsec`) is hashed by its fields as numbers
 * (native/fs.c stat_hash), any other line by its 64-bit FNV-1a (fnv1a there). Read in one pass
 * (400,000 lines a rebuild without the addon).
 */
export function lineHash(line: string): Buffer {
  lo = 0x84222325 | 0;
  hi = 0xcbf29ce4 | 0;
  const colon = line.indexOf(':');
  const type = TYPES.indexOf(line.slice(0, colon)) + 1;
  const modeEnd = line.indexOf(':', colon + 1);
  if (type > 0 && modeEnd > 0) {
    mix(type | (parseInt(line.slice(colon + 1, modeEnd), 8) << 8), 0);
    // dev, ino, size, then each time's seconds and nanoseconds: decimal integers, each ended by ':', '.' or the end.
    let n = 0;
    let sign = 1;
    let start = modeEnd + 1;
    for (let i = start; i <= line.length; i++) {
      const c = i < line.length ? line.charCodeAt(i) : 58;
      if (c === 58 || c === 46) {
        mixDecimal(sign * n, line, start, i);
        n = 0;
        sign = 1;
        start = i + 1;
      } else if (c === 45) sign = -1;
      else n = n * 10 + (c - 48);
    }
  } else {
    for (let i = 0; i < line.length; i++) {
      lo ^= line.charCodeAt(i);
      timesPrime();
    }
  }
  const out = Buffer.alloc(HASH);
  out.writeInt32LE(lo, 0);
  out.writeInt32LE(hi, 4);
  return out;
}

/** A time as the addon writes a timespec: `sec.nsec`, nsec from 0 to 999999999. */
const seconds = (ns: bigint) => {
  const [sec, nsec] = splitNs(ns);
  return `${sec}.${String(nsec).padStart(9, '0')}`;
};

/** The nanoseconds of a `sec.nsec` field. */
const nanoseconds = (field: string) => {
  const [sec, nsec] = field.split('.') as [string, string];
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
};

/** The same line as the addon's, in Node (no addon, or OCCLUM_BOM_NO_NATIVE). */
export function stateOf(kind: Kind, p: string): string {
  try {
    if (kind === 'D') {
      const h = createHash('sha256');
      for (const name of readdirSync(p, { encoding: 'buffer' }).sort(Buffer.compare)) h.update(name).update('\0');
      return `list:${h.digest('hex')}`;
    }
    if (kind === 'C') {
      const st = statSync(p, { bigint: true });
      if (!st.isFile()) return 'missing:EINVAL';
      const bytes = readFileSync(p);
      return `content:${st.dev}:${st.ino}:${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`;
    }
    const st = (kind === 'S' ? statSync : lstatSync)(p, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
    return `${type}:${(Number(st.mode) & 0o7777).toString(8)}:${st.dev}:${st.ino}:${st.size}:${seconds(st.mtimeNs)}:${seconds(st.ctimeNs)}`;
  } catch (e) {
    return `missing:${(e as NodeJS.ErrnoException).code ?? 'EIO'}`;
  }
}

/** The ELF cache's state of a path (src/elf/cache.ts statState) from a line of ours. */
function analysisState(state: string): string {
  if (state.startsWith('missing:')) return state;
  const [type, , dev, ino, size, mtime, ctime] = state.split(':') as string[];
  if (type === 'dir') return 'dir';
  return `${type === 'file' || type === 'link' ? type : 'other'}:${dev}:${ino}:${size}:${nanoseconds(mtime!)}:${nanoseconds(ctime!)}`;
}

/** Everything the run's result depends on besides the paths: the command, where and as whom it runs. */
function keyOf(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): string {
  const vars = ['OCCLUM_LOG_LEVEL', 'OCCLUM_ELF_LOADER_CONFIG', 'OCCLUM_BOM_NO_NATIVE'].map((v) => env[v] ?? null);
  const who = [process.getuid?.(), process.getgid?.(), process.version, process.arch];
  return createHash('sha256').update(JSON.stringify([VERSION, argv, cwd, vars, who])).digest('hex');
}

function recordFile(key: string, env: NodeJS.ProcessEnv): string | undefined {
  const dir = cacheDir(env);
  return dir === '' ? undefined : path.join(dir, `run-${key.slice(0, 16)}.rec`);
}

/** This package's own code: other code could do other things. The executable is all of it but the addon. */
function codeFiles(): string[] {
  if (isExecutable()) return [process.execPath, ...(nativeFile ? [nativeFile] : [])];
  const files: string[] = [];
  const top = packageFile('dist');
  for (const e of readdirSync(top, { recursive: true, withFileTypes: true })) if (e.isFile()) files.push(path.join(e.parentPath, e.name));
  // The addon loaded (a local build or the package's prebuilt one), and where a local build would appear.
  const build = packageFile('build/Release/fs.node');
  return [...files.sort(), build, ...(nativeFile && nativeFile !== build ? [nativeFile] : []), packageFile('package.json')];
}

interface Part {
  kinds: string;
  paths: Buffer;
}

/**
 * `total` paths that `each` gives, in `count` parts of nearly equal size: checked in parallel by
 * the next run, and stat'ed in parallel now. Written straight into buffers, not kept as an
 * array of paths (a tree of 200,000 files gives 200,000). Null when a path holds a NUL.
 */
function partsOf(total: number, count: number, each: (add: (kind: Kind, p: string) => void) => void): Part[] | null {
  const size = Math.max(1, Math.ceil(total / count));
  const parts: Part[] = [];
  let kinds: Kind[] = []; // joined once: a string grown a letter at a time is a chain of 200,000 pieces
  let paths = collector();
  let n = 0;
  let bad = false;
  const end = () => parts.push({ kinds: kinds.join(''), paths: paths.bytes() });
  each((kind, p) => {
    if (p.includes('\0')) bad = true;
    if (n > 0 && n % size === 0) {
      end();
      [kinds, paths] = [[], collector()];
    } else if (n > 0) paths.add('\0');
    n++;
    kinds.push(kind);
    paths.add(p);
  });
  if (n > 0) end();
  return bad ? null : parts;
}

/**
 * Start the record of a run whose copies are done: what it read is stat'ed on the thread pool
 * while the manifest is made; `image` stats the root and the image as the manifest lists it
 * while the manifest is written, `finish` adds the manifest file and keeps the record.
 * `analysis`: every path the dependency analysis looked at, with the state it saw
 * (src/elf/cache.ts), or null when the analysis was not kept. Nothing is kept when a source may
 * have changed since it was read (see the top of this file); a failure only costs the next run
 * its shortcut.
 */
export function startRecord(run: { argv: readonly string[]; inputs: Inputs; analysis: readonly [string, string][] | null; startedNs: bigint }): {
  image: (root: string, rootAbs: string, manifest: { paths: readonly string[]; isDir(i: number): boolean }) => Promise<void>;
  finish: (manifestFile: string, outcome: Outcome) => Promise<void>;
} {
  const key = keyOf(run.argv, process.cwd(), process.env);
  const file = recordFile(key, process.env);
  const settledNs = run.startedNs - RACY_NS;
  const settled = earlierThan(settledNs);
  const inputs = (() => {
    if (!file) return null;
    if (run.analysis === null) {
      log.debug('record: none kept: the dependency analysis was not kept (a file it read changed within 2 s of the run, or the ELF cache is off)');
      return null;
    }
    try {
      for (const p of codeFiles()) run.inputs.add('S', p, statSync(p, { bigint: true, throwIfNoEntry: false }) ?? null);
      // A path found as a device and inode, or as nothing (the sources: 200,000 for a tree of
      // as many files), is checked by the addon as it is stat'ed; the others (BOMs read whole,
      // what the analysis saw) by their lines here.
      // Let go once handed to the addon (which copies it): the closures of `looked` keep this scope.
      let ids: Float64Array | null = new Float64Array(2 * run.inputs.size);
      const looked: { kind: Kind; path: string; same: (line: string) => boolean }[] = [];
      let n = 0;
      let unsure = false;
      const stated = partsOf(run.inputs.size, PARTS / 2, (add) => {
        // dev -1: nothing was there. A number the addon cannot compare exactly (past 2^53) is compared by its line.
        const exact = (x: number) => Number.isSafeInteger(x) && x >= 0;
        const check = (kind: Kind, p: string, dev: number, ino: number, was: () => Found) => {
          if ((kind === 'S' || kind === 'L') && (dev === -1 || (exact(dev) && exact(ino)))) {
            add(kind, p);
            ids![2 * n] = dev;
            ids![2 * n++ + 1] = ino;
            return;
          }
          const seen = was();
          looked.push({ kind, path: p, same: (line) => unchangedSince(seen, line, settled) });
        };
        run.inputs.forEach(
          (kind, p, was) => {
            if (was === null) unsure = true; // two different things: nothing to compare with
            else if (was === 'missing') check(kind, p, -1, 0, () => was);
            else {
              const colon = was.indexOf(':');
              check(kind, p, colon < 0 ? NaN : Number(was.slice(0, colon)), Number(was.slice(colon + 1)), () => was);
            }
          },
          (kind, p, dev, ino) => check(kind, p, dev, ino, () => found({ dev, ino })),
        );
      });
      for (const [p, state] of run.analysis) looked.push({ kind: state.startsWith('link:') ? 'L' : 'S', path: p, same: (line) => analysisState(line) === state }); // a link walked inside a source root: lstat
      const rest = partsOf(looked.length, 1, (add) => looked.forEach((l) => add(l.kind, l.path)));
      if (unsure) log.debug('record: none kept: a path was seen in two states during the run');
      if (unsure || !stated || !rest) return null;
      let at = 0;
      const checked = stated.map((p) => statesNow(p.kinds, p.paths, ids!.subarray(2 * at, 2 * (at += p.kinds.length)), settledNs));
      ids = null;
      const lines = rest.map((p) => statesNow(p.kinds, p.paths, 'lines'));
      return { parts: [...stated, ...rest], checked: Promise.all(checked), lines: Promise.all(lines), looked };
    } catch {
      return null;
    }
  })();
  inputs?.checked.catch(() => undefined); // awaited in image
  inputs?.lines.catch(() => undefined);
  /** The hashes of what the run read, when each path is as the run found it and settled (see the top). */
  const settledHashes = async (): Promise<Buffer[] | null> => {
    if (!inputs) return null;
    const [checked, lines] = await Promise.all([inputs.checked, inputs.lines]);
    if (checked.some((h) => h === null)) {
      if (enabled('debug')) log.debug(`record: none kept: ${unsettled(run.inputs, settled) ?? 'a source changed since it was read, or less than 2 s before the run'}`);
      return null;
    }
    const text = lines.map(([t]) => t).join('').split('\n');
    const differs = inputs.looked.findIndex((l, i) => !l.same(text[i]!));
    if (differs >= 0) log.debug(`record: none kept: ${inputs.looked[differs]!.path} is now ${text[differs]}: changed since it was read, or less than 2 s before the run`);
    return differs < 0 ? [...(checked as Buffer[]), ...lines.map(([, h]) => h)] : null;
  };
  let read: Promise<Buffer[] | null> = Promise.resolve(null);
  let image: { root: string; parts: Part[]; listedNs: bigint; hashes: Promise<Buffer[]> } | null = null;
  return {
    // The image as the manifest lists it, stat'ed on the thread pool while the manifest is
    // written, beside the check of what the run read (not waited for here: when that is not as
    // it was, finish keeps nothing, and these states go unused).
    image: async (root, rootAbs, manifest) => {
      if (!inputs) return;
      // The root as named (not normalised: `sym/..` is the kernel's), and where it leads: a link re-pointed elsewhere is a change.
      const named = root.startsWith('/') ? root : `${process.cwd()}/${root}`;
      let dirs = 0;
      for (let i = 0; i < manifest.paths.length; i++) if (manifest.isDir(i)) dirs++;
      const parts = partsOf(2 + manifest.paths.length + dirs, PARTS / 2, (add) => {
        add('L', named);
        add('S', named);
        manifest.paths.forEach((p, i) => {
          const host = p === '/' ? rootAbs : rootAbs + p; // manifest paths are normalised and absolute
          add('L', host);
          if (manifest.isDir(i)) add('D', host);
        });
      });
      read = settledHashes().catch(() => null);
      if (!parts) return;
      // Only the hashes of the image's states are kept: the addon makes them without handing over the lines.
      image = { root, parts, listedNs: BigInt(Date.now()) * 1_000_000n, hashes: Promise.all(parts.map((p) => statesNow(p.kinds, p.paths, 'hashes'))) };
      image.hashes.catch(() => undefined); // awaited in finish
    },
    finish: async (manifestFile, outcome) => {
      if (!inputs || !file || !image || manifestFile.includes('\0')) return;
      try {
        const written = partsOf(1, 1, (add) => add('L', manifestFile))![0]!; // stat'ed now that it is written
        const [readHashes, manifestHashes, imageHashes] = await Promise.all([read, statesNow(written.kinds, written.paths, 'hashes'), image.hashes]);
        if (!readHashes) return;
        const hashes = [...readHashes, manifestHashes, ...imageHashes];
        const all = [...inputs.parts, written, ...image.parts];
        const stored: Stored = { version: VERSION, key, env: [...run.inputs.env], root: image.root, listedNs: String(image.listedNs), inputs: inputs.parts.length, deltas: 0, parts: all.map((p) => ({ kinds: p.kinds, bytes: p.paths.length })), outcome };
        keep(file, stored, all.map((p) => p.paths), hashes);
      } catch {
        // a read-only cache, a path that vanished: the next run is a full one
      }
    },
  };
}

/** The first source the run read that is not as it found it, or whose ctime is too recent, with its state now (for the debug log). */
function unsettled(inputs: Inputs, settled: ReturnType<typeof earlierThan>): string | undefined {
  let first: string | undefined;
  const check = (kind: Kind, p: string, was: Found | null) => {
    if (first !== undefined) return;
    const now = stateOf(kind, p);
    if (!unchangedSince(was, now, settled)) first = `${p} is now ${now}, was ${was === null ? 'seen in two states' : JSON.stringify(was)}: changed since it was read, or less than 2 s before the run`;
  };
  inputs.forEach(
    (kind, p, was) => check(kind, p, was),
    (kind, p, dev, ino) => check(kind, p, found({ dev, ino })),
  );
  return first;
}

/** Write a record: its header, the paths of each part, their hashes. */
function keep(file: string, stored: Stored, paths: readonly Buffer[], hashes: readonly Buffer[]): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeAtomically(file, [Buffer.from(`${JSON.stringify(stored)}\n`), ...paths, ...hashes], 0o600);
}

/** What the record of the last run with this command line says now. */
export type LastRun =
  /** Every path as that run left it: its outcome stands. */
  | { root: string; outcome: Outcome; changed: [] }
  /** These paths (part and index in `record`) are not: a delta run may take them alone (src/delta.ts). */
  | { root: string; outcome: Outcome; changed: { part: number; index: number }[]; record: LoadedRecord };

/**
 * The last run with this command line, if it was recorded and no more than MAX_CHANGED of its
 * paths changed since; undefined otherwise (or when the log level asks to see every operation).
 */
export async function lastRun(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<LastRun | undefined> {
  if (enabled('info')) return undefined;
  const key = keyOf(argv, cwd, env);
  const file = recordFile(key, env);
  const data = file ? readTrusted(file) : null;
  const header = data?.indexOf(10) ?? -1;
  if (!file || !data || header < 0) return undefined;
  try {
    const stored = JSON.parse(data.subarray(0, header).toString()) as Stored;
    if (stored.version !== VERSION || stored.key !== key || !stored.env.every(([name, value]) => (env[name] ?? null) === value)) return undefined;
    let at = header + 1;
    const parts: LoadedRecord['parts'] = stored.parts.map((p) => ({ kinds: p.kinds, paths: data.subarray(at, (at += p.bytes)), hashes: Buffer.alloc(0) }));
    for (const p of parts) p.hashes = data.subarray(at, (at += HASH * p.kinds.length));
    if (at !== data.length) return undefined;
    const listedNs = BigInt(stored.listedNs);
    const differ = await Promise.all(parts.map((p) => statesNow(p.kinds, p.paths, p.hashes, listedNs)));
    const changed = differ.flatMap((d, part) => Array.from({ length: d.length / 4 }, (_, k) => ({ part, index: d.readUInt32LE(4 * k) })));
    const last = { root: stored.root, outcome: stored.outcome };
    if (changed.length === 0) {
      log.debug('nothing changed since the last run');
      return { ...last, changed: [] };
    }
    return changed.length > MAX_CHANGED ? undefined : { ...last, changed, record: { file, stored, parts } };
  } catch {
    return undefined; // a damaged record
  }
}

/**
 * Keep `record` with the paths at `refresh` (part, index) stat'ed again: after a delta run,
 * what it changed and what it took. A path it read (a part of the inputs) that changed within
 * RACY_NS of `startedNs` gets a hash no line has: the next run looks at it again.
 */
export async function refreshRecord(record: LoadedRecord, refresh: readonly { part: number; index: number }[], startedNs: bigint, outcome: Outcome): Promise<void> {
  const settled = earlierThan(startedNs - RACY_NS);
  const byPart = new Map<number, number[]>();
  for (const { part, index } of refresh) byPart.set(part, [...(byPart.get(part) ?? []), index]);
  const hashes = record.parts.map((p) => Buffer.from(p.hashes)); // a copy: the record's bytes are the file read
  for (const [part, indices] of byPart) {
    const { kinds } = record.parts[part]!;
    const paths = entriesAt(record.parts[part]!.paths, indices);
    const some = indices.map((i) => kinds[i]!).join('');
    const [text, made] = await statesNow(some, Buffer.from(paths.join('\0')), 'lines');
    const lines = text.split('\n');
    indices.forEach((index, k) => {
      const line = lines[k]!;
      const racy = part < record.stored.inputs && /^(file|dir|link|other):/.test(line) && !ctimeSettled(line, settled);
      (racy ? UNSETTLED : made.subarray(HASH * k, HASH * k + HASH)).copy(hashes[part]!, HASH * index);
    });
  }
  keep(record.file, { ...record.stored, deltas: record.stored.deltas + 1, outcome }, record.parts.map((p) => p.paths), hashes);
}
