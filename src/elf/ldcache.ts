// glibc's /etc/ld.so.cache, as written by ldconfig and read by the dynamic loader
// (elf/dl-cache.c): the "glibc-ld.so.cache1.1" format, alone or appended to the old
// "ld.so-1.7.0" table; and the loader's lookup in it, including its quirks, so that a name
// resolves to the same file the loader would pick.
import { readFile } from 'node:fs/promises';

export interface CacheEntry {
  /** FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 and the like: the ABI the library was built for. */
  flags: number;
  /** Library name (the SONAME), or null when its string offset is out of range. */
  key: string | null;
  /** Path of the library, or null when its string offset is out of range. */
  value: string | null;
  /**
   * Legacy hwcap bits, or a glibc-hwcaps subdirectory (see isHwcapExtension); 0n in the old
   * format. (The osversion field beside it is not read: entries never set it nowadays, and the
   * loader compares it with the running kernel's version.)
   */
  hwcap: bigint;
}

export interface LdCache {
  /** In file order: ldconfig sorts them the way the loader's binary search expects. */
  entries: CacheEntry[];
  /** False for the old format alone, whose entries have no hwcap or osversion fields. */
  newFormat: boolean;
  /** Names of the glibc-hwcaps subdirectories an entry's hwcap field can refer to, by index. */
  glibcHwcaps: (string | null)[];
}

/** What the loader accepts from the cache: machine ABI flags and hardware capabilities. */
export interface CacheMatch {
  /** _DL_CACHE_DEFAULT_ID: an entry with these flags ends the search. */
  defaultFlags: number;
  /** Other flags the loader accepts (i386 also takes plain FLAG_ELF). */
  otherFlags: number[];
  /** glibc-hwcaps subdirectory names the CPU supports, most preferred first. */
  glibcHwcaps: string[];
  /** ISA level bits of the CPU (x86-64: baseline, v2, v3, v4 as bits 0-3). */
  isaLevels: number;
  /** Legacy hwcap bits an entry may carry and still be used (includes platform and TLS bits). */
  legacyAllowed: bigint;
  /** All legacy platform bits of the machine, and the current platform's (null: none applies). */
  platformMask: bigint;
  platformBit: bigint | null;
}

const MAGIC_NEW = 'glibc-ld.so.cache1.1';
const MAGIC_OLD = 'ld.so-1.7.0';
const NEW_HEADER = 48;
const NEW_ENTRY = 24;
const OLD_HEADER = 16;
const OLD_ENTRY = 12;
const EXTENSION_MAGIC = 0xeaa42174;
const EXTENSION_TAG_GLIBC_HWCAPS = 1;
const HWCAP_EXTENSION = 1n << 62n;
const ISA_LEVEL_MASK = 0x3ffn;

/** Reads a cache file; null when it is absent, unreadable or not a cache (the loader then has none). */
export async function loadLdCache(path: string, read: (path: string) => Promise<Buffer> = readFile): Promise<LdCache | null> {
  let buf: Buffer;
  try {
    buf = await read(path);
  } catch {
    return null;
  }
  return parseLdCache(buf);
}

export function parseLdCache(buf: Buffer): LdCache | null {
  if (startsWith(buf, 0, MAGIC_NEW)) return parseNew(buf, 0);
  if (!startsWith(buf, 0, MAGIC_OLD) || buf.length < OLD_HEADER) return null;
  const nlibs = buf.readUInt32LE(12);
  if ((buf.length - OLD_HEADER) / OLD_ENTRY < nlibs) return null;
  // The new format may follow the old table, aligned to 8 bytes; the loader then uses only it.
  const newAt = alignUp(OLD_HEADER + nlibs * OLD_ENTRY, 8);
  if (startsWith(buf, newAt, MAGIC_NEW)) return parseNew(buf, newAt);
  const strings = OLD_HEADER + nlibs * OLD_ENTRY;
  const entries: CacheEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const at = OLD_HEADER + i * OLD_ENTRY;
    entries.push({
      flags: buf.readInt32LE(at),
      key: cString(buf, strings, buf.readUInt32LE(at + 4)),
      value: cString(buf, strings, buf.readUInt32LE(at + 8)),
      hwcap: 0n,
    });
  }
  return { entries, newFormat: false, glibcHwcaps: [] };
}

/** The new format at `start`; its string offsets count from `start`, extension offsets from 0. */
function parseNew(buf: Buffer, start: number): LdCache | null {
  if (buf.length < start + NEW_HEADER) return null;
  const endian = buf[start + 28]! & 3;
  if (endian === 1) return null; // ldconfig marked it invalid
  const le = endian !== 3;
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const nlibs = u32(start + 20);
  if ((buf.length - start - NEW_HEADER) / NEW_ENTRY < nlibs) return null;
  const entries: CacheEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const at = start + NEW_HEADER + i * NEW_ENTRY;
    entries.push({
      flags: le ? buf.readInt32LE(at) : buf.readInt32BE(at),
      key: cString(buf, start, u32(at + 4)),
      value: cString(buf, start, u32(at + 8)),
      hwcap: le ? buf.readBigUInt64LE(at + 16) : buf.readBigUInt64BE(at + 16),
    });
  }
  return { entries, newFormat: true, glibcHwcaps: readGlibcHwcaps(buf, u32(start + 32), u32) };
}

function readGlibcHwcaps(buf: Buffer, extOffset: number, u32: (at: number) => number): (string | null)[] {
  if (extOffset === 0 || extOffset % 4 !== 0 || extOffset + 8 > buf.length) return [];
  if (u32(extOffset) !== EXTENSION_MAGIC) return [];
  const count = u32(extOffset + 4);
  for (let i = 0; i < count && extOffset + 8 + (i + 1) * 16 <= buf.length; i++) {
    const at = extOffset + 8 + i * 16;
    if (u32(at) !== EXTENSION_TAG_GLIBC_HWCAPS) continue;
    const offset = u32(at + 8);
    const size = u32(at + 12);
    if (offset % 4 !== 0 || offset + size > buf.length) return [];
    return Array.from({ length: Math.floor(size / 4) }, (_, j) => cString(buf, 0, u32(offset + 4 * j)));
  }
  return [];
}

/** True when the entry names a glibc-hwcaps subdirectory rather than legacy hwcap bits. */
export function isHwcapExtension(hwcap: bigint): boolean {
  return ((hwcap >> 32n) & ~ISA_LEVEL_MASK) === HWCAP_EXTENSION >> 32n;
}

/**
 * The path the loader takes from the cache for `name`, or null: glibc's search_cache. Among
 * the entries of that name, glibc-hwcaps ones (sorted first) compete by subdirectory
 * preference; otherwise the first usable entry wins.
 */
export function lookupLdCache(cache: LdCache, name: string, match: CacheMatch): string | null {
  const { entries } = cache;
  let left = 0;
  let right = entries.length - 1;
  while (left <= right) {
    let middle = (left + right) >> 1;
    const key = entries[middle]!.key;
    if (key === null) return null;
    const cmp = libcmp(name, key);
    if (cmp < 0) left = middle + 1;
    else if (cmp > 0) right = middle - 1;
    else {
      while (middle > 0 && sameName(entries[middle - 1]!, name)) middle--;
      return bestOf(cache, middle, right, name, match);
    }
  }
  return null;
}

function sameName(e: CacheEntry, name: string): boolean {
  return e.key !== null && libcmp(name, e.key) === 0;
}

function bestOf(cache: LdCache, first: number, right: number, name: string, m: CacheMatch): string | null {
  let best: string | null = null;
  let bestPriority = 0;
  for (let i = first; i <= right; i++) {
    const e = cache.entries[i]!;
    if (!sameName(e, name)) break;
    const flagsOk = e.flags === m.defaultFlags || m.otherFlags.includes(e.flags);
    if (!flagsOk || e.value === null) continue;
    const named = cache.newFormat && isHwcapExtension(e.hwcap);
    if (cache.newFormat) {
      if (named) {
        const isa = Number((e.hwcap >> 32n) & ISA_LEVEL_MASK);
        if ((m.isaLevels & isa) !== isa) continue;
      } else {
        // glibc-hwcaps entries come first; once one was taken, a legacy entry cannot beat it.
        if (best !== null) break;
        if ((e.hwcap & ~m.legacyAllowed) !== 0n) continue;
        const platform = e.hwcap & m.platformMask;
        if (platform !== 0n && platform !== m.platformBit) continue;
      }
      if (named) {
        const sub = cache.glibcHwcaps[Number(e.hwcap & 0xffffffffn)] ?? null;
        const priority = sub === null ? 0 : m.glibcHwcaps.indexOf(sub) + 1;
        if (priority === 0) continue;
        if (best !== null && priority >= bestPriority) continue;
        bestPriority = priority;
      }
    }
    best = e.value;
    if (!named && e.flags === m.defaultFlags) break;
  }
  return best;
}

/** glibc's _dl_cache_libcmp: runs of digits compare as numbers, so libfoo.so.10 > libfoo.so.9. */
export function libcmp(a: string, b: string): number {
  const isDigit = (c: number) => c >= 48 && c <= 57;
  let i = 0;
  let j = 0;
  while (i < a.length) {
    const c1 = a.charCodeAt(i);
    const c2 = j < b.length ? b.charCodeAt(j) : 0;
    if (isDigit(c1)) {
      if (!isDigit(c2)) return 1;
      let v1 = 0;
      let v2 = 0;
      while (i < a.length && isDigit(a.charCodeAt(i))) v1 = v1 * 10 + a.charCodeAt(i++) - 48;
      while (j < b.length && isDigit(b.charCodeAt(j))) v2 = v2 * 10 + b.charCodeAt(j++) - 48;
      if (v1 !== v2) return v1 - v2;
    } else if (isDigit(c2)) {
      return -1;
    } else if (c1 !== c2) {
      return c1 - c2;
    } else {
      i++;
      j++;
    }
  }
  return 0 - (j < b.length ? b.charCodeAt(j) : 0);
}

function startsWith(buf: Buffer, at: number, magic: string): boolean {
  return buf.length >= at + magic.length && buf.toString('latin1', at, at + magic.length) === magic;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function cString(buf: Buffer, base: number, offset: number): string | null {
  const at = base + offset;
  if (at >= buf.length) return null;
  const end = buf.indexOf(0, at);
  return end < 0 ? null : buf.toString('utf8', at, end);
}
