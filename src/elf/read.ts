// A small ELF reader for dependency analysis: the ELF header, the program headers, PT_INTERP and
// the names and flags of the dynamic section. It reads only what it needs with positioned reads
// (a 100 MB library costs a few kilobytes), bounds every read and loop by the file size, and
// reports malformed input as a value: it never throws on file contents.
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { describeFsError } from '../errors.js';
import { native } from '../fsops/native.js';
import { inParts } from '../pool.js';

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;

const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
const DT_FLAGS_1 = 0x6ffffffbn;

export const DF_1_NODEFLIB = 0x800;
export const DF_1_PIE = 0x08000000;

/** Bytes of the ELF header for a class (Elf32_Ehdr, Elf64_Ehdr). */
export const ehdrSize = (bits: 32 | 64): number => (bits === 64 ? 64 : 52);
/** Bytes of one program header for a class (Elf32_Phdr, Elf64_Phdr). */
export const phdrSize = (bits: 32 | 64): number => (bits === 64 ? 56 : 32);

export interface ElfHeader {
  bits: 32 | 64;
  littleEndian: boolean;
  /** e_ident[EI_VERSION], e_ident[EI_OSABI], e_ident[EI_ABIVERSION]. */
  identVersion: number;
  osabi: number;
  abiVersion: number;
  /** True when the padding bytes of e_ident are all zero. */
  identPaddingZero: boolean;
  type: number;
  machine: number;
  version: number;
  /** e_flags: machine sub-variants (float ABI and the like; none on x86). */
  flags: number;
  phoff: number;
  phentsize: number;
  phnum: number;
}

/** Addresses and sizes are bigints: a 64-bit field does not fit a double. */
export interface ProgramHeader {
  type: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface DynamicInfo {
  needed: string[];
  soname: string | null;
  /** DT_RPATH as written; both loaders ignore it when DT_RUNPATH is present, so do the users. */
  rpath: string | null;
  runpath: string | null;
  /** DT_FLAGS_1 (DF_1_NODEFLIB, DF_1_PIE, ...), 0 when absent. */
  flags1: number;
}

export interface ElfInfo {
  header: ElfHeader;
  loads: ProgramHeader[];
  /** PT_INTERP up to its first NUL. */
  interpreter: string | null;
  /** Null when there is no PT_DYNAMIC with contents: not a dynamically linked file. */
  dynamic: DynamicInfo | null;
}

export type ElfResult = { ok: true; elf: ElfInfo } | { ok: false; reason: string };

const MAGIC = [0x7f, 0x45, 0x4c, 0x46];
/** Bounds on things that are small in any real file, so a corrupt one cannot make us read much. */
const MAX_PHNUM = 4096;
const MAX_DYNAMIC_BYTES = 1 << 20;
const MAX_NEEDED = 1024;
const MAX_STRING = 1 << 16;

/** True when the bytes start with the ELF magic number. */
export function hasElfMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Cheap check: does the file start with the ELF magic? False for unreadable files. Synchronous
 * (three system calls, run over every file of a copied tree); for regular files only: opening
 * a FIFO would wait for a writer.
 */
export function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(4);
    return readSync(fd, buf, 0, 4, 0) === 4 && hasElfMagic(buf);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `isElf` of many files, read in parallel on the thread pool by the addon when it is there. */
export async function elfFiles(paths: readonly string[]): Promise<boolean[]> {
  if (!native || paths.some((p) => p.includes('\0'))) return paths.map((p) => isElf(p));
  const parts = inParts(paths, 4);
  const answers = await Promise.all(parts.map((part) => native!.elfMagic(Buffer.from(part.join('\0')))));
  return parts.flatMap((part, i) => part.map((_, j) => answers[i]![j] === 1));
}

/** Reads the ELF file at path. Errors opening or reading it are reported as the reason. */
export async function readElfFile(path: string): Promise<ElfResult> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    return await readElf(fh, st.size);
  } catch (e) {
    return { ok: false, reason: describeFsError(e) };
  } finally {
    await fh?.close();
  }
}

/** Decodes e_ident and the ELF header from the first bytes of a file. */
export function parseHeader(bytes: Uint8Array): { ok: true; header: ElfHeader } | { ok: false; reason: string } {
  if (!hasElfMagic(bytes)) return { ok: false, reason: 'not an ELF file' };
  if (bytes.length < 16) return { ok: false, reason: 'truncated ELF header' };
  const cls = bytes[4]!;
  const data = bytes[5]!;
  if (cls !== 1 && cls !== 2) return { ok: false, reason: `unknown ELF class ${cls}` };
  if (data !== 1 && data !== 2) return { ok: false, reason: `unknown ELF data encoding ${data}` };
  const bits = cls === 2 ? 64 : 32;
  if (bytes.length < ehdrSize(bits)) return { ok: false, reason: 'truncated ELF header' };
  const le = data === 1;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const addr = (off: number): number =>
    bits === 64 ? safeNumber(v.getBigUint64(off, le)) : v.getUint32(off, le);
  // Field offsets differ by class only from e_entry on (its width shifts everything after it).
  const [phoffAt, flagsAt, phentAt] = bits === 64 ? [32, 48, 54] : [28, 36, 42];
  return {
    ok: true,
    header: {
      bits,
      littleEndian: le,
      identVersion: bytes[6]!,
      osabi: bytes[7]!,
      abiVersion: bytes[8]!,
      identPaddingZero: bytes.subarray(9, 16).every((b) => b === 0),
      type: v.getUint16(16, le),
      machine: v.getUint16(18, le),
      version: v.getUint32(20, le),
      phoff: addr(phoffAt),
      flags: v.getUint32(flagsAt, le),
      phentsize: v.getUint16(phentAt, le),
      phnum: v.getUint16(phentAt + 2, le),
    },
  };
}

/**
 * readElf's first read: the ELF header and, in every linker's layout, the program headers and
 * PT_INTERP. Callers that already hold these bytes can pass them in.
 */
export const HEAD_BYTES = 4096;

/**
 * Reads the program headers, PT_INTERP and the dynamic section of an open ELF file of `size`
 * bytes. `head`, when given, must hold the file's first min(size, HEAD_BYTES) bytes.
 */
/** What the reader needs of an open file: positioned reads (a FileHandle, or a shim over a descriptor). */
export interface ByteSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export async function readElf(fh: ByteSource, size: number, head?: Buffer): Promise<ElfResult> {
  const reader = new Reader(fh, size);
  head ??= await reader.read(0, Math.min(size, HEAD_BYTES));
  const parsed = parseHeader(head);
  if (!parsed.ok) return parsed;
  const h = parsed.header;

  if (h.phnum > MAX_PHNUM) return { ok: false, reason: `too many program headers (${h.phnum})` };
  if (h.phnum > 0 && h.phentsize < phdrSize(h.bits)) {
    return { ok: false, reason: `e_phentsize ${h.phentsize} too small` };
  }
  const phBytes = h.phnum * h.phentsize;
  if (h.phoff + phBytes > size) return { ok: false, reason: 'program headers beyond end of file' };
  const phTable =
    h.phoff + phBytes <= head.length
      ? head.subarray(h.phoff, h.phoff + phBytes)
      : await reader.read(h.phoff, phBytes);
  const phdrs = Array.from({ length: h.phnum }, (_, i) =>
    parsePhdr(phTable.subarray(i * h.phentsize), h),
  );
  const loads = phdrs.filter((p) => p.type === PT_LOAD);

  // The kernel reads PT_INTERP from the file; like it, take the first one.
  const interpPh = phdrs.find((p) => p.type === PT_INTERP);
  let interpreter: string | null = null;
  if (interpPh) {
    const r = await reader.cString(interpPh.offset, interpPh.filesz);
    if (!r.ok) return { ok: false, reason: `PT_INTERP: ${r.reason}` };
    interpreter = r.value;
  }

  // The loaders use the last PT_DYNAMIC and read it in memory, i.e. through the PT_LOAD
  // segments; one without contents (separate debug files) counts as absent, as in glibc.
  const dynPh = phdrs.filter((p) => p.type === PT_DYNAMIC).at(-1);
  if (!dynPh || dynPh.filesz === 0n) return { ok: true, elf: { header: h, loads, interpreter, dynamic: null } };
  const dynamic = await readDynamic(reader, h, loads, dynPh);
  if (!dynamic.ok) return dynamic;
  return { ok: true, elf: { header: h, loads, interpreter, dynamic: dynamic.value } };
}

function parsePhdr(b: Uint8Array, h: ElfHeader): ProgramHeader {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = h.littleEndian;
  if (h.bits === 64) {
    return {
      type: v.getUint32(0, le),
      offset: v.getBigUint64(8, le),
      vaddr: v.getBigUint64(16, le),
      filesz: v.getBigUint64(32, le),
      memsz: v.getBigUint64(40, le),
      align: v.getBigUint64(48, le),
    };
  }
  const u = (off: number) => BigInt(v.getUint32(off, le));
  return { type: v.getUint32(0, le), offset: u(4), vaddr: u(8), filesz: u(16), memsz: u(20), align: u(28) };
}

/** File offset of the virtual address range [vaddr, vaddr+len) if a PT_LOAD maps it from the file. */
function vaddrToOffset(loads: ProgramHeader[], vaddr: bigint, len: bigint): bigint | null {
  for (const l of loads) {
    if (vaddr >= l.vaddr && vaddr + len <= l.vaddr + l.filesz) return l.offset + (vaddr - l.vaddr);
  }
  return null;
}

type Value<T> = { ok: true; value: T } | { ok: false; reason: string };

async function readDynamic(
  reader: Reader,
  h: ElfHeader,
  loads: ProgramHeader[],
  dynPh: ProgramHeader,
): Promise<Value<DynamicInfo>> {
  const entSize = h.bits === 64 ? 16 : 8;
  const len = dynPh.filesz < BigInt(MAX_DYNAMIC_BYTES) ? dynPh.filesz : BigInt(MAX_DYNAMIC_BYTES);
  const at = vaddrToOffset(loads, dynPh.vaddr, len);
  if (at === null) return { ok: false, reason: 'PT_DYNAMIC is not inside a PT_LOAD segment' };
  const bytes = await reader.readBig(at, len);
  if (!bytes) return { ok: false, reason: 'dynamic section beyond end of file' };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (off: number): bigint =>
    h.bits === 64 ? v.getBigUint64(off, h.littleEndian) : BigInt(v.getUint32(off, h.littleEndian));

  // Like the loaders, the last entry of a unique tag wins; DT_NEEDED keeps its order.
  const needed: bigint[] = [];
  let strtab: bigint | null = null;
  let soname: bigint | null = null;
  let rpath: bigint | null = null;
  let runpath: bigint | null = null;
  let flags1 = 0;
  for (let off = 0; off + entSize <= bytes.length; off += entSize) {
    const tag = word(off);
    const val = word(off + entSize / 2);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) needed.push(val);
    else if (tag === DT_STRTAB) strtab = val;
    else if (tag === DT_SONAME) soname = val;
    else if (tag === DT_RPATH) rpath = val;
    else if (tag === DT_RUNPATH) runpath = val;
    else if (tag === DT_FLAGS_1) flags1 = Number(val & 0xffffffffn);
  }

  // Real objects name at most a few hundred libraries; a crafted one naming tens of thousands
  // would only make the analysis (and every search for each name) slow for nothing.
  if (needed.length > MAX_NEEDED) return { ok: false, reason: `${needed.length} DT_NEEDED entries (more than ${MAX_NEEDED})` };
  const wanted = [...needed, soname, rpath, runpath].filter((x): x is bigint => x !== null);
  let base = 0n;
  if (wanted.length > 0) {
    if (strtab === null) return { ok: false, reason: 'dynamic section without DT_STRTAB' };
    // One byte must be mapped at the string table's address; each string is then bounded by the file.
    const mapped = vaddrToOffset(loads, strtab, 1n);
    if (mapped === null) return { ok: false, reason: 'DT_STRTAB is not inside a PT_LOAD segment' };
    base = mapped;
  }
  const strings = await reader.cStrings(base, wanted);
  if (!strings.ok) return { ok: false, reason: `dynamic string table: ${strings.reason}` };
  const str = (off: bigint | null): string | null => (off === null ? null : strings.value.get(off)!);
  return {
    ok: true,
    value: {
      needed: needed.map((o) => strings.value.get(o)!),
      soname: str(soname),
      rpath: str(rpath),
      runpath: str(runpath),
      flags1,
    },
  };
}

function safeNumber(x: bigint): number {
  return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : Number.MAX_SAFE_INTEGER;
}

/** Positioned reads of one open file, bounded by its size. */
class Reader {
  constructor(
    private readonly fh: ByteSource,
    private readonly size: number,
  ) {}

  /** Up to len bytes at pos (fewer at the end of the file). */
  async read(pos: number, len: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(len, this.size - pos));
    const buf = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fh.read(buf, done, n - done, pos + done);
      if (bytesRead === 0) break; // the file shrank under us
      done += bytesRead;
    }
    return buf.subarray(0, done);
  }

  /** Exactly len bytes at pos, or null when they are not all inside the file. */
  async readBig(pos: bigint, len: bigint): Promise<Buffer | null> {
    if (pos + len > BigInt(this.size)) return null;
    const buf = await this.read(Number(pos), Number(len));
    return buf.length === Number(len) ? buf : null;
  }

  /** The NUL-terminated string at pos, within maxLen bytes. */
  async cString(pos: bigint, maxLen: bigint): Promise<Value<string>> {
    const limit = maxLen < BigInt(MAX_STRING) ? Number(maxLen) : MAX_STRING;
    if (pos >= BigInt(this.size)) return { ok: false, reason: 'offset beyond end of file' };
    const buf = await this.read(Number(pos), limit);
    const end = buf.indexOf(0);
    if (end < 0) return { ok: false, reason: 'unterminated string' };
    return { ok: true, value: buf.toString('utf8', 0, end) };
  }

  /**
   * The strings at base+offset for each offset. Dynamic strings sit close together, so one read
   * of the window that holds them usually serves all; a string running past it is read alone.
   */
  async cStrings(base: bigint, offsets: bigint[]): Promise<Value<Map<bigint, string>>> {
    const out = new Map<bigint, string>();
    if (offsets.length === 0) return { ok: true, value: out };
    const lo = offsets.reduce((a, b) => (a < b ? a : b));
    const hi = offsets.reduce((a, b) => (a > b ? a : b));
    const windowStart = base + lo;
    let window: Buffer = Buffer.alloc(0);
    if (hi - lo < BigInt(MAX_STRING) && windowStart < BigInt(this.size)) {
      window = await this.read(Number(windowStart), Number(hi - lo) + 256);
    }
    for (const off of offsets) {
      if (out.has(off)) continue;
      const rel = Number(off - lo);
      const end = rel < window.length ? window.indexOf(0, rel) : -1;
      if (end >= 0) {
        out.set(off, window.toString('utf8', rel, end));
        continue;
      }
      const r = await this.cString(base + off, BigInt(MAX_STRING));
      if (!r.ok) return r;
      out.set(off, r.value);
    }
    return { ok: true, value: out };
  }
}
