// Hostile ELF input (issue 8, point 1): mutated copies of real ELF files (truncated at every
// interesting offset, flipped bytes in the headers and the dynamic section, offsets past the
// end, loops) and crafted ones. readElfFile and a resolver must never throw and never hang:
// each answer is a proper status with a reason. `occlum-bom deps --json` on a batch of them
// exits 0 or 1 with valid JSON and no stack trace, within a time and memory bound.
//
// Byte flips are drawn by fast-check with a fixed seed (FUZZ_SEED=<n> to replay another, in
// every failure message); FUZZ_SCALE multiplies the number of runs.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createResolver, readElfFile, type Resolution } from '../src/elf/index.ts';
import { runLimited, tmp, type Child } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0xe1f);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** Per call: reading one file, resolving one file (with all its libraries). */
const READ_MS = 2000;
const RESOLVE_MS = 5000;

/** Real ELF files of the host: a program, libc, a small library, the loader (no DT_NEEDED). */
const ORIGINALS = [
  '/usr/bin/ls',
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/usr/lib/x86_64-linux-gnu/libselinux.so.1',
  '/lib64/ld-linux-x86-64.so.2',
].filter((f) => existsSync(f));

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_RUNPATH = 29n;

/** Where things are in a 64-bit little-endian ELF file, read here independently of src/elf. */
interface Layout {
  phoff: number;
  phentsize: number;
  phnum: number;
  /** File offsets of the program headers of each type (first one). */
  ph: { interp?: number; dynamic?: number; load?: number };
  interp?: { offset: number; size: number };
  dynamic?: { offset: number; size: number; entries: { at: number; tag: bigint; val: bigint }[] };
  strtab?: number;
  needed: number[];
}

function layout(b: Buffer): Layout {
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  const out: Layout = { phoff, phentsize, phnum, ph: {}, needed: [] };
  const loads: { offset: bigint; vaddr: bigint; filesz: bigint }[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = b.readUInt32LE(o);
    const offset = b.readBigUInt64LE(o + 8);
    const vaddr = b.readBigUInt64LE(o + 16);
    const filesz = b.readBigUInt64LE(o + 32);
    if (type === PT_LOAD) {
      out.ph.load ??= o;
      loads.push({ offset, vaddr, filesz });
    }
    if (type === PT_INTERP && out.ph.interp === undefined) {
      out.ph.interp = o;
      out.interp = { offset: Number(offset), size: Number(filesz) };
    }
    if (type === PT_DYNAMIC) {
      out.ph.dynamic = o;
      out.dynamic = { offset: Number(offset), size: Number(filesz), entries: [] };
    }
  }
  const toOffset = (vaddr: bigint) => {
    const l = loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    return l ? Number(l.offset + (vaddr - l.vaddr)) : undefined;
  };
  if (out.dynamic) {
    for (let at = out.dynamic.offset; at + 16 <= out.dynamic.offset + out.dynamic.size; at += 16) {
      const tag = b.readBigUInt64LE(at);
      const val = b.readBigUInt64LE(at + 8);
      out.dynamic.entries.push({ at, tag, val });
      if (tag === 0n) break;
    }
    const strtab = out.dynamic.entries.find((e) => e.tag === DT_STRTAB);
    if (strtab) out.strtab = toOffset(strtab.val);
    if (out.strtab !== undefined) {
      for (const e of out.dynamic.entries) if (e.tag === DT_NEEDED) out.needed.push(out.strtab + Number(e.val));
    }
  }
  return out;
}

/** A copy of `b` with `edit` applied. */
function mutate(b: Buffer, edit: (c: Buffer) => void): Buffer {
  const c = Buffer.from(b);
  edit(c);
  return c;
}

interface Mutant {
  name: string;
  bytes: Buffer;
}

/** Truncations at every interesting offset of the file. */
function truncations(name: string, b: Buffer, l: Layout): Mutant[] {
  const cuts = new Set<number>([0, 1, 3, 4, 5, 6, 15, 16, 17, 18, 20, 32, 40, 52, 54, 56, 58, 63, 64]);
  const add = (o: number | undefined, ...ds: number[]) => {
    if (o !== undefined) for (const d of ds) if (o + d >= 0 && o + d < b.length) cuts.add(o + d);
  };
  add(l.phoff, 0, 1, 8, 55, 56, 57);
  add(l.phoff + l.phnum * l.phentsize, -1, 0);
  add(l.ph.interp, 0, 4, 40);
  add(l.ph.dynamic, 0, 8, 40);
  add(l.interp?.offset, 0, 1, 5);
  add(l.interp && l.interp.offset + l.interp.size, -1);
  add(l.dynamic?.offset, 0, 1, 8, 15, 16, 17, 100);
  add(l.dynamic && l.dynamic.offset + l.dynamic.size, -1, 0);
  add(l.strtab, 0, 1, 7);
  for (const n of l.needed.slice(0, 6)) add(n, 0, 2);
  add(b.length, -1, -4096);
  return [...cuts].sort((x, y) => x - y).map((at) => ({ name: `${name} truncated at ${at}`, bytes: b.subarray(0, at) }));
}

/** Targeted corruptions of the headers, the program headers and the dynamic section. */
function corruptions(name: string, b: Buffer, l: Layout): Mutant[] {
  const out: Mutant[] = [];
  const m = (what: string, edit: (c: Buffer) => void) => out.push({ name: `${name}: ${what}`, bytes: mutate(b, edit) });
  const u64 = (at: number, v: bigint) => (c: Buffer) => c.writeBigUInt64LE(v, at);
  const u16 = (at: number, v: number) => (c: Buffer) => c.writeUInt16LE(v, at);
  const u32 = (at: number, v: number) => (c: Buffer) => c.writeUInt32LE(v, at);
  const u8 = (at: number, v: number) => (c: Buffer) => void (c[at] = v);
  const HUGE = [0xffffffffffffffffn, 1n << 63n, 1n << 53n, (1n << 53n) - 1n, 0x7fffffffn, BigInt(b.length), BigInt(b.length - 1)];

  for (const v of [0, 3, 1, 255]) m(`EI_CLASS = ${v}`, u8(4, v));
  for (const v of [0, 2, 3]) m(`EI_DATA = ${v}`, u8(5, v));
  m('EI_VERSION = 0', u8(6, 0));
  m('EI_OSABI = 3, EI_ABIVERSION = 9', (c) => void ((c[7] = 3), (c[8] = 9)));
  for (const v of [0, 1, 4, 0xfe00, 0xffff]) m(`e_type = ${v}`, u16(16, v));
  for (const v of [0, 3, 40, 183, 0xffff]) m(`e_machine = ${v}`, u16(18, v));
  for (const v of [0n, 1n, ...HUGE]) m(`e_phoff = ${v}`, u64(32, v));
  for (const v of [0, 1, 55, 57, 0xffff]) m(`e_phentsize = ${v}`, u16(54, v));
  for (const v of [0, 1, 4096, 4097, 0xffff]) m(`e_phnum = ${v}`, u16(56, v));
  // Program headers overlapping the ELF header, or the whole file.
  m('e_phoff = 16 (phdrs overlap the header)', u64(32, 16n));

  const dyn = l.ph.dynamic;
  if (dyn !== undefined) {
    for (const v of [0n, 1n, ...HUGE]) m(`PT_DYNAMIC p_offset = ${v}`, u64(dyn + 8, v));
    for (const v of [0n, ...HUGE]) m(`PT_DYNAMIC p_vaddr = ${v}`, u64(dyn + 16, v));
    for (const v of [0n, 1n, 15n, 17n, 1n << 20n, 1n << 40n, ...HUGE]) m(`PT_DYNAMIC p_filesz = ${v} (huge count)`, u64(dyn + 32, v));
    m('PT_DYNAMIC type -> PT_LOAD', u32(dyn, PT_LOAD));
    // Two PT_DYNAMIC: the last one wins, make it point at the program headers.
    if (l.ph.interp !== undefined) m('PT_INTERP -> a second PT_DYNAMIC over the program headers', (c) => {
      c.writeUInt32LE(PT_DYNAMIC, l.ph.interp!);
      c.writeBigUInt64LE(BigInt(l.phoff), l.ph.interp! + 8);
    });
  }
  const interp = l.ph.interp;
  if (interp !== undefined && l.interp) {
    for (const v of [0n, ...HUGE]) m(`PT_INTERP p_offset = ${v}`, u64(interp + 8, v));
    for (const v of [0n, 1n, ...HUGE]) m(`PT_INTERP p_filesz = ${v}`, u64(interp + 32, v));
    m('PT_INTERP without its NUL', (c) => c.fill(0x41, l.interp!.offset, l.interp!.offset + l.interp!.size));
    m('PT_INTERP names the file itself', (c) => c.write('/proc/self/exe\0', l.interp!.offset));
    m('PT_INTERP names a directory', (c) => c.write('/\0', l.interp!.offset));
    m('PT_INTERP names /dev/zero', (c) => c.write('/dev/zero\0', l.interp!.offset));
    m('PT_INTERP is empty', (c) => void (c[l.interp!.offset] = 0));
  }
  if (l.ph.load !== undefined) {
    m('first PT_LOAD p_filesz = 0', u64(l.ph.load + 32, 0n));
    m('first PT_LOAD p_vaddr = 2^63', u64(l.ph.load + 16, 1n << 63n));
    m('first PT_LOAD p_offset = huge', u64(l.ph.load + 8, 0xfffffffffffff000n));
    m('no PT_LOAD at all', (c) => {
      for (let i = 0; i < l.phnum; i++) if (c.readUInt32LE(l.phoff + i * l.phentsize) === PT_LOAD) c.writeUInt32LE(0, l.phoff + i * l.phentsize);
    });
  }
  const d = l.dynamic;
  if (d) {
    const entry = (tag: bigint) => d.entries.find((e) => e.tag === tag);
    const strtab = entry(DT_STRTAB);
    const firstNeeded = entry(DT_NEEDED);
    const dynVaddr = dyn !== undefined ? b.readBigUInt64LE(dyn + 16) : 0n;
    if (strtab) {
      m('DT_STRTAB points into the dynamic section itself', u64(strtab.at + 8, dynVaddr));
      for (const v of [0n, ...HUGE]) m(`DT_STRTAB = ${v}`, u64(strtab.at + 8, v));
      m('DT_STRTAB removed (tag -> DT_NEEDED)', u64(strtab.at, DT_NEEDED));
    }
    if (firstNeeded) {
      for (const v of [0n, ...HUGE, 1n << 32n]) m(`DT_NEEDED = ${v}`, u64(firstNeeded.at + 8, v));
    }
    const nul = d.entries.find((e) => e.tag === 0n);
    if (nul) {
      m('DT_NULL removed (tag -> DT_NEEDED 0): the walk runs to the end of PT_DYNAMIC', (c) => c.writeBigUInt64LE(DT_NEEDED, nul.at));
      m('DT_NULL removed and PT_DYNAMIC p_filesz = 1 MiB', (c) => {
        c.writeBigUInt64LE(7n, nul.at);
        if (dyn !== undefined) c.writeBigUInt64LE(1n << 20n, dyn + 32);
      });
    }
    m('every dynamic entry is DT_NEEDED 0 (the same empty name many times)', (c) => {
      for (const e of d.entries) if (e.tag !== DT_STRTAB && e.tag !== 0n) c.writeBigUInt64LE(DT_NEEDED, e.at), c.writeBigUInt64LE(0n, e.at + 8);
    });
    m('every dynamic entry is DT_NEEDED with a distinct offset', (c) => {
      let k = 1n;
      for (const e of d.entries) if (e.tag !== DT_STRTAB && e.tag !== 0n) c.writeBigUInt64LE(DT_NEEDED, e.at), c.writeBigUInt64LE(k++ * 3n, e.at + 8);
    });
    if (l.strtab !== undefined) {
      m('DT_RUNPATH of $ORIGIN, $LIB and $PLATFORM tokens', (c) => {
        const other = d.entries.find((e) => e.tag !== DT_STRTAB && e.tag !== DT_NEEDED && e.tag !== 0n);
        if (!other) return;
        const at = l.needed[0] ?? l.strtab!;
        c.write('$ORIGIN/../$LIB/${PLATFORM}/$ORIGIN:$ORIGIN:${ORIGIN}/..:$:${\0', at);
        c.writeBigUInt64LE(DT_RUNPATH, other.at);
        c.writeBigUInt64LE(BigInt(at - l.strtab!), other.at + 8);
      });
      if (l.needed[0] !== undefined) {
        m('DT_NEEDED names the loader by path', (c) => c.write('/lib64/ld-linux-x86-64.so.2\0', l.needed[0]!));
        m('DT_NEEDED names a directory, /proc/self/exe and /dev/zero', (c) => {
          const names = ['/\0', '/proc/self/exe\0', '/dev/zero\0'];
          l.needed.slice(0, 3).forEach((at, i) => c.write(names[i]!, at));
        });
        m('DT_NEEDED names without NUL up to the end of the string table', (c) => c.fill(0x61, l.needed[0]!, Math.min(c.length, l.needed[0]! + 70_000)));
      }
    }
  }
  return out;
}

/** A mutant whose library needs itself, and a pair of libraries needing each other. */
function loops(libBytes: Buffer, l: Layout, dir: string): { program: string; libDir: string; name: string }[] {
  const out: { program: string; libDir: string; name: string }[] = [];
  if (l.needed.length === 0) return out;
  // libselinux needs libc.so.6 and libpcre2: make its first DT_NEEDED name itself.
  const selfDir = path.join(dir, 'loop-self');
  mkdirSync(selfDir, { recursive: true });
  writeFileSync(path.join(selfDir, 'libselinux.so.1'), mutate(libBytes, (c) => c.write('libselinux.so.1\0', l.needed[0]!)));
  out.push({ program: '/usr/bin/ls', libDir: selfDir, name: 'a library that needs itself' });
  // A cycle through two libraries: libselinux needs libloopb.so, which needs libselinux.so.1.
  const pairDir = path.join(dir, 'loop-pair');
  mkdirSync(pairDir, { recursive: true });
  writeFileSync(path.join(pairDir, 'libselinux.so.1'), mutate(libBytes, (c) => c.write('libloopb.so\0', l.needed[0]!)));
  writeFileSync(path.join(pairDir, 'libloopb.so'), mutate(libBytes, (c) => c.write('libselinux.so.1\0', l.needed[0]!)));
  out.push({ program: '/usr/bin/ls', libDir: pairDir, name: 'two libraries that need each other' });
  return out;
}

/** JSON with bigints (ELF fields) as strings, for failure messages. */
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))?.slice(0, 500) ?? String(v);

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang?)`)), ms);
    }),
  ]);
}

const STATUSES = new Set(['unreadable', 'not-elf', 'not-dynamic', 'unsupported', 'dynamic']);

/** A proper answer: a status, with a reason unless dynamic; a dynamic one lists well-formed libraries. */
function checkResolution(r: Resolution, file: string): void {
  assert.ok(STATUSES.has(r.status), `${file}: status ${String(r.status)}`);
  assert.equal(r.file, file);
  if (r.status !== 'dynamic') {
    assert.equal(typeof r.reason, 'string', `${file}: ${r.status} without a reason`);
    assert.ok(r.reason.length > 0, `${file}: ${r.status} with an empty reason`);
    return;
  }
  assert.ok(Array.isArray(r.libraries));
  assert.ok(r.fatal === null || (typeof r.fatal === 'string' && r.fatal.length > 0), `${file}: fatal ${String(r.fatal)}`);
  for (const lib of r.libraries) {
    assert.equal(typeof lib.name, 'string');
    assert.ok(lib.path === null || typeof lib.path === 'string');
  }
}

/** readElfFile and resolve on one file: never throw, bounded time, proper results. */
async function analyse(file: string, resolver = createResolver()): Promise<string> {
  const r = await timeout(readElfFile(file), READ_MS, `readElfFile(${file})`);
  assert.ok(r.ok === true || (typeof r.reason === 'string' && r.reason.length > 0), `${file}: readElfFile gave ${json(r)}`);
  if (r.ok) assert.ok(r.elf.dynamic === null || r.elf.dynamic.needed.every((n) => typeof n === 'string'));
  const res = await timeout(resolver.resolve(file), RESOLVE_MS, `resolve(${file})`);
  checkResolution(res, file);
  return res.status === 'dynamic' && res.fatal !== null ? 'dynamic (fatal)' : res.status;
}

/** "status: count, ..." of the answers, for the diagnostics. */
function histogram(statuses: string[]): string {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s}: ${n}`).join(', ');
}

/** occlum-bom with a wall-clock limit and a heap limit; killed when over time. */
function occlumBom(args: string[], opts: { ms: number; heapMb: number }): Promise<Child> {
  return runLimited('occlum-bom', args, opts);
}

/** The contract of `deps --json`: exit 0 or 1, one JSON array with an entry per file, errors as one line each. */
function checkDepsRun(r: Child, files: string[], what: string): void {
  const head = `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''} after ${Math.round(r.ms)} ms${r.timedOut ? ' (killed: over the time limit)' : ''}; stderr: ${r.stderr.slice(0, 600)}`;
  assert.ok(!r.timedOut, head);
  assert.ok(r.code === 0 || r.code === 1, head);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: a stack trace on stderr`);
  assert.doesNotMatch(r.stderr, /FATAL ERROR|heap out of memory/, head);
  for (const line of r.stderr.split('\n').filter(Boolean)) assert.match(line, /^occlum-bom: /, `${what}: stderr line ${JSON.stringify(line.slice(0, 200))}`);
  let json: unknown;
  assert.doesNotThrow(() => (json = JSON.parse(r.stdout)), `${what}: stdout is not JSON: ${r.stdout.slice(0, 200)}`);
  assert.ok(Array.isArray(json), `${what}: not an array`);
  const entries = json as { file: string; interpreter: unknown; libraries: unknown; error?: unknown }[];
  assert.equal(entries.length, files.length, `${what}: ${entries.length} entries for ${files.length} files`);
  entries.forEach((e, i) => {
    assert.equal(e.file, files[i]);
    assert.ok(Array.isArray(e.libraries));
    assert.ok(e.error === undefined || (typeof e.error === 'string' && e.error.length > 0));
  });
  if (entries.some((e) => e.error !== undefined)) assert.equal(r.code, 1, `${what}: errors but exit 0`);
}

/**
 * A minimal x86-64 ELF shared object with PT_LOAD over the whole file, PT_INTERP and a
 * PT_DYNAMIC of DT_NEEDED entries at the given string table offsets.
 */
function craftElf(needed: readonly number[], strtab: Buffer): Buffer {
  const interp = Buffer.from('/lib64/ld-linux-x86-64.so.2\0');
  const phoff = 64;
  const phnum = 3;
  const interpOff = phoff + phnum * 56;
  const dynOff = Math.ceil((interpOff + interp.length) / 8) * 8;
  const dynSize = (needed.length + 2) * 16;
  const strOff = dynOff + dynSize;
  const b = Buffer.alloc(strOff + strtab.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(62, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(phoff), 32);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(phnum, 56);
  const ph = (i: number, type: number, off: number, size: number, flags: number) => {
    const o = phoff + i * 56;
    b.writeUInt32LE(type, o);
    b.writeUInt32LE(flags, o + 4);
    for (const f of [8, 16, 24]) b.writeBigUInt64LE(BigInt(off), o + f);
    b.writeBigUInt64LE(BigInt(size), o + 32);
    b.writeBigUInt64LE(BigInt(size), o + 40);
    b.writeBigUInt64LE(0x1000n, o + 48);
  };
  ph(0, PT_LOAD, 0, b.length, 5);
  ph(1, PT_INTERP, interpOff, interp.length, 4);
  ph(2, PT_DYNAMIC, dynOff, dynSize, 6);
  interp.copy(b, interpOff);
  let o = dynOff;
  for (const n of needed) {
    b.writeBigUInt64LE(DT_NEEDED, o);
    b.writeBigUInt64LE(BigInt(n), o + 8);
    o += 16;
  }
  b.writeBigUInt64LE(DT_STRTAB, o);
  b.writeBigUInt64LE(BigInt(strOff), o + 8);
  strtab.copy(b, strOff);
  return b;
}

describe(`mutated ELF files (FUZZ_SEED=${SEED})`, { skip: ORIGINALS.length < 2 && 'the host ELF files are not there' }, () => {
  let dir: string;
  const originals: { name: string; bytes: Buffer; layout: Layout }[] = [];
  const written: string[] = [];
  const write = (name: string, bytes: Buffer): string => {
    const file = path.join(dir, `${String(written.length).padStart(4, '0')}-${name.replace(/[^A-Za-z0-9.=-]+/g, '_').slice(0, 80)}`);
    writeFileSync(file, bytes, { mode: 0o755 });
    written.push(file);
    return file;
  };

  before(() => {
    dir = tmp('occlum-bom-fuzz-elf-');
    for (const f of ORIGINALS) {
      const copy = path.join(dir, path.basename(f));
      copyFileSync(realpathSync(f), copy);
      const bytes = readFileSync(copy);
      originals.push({ name: path.basename(f), bytes, layout: layout(bytes) });
    }
  });

  it('the originals are read and resolved (the mutations start from sane files)', async () => {
    for (const o of originals) {
      const r = await readElfFile(path.join(dir, o.name));
      assert.ok(r.ok, `${o.name}: ${json(r)}`);
      assert.ok(o.layout.dynamic, `${o.name} has a dynamic section`);
    }
  });

  it('truncations at every interesting offset: never throw, bounded time, a status with a reason', async (t) => {
    const resolver = createResolver();
    const statuses: string[] = [];
    for (const o of originals) {
      for (const m of truncations(o.name, o.bytes, o.layout)) statuses.push(await analyse(write(m.name, m.bytes), resolver));
    }
    t.diagnostic(`${statuses.length} truncated files: ${histogram(statuses)}`);
  });

  it('corrupted headers, program headers and dynamic sections (offsets past the end, huge counts, self-references)', async (t) => {
    const resolver = createResolver();
    const statuses: string[] = [];
    for (const o of originals) {
      for (const m of corruptions(o.name, o.bytes, o.layout)) {
        const file = write(m.name, m.bytes);
        statuses.push(
          await analyse(file, resolver).catch((e: Error) => {
            throw new Error(`${m.name}: ${e.message}`);
          }),
        );
      }
    }
    t.diagnostic(`${statuses.length} corrupted files: ${histogram(statuses)}`);
  });

  it('random byte flips in the ELF header, program headers, PT_INTERP, dynamic section and string table', async (t) => {
    const resolver = createResolver();
    const statuses: string[] = [];
    const regions = originals.flatMap((o) => {
      const l = o.layout;
      const rs: { o: typeof o; from: number; to: number; what: string }[] = [
        { o, from: 0, to: 64, what: 'ELF header' },
        { o, from: l.phoff, to: l.phoff + l.phnum * l.phentsize, what: 'program headers' },
      ];
      if (l.interp) rs.push({ o, from: l.interp.offset, to: l.interp.offset + l.interp.size, what: 'PT_INTERP' });
      if (l.dynamic) rs.push({ o, from: l.dynamic.offset, to: l.dynamic.offset + l.dynamic.entries.length * 16, what: 'dynamic section' });
      if (l.strtab !== undefined) rs.push({ o, from: l.strtab, to: Math.min(o.bytes.length, l.strtab + 512), what: 'string table' });
      return rs;
    });
    const flip = fc.record({ at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xff, 0x7f, 0x80)) });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: regions.length - 1 }), fc.array(flip, { minLength: 1, maxLength: 6 }), async (index, flips) => {
        const region = regions[index]!;
        const bytes = mutate(region.o.bytes, (c) => {
          for (const f of flips) c[region.from + (f.at % Math.max(1, region.to - region.from))] = f.value;
        });
        const file = write(`${region.o.name}-flip-${region.what}`, bytes);
        statuses.push(
          await analyse(file, resolver).catch((e: Error) => {
            throw new Error(`${region.o.name}, ${region.what} [${region.from}, ${region.to}): ${e.message}`);
          }),
        );
      }),
      { seed: SEED, numRuns: runs(400), interruptAfterTimeLimit: 20_000, includeErrorInReport: true },
    );
    t.diagnostic(`${statuses.length} files with flipped bytes: ${histogram(statuses)}`);
  });

  it('mutated libraries met while resolving a program (LD_LIBRARY_PATH): truncated, corrupted, looping', async () => {
    const lib = originals.find((o) => o.name === 'libselinux.so.1');
    const program = path.join(dir, 'ls');
    if (!lib || !existsSync(program)) return;
    const cases = [
      ...truncations(lib.name, lib.bytes, lib.layout).filter((_, i) => i % 2 === 0),
      ...corruptions(lib.name, lib.bytes, lib.layout).filter((_, i) => i % 3 === 0),
    ];
    for (const [i, m] of cases.entries()) {
      const libDir = path.join(dir, `libdir${i}`);
      mkdirSync(libDir);
      writeFileSync(path.join(libDir, 'libselinux.so.1'), m.bytes);
      const r = await timeout(createResolver({ ldLibraryPath: libDir }).resolve(program), RESOLVE_MS, `resolve ls with ${m.name}`);
      checkResolution(r, program);
    }
    for (const loop of loops(lib.bytes, lib.layout, dir)) {
      const r = await timeout(createResolver({ ldLibraryPath: loop.libDir }).resolve(program), RESOLVE_MS, `resolve ls with ${loop.name}`);
      checkResolution(r, program);
      assert.equal(r.status, 'dynamic', loop.name);
    }
  });

  it('occlum-bom deps --json on a batch of mutated files: exit 0 or 1, valid JSON, no stack trace', async () => {
    // Every 3rd file written so far, plus a missing one and a directory.
    const files = [...written.filter((_, i) => i % 3 === 0), path.join(dir, 'does-not-exist'), dir];
    const r = await occlumBom(['deps', '--json', ...files], { ms: 30_000, heapMb: 512 });
    checkDepsRun(r, files, `deps --json on ${files.length} files`);
    assert.equal(r.code, 1, 'a missing file makes the run fail');
  });
});

describe('crafted ELF files that amplify work (bounded time and memory)', { concurrency: true }, () => {
  // Real files have a few dozen DT_NEEDED entries at most; PT_DYNAMIC is read up to 1 MiB, so
  // a crafted file can hold 65,000 of them. Each is checked in a child process with a heap of
  // 256 MB and 10 s: more than enough for any real program, far less than these would take if
  // the cost of a file grew with (entries x name length) or (entries^2).
  const dir = tmp('occlum-bom-fuzz-elf-crafted-');

  it('65,000 DT_NEEDED entries whose names are the suffixes of one 65 KB string (~2 GB of names)', async () => {
    const n = 65_000;
    const strtab = Buffer.alloc(n + 2, 0x61);
    strtab[0] = 0;
    strtab[n + 1] = 0;
    const file = path.join(dir, 'suffixes.so');
    writeFileSync(file, craftElf(Array.from({ length: n }, (_, i) => 1 + i), strtab));
    checkDepsRun(await occlumBom(['deps', '--json', file], { ms: 10_000, heapMb: 256 }), [file], 'deps on a file of 65,000 long DT_NEEDED names');
  });

  it('65,000 DT_NEEDED entries with distinct short names (libN.so)', async () => {
    const names = Array.from({ length: 65_000 }, (_, i) => `l${i}.so`);
    const strtab = Buffer.from(`\0${names.join('\0')}\0`);
    let off = 1;
    const offsets = names.map((x) => {
      const at = off;
      off += x.length + 1;
      return at;
    });
    const file = path.join(dir, 'many.so');
    writeFileSync(file, craftElf(offsets, strtab));
    checkDepsRun(await occlumBom(['deps', '--json', file], { ms: 10_000, heapMb: 256 }), [file], 'deps on a file of 65,000 distinct DT_NEEDED names');
  });

  it('a modest crafted file (300 DT_NEEDED entries) is answered quickly', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `libx${i}.so`);
    const strtab = Buffer.from(`\0${names.join('\0')}\0`);
    let off = 1;
    const file = path.join(dir, 'modest.so');
    writeFileSync(
      file,
      craftElf(
        names.map((x) => {
          const at = off;
          off += x.length + 1;
          return at;
        }),
        strtab,
      ),
    );
    const r = await occlumBom(['deps', '--json', file], { ms: 10_000, heapMb: 256 });
    checkDepsRun(r, [file], 'deps on a file of 300 DT_NEEDED entries');
    const [entry] = JSON.parse(r.stdout) as { libraries: { name: string; path: string | null }[] }[];
    assert.ok(entry!.libraries.filter((l) => l.path === null).length >= 300, 'the 300 made-up libraries are reported not found');
  });
});
