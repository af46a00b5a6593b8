// What a glibc loader of one ELF class and machine was built with: its interpreter path, the
// system directories and $LIB of Debian's multiarch layout, the ld.so.cache flags it accepts,
// and the hardware-capability subdirectories it probes. The CPU-dependent parts (hwcaps,
// AT_PLATFORM) are options with fixed defaults rather than guesses about the build host, so
// that the same BOM gives the same image on any machine.
import { EM_386, EM_AARCH64, EM_X86_64 } from './read.js';
import type { CacheMatch } from './ldcache.js';

/** Overrides for the glibc loader model; every field has a default for the machine. */
export interface GlibcOptions {
  /** The compiled-in system directories, searched last (default: Debian's multiarch ones). */
  systemDirs?: string[];
  /** The ld.so.cache to read; null for none (default /etc/ld.so.cache). */
  cache?: string | null;
  /** The value of $LIB (Debian: lib/<multiarch triplet>). */
  lib?: string;
  /** The value of $PLATFORM, the kernel's AT_PLATFORM; null when it gives none. */
  platform?: string | null;
  /** glibc-hwcaps subdirectories the CPU supports, most preferred first (x86-64: v4, v3, v2). */
  glibcHwcaps?: string[];
  /**
   * Active legacy hwcap names (x86-64: "x86_64"): glibc up to 2.36 also probes tls/,
   * <platform>/ and <hwcap>/ subdirectories. Null models glibc 2.37 and later, which do not.
   */
  legacyHwcaps?: string[] | null;
}

/** A fully specified glibc loader model for one class and machine. */
export interface GlibcModel {
  bits: 32 | 64;
  machine: number;
  littleEndian: boolean;
  interpreter: string;
  systemDirs: string[];
  cache: string | null;
  lib: string;
  platform: string | null;
  /** Subdirectories probed inside every search directory, in order, each ending in '/'; '' last. */
  subdirs: string[];
  cacheMatch: CacheMatch;
  pageSize: number;
}

interface Machine {
  name: string;
  interpreter: string;
  triplet: string;
  cacheFlags: number;
  otherCacheFlags: number[];
  platform: string | null;
  legacyHwcaps: string[];
  glibcHwcaps: string[];
  x86: boolean;
}

// ldconfig's FLAG_ELF, FLAG_ELF_LIBC6 and the per-ABI FLAG_*_LIB* bits.
const FLAG_ELF = 0x0001;
const FLAG_ELF_LIBC6 = 0x0003;
const FLAG_X8664_LIB64 = 0x0300;
const FLAG_X8664_LIBX32 = 0x0800;
const FLAG_AARCH64_LIB64 = 0x0a00;

const X86_64_LEVELS = ['x86-64-v4', 'x86-64-v3', 'x86-64-v2'];

// Only the x86 family and aarch64, whose Debian layouts are known; the x86-64 one is checked
// against the real loader by the test suite, the others follow the same Debian conventions.
const MACHINES: Record<string, Machine> = {
  [`64:${EM_X86_64}`]: {
    name: 'x86-64',
    interpreter: '/lib64/ld-linux-x86-64.so.2',
    triplet: 'x86_64-linux-gnu',
    cacheFlags: FLAG_ELF_LIBC6 | FLAG_X8664_LIB64,
    otherCacheFlags: [],
    platform: 'x86_64',
    legacyHwcaps: ['x86_64'],
    glibcHwcaps: X86_64_LEVELS,
    x86: true,
  },
  [`32:${EM_X86_64}`]: {
    name: 'x32',
    interpreter: '/libx32/ld-linux-x32.so.2',
    triplet: 'x86_64-linux-gnux32',
    cacheFlags: FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32,
    otherCacheFlags: [],
    platform: 'x86_64',
    legacyHwcaps: ['x86_64'],
    glibcHwcaps: X86_64_LEVELS,
    x86: true,
  },
  [`32:${EM_386}`]: {
    name: 'i386',
    interpreter: '/lib/ld-linux.so.2',
    triplet: 'i386-linux-gnu',
    cacheFlags: FLAG_ELF_LIBC6,
    otherCacheFlags: [FLAG_ELF],
    platform: 'i686',
    legacyHwcaps: [],
    glibcHwcaps: [],
    x86: true,
  },
  [`64:${EM_AARCH64}`]: {
    name: 'aarch64',
    interpreter: '/lib/ld-linux-aarch64.so.1',
    triplet: 'aarch64-linux-gnu',
    cacheFlags: FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64,
    otherCacheFlags: [],
    platform: 'aarch64',
    legacyHwcaps: [],
    glibcHwcaps: [],
    x86: false,
  },
};

// Bit numbers of legacy hwcaps in ld.so.cache entries (sysdeps/x86/dl-procinfo.c).
const X86_HWCAP_BITS: Record<string, bigint> = { sse2: 0n, x86_64: 1n, avx512_1: 2n };
const X86_PLATFORM_BITS: Record<string, bigint> = { i586: 48n, i686: 49n, haswell: 50n, xeon_phi: 51n };
const X86_PLATFORM_MASK = 0xfn << 48n;
const TLS_BIT = 1n << 63n;

/** A short name for a class and machine, for messages. */
export function machineName(bits: 32 | 64, machine: number): string {
  return MACHINES[`${bits}:${machine}`]?.name ?? `ELFCLASS${bits} machine ${machine}`;
}

/** The default glibc interpreter for a class and machine, or null when this module does not know it. */
export function defaultInterpreter(bits: 32 | 64, machine: number): string | null {
  return MACHINES[`${bits}:${machine}`]?.interpreter ?? null;
}

/** The glibc loader model for a class, machine and byte order; null for an unknown machine. */
export function glibcModel(
  bits: 32 | 64,
  machine: number,
  littleEndian: boolean,
  interpreter: string,
  options: GlibcOptions = {},
): GlibcModel | null {
  const m = MACHINES[`${bits}:${machine}`];
  if (!m) return null;
  const platform = options.platform === undefined ? m.platform : options.platform;
  const glibcHwcaps = options.glibcHwcaps ?? m.glibcHwcaps;
  const legacy = options.legacyHwcaps === undefined ? m.legacyHwcaps : options.legacyHwcaps;
  return {
    bits,
    machine,
    littleEndian,
    interpreter,
    systemDirs: options.systemDirs ?? [`/lib/${m.triplet}/`, `/usr/lib/${m.triplet}/`, '/lib/', '/usr/lib/'],
    cache: options.cache === undefined ? '/etc/ld.so.cache' : options.cache,
    lib: options.lib ?? `lib/${m.triplet}`,
    platform,
    subdirs: hwcapSubdirs(glibcHwcaps, legacy, platform),
    cacheMatch: cacheMatch(m, glibcHwcaps, legacy, platform),
    pageSize: 4096,
  };
}

/**
 * The subdirectories glibc probes in each search directory (_dl_important_hwcaps): the
 * glibc-hwcaps ones, then every combination of tls, the platform and the legacy hwcaps, from
 * all of them down to none, outermost last in the list of names.
 */
export function hwcapSubdirs(glibcHwcaps: string[], legacy: string[] | null, platform: string | null): string[] {
  const out = glibcHwcaps.map((n) => `glibc-hwcaps/${n}/`);
  if (legacy === null) return [...out, ''];
  const names = [...legacy, ...(platform === null ? [] : [platform]), 'tls'];
  for (let m = (1 << names.length) - 1; m >= 0; m--) {
    let dir = '';
    for (let n = names.length - 1; n >= 0; n--) if (m & (1 << n)) dir += `${names[n]}/`;
    if (!out.includes(dir)) out.push(dir);
  }
  return out;
}

function cacheMatch(m: Machine, glibcHwcaps: string[], legacy: string[] | null, platform: string | null): CacheMatch {
  // The ISA level bits ldconfig records for x86-64: baseline, then v2, v3, v4.
  let isaLevels = 0;
  if (m.x86) {
    isaLevels = 1;
    ['x86-64-v2', 'x86-64-v3', 'x86-64-v4'].forEach((l, i) => {
      if (glibcHwcaps.includes(l)) isaLevels |= 2 << i;
    });
  }
  let legacyAllowed = 0n;
  if (legacy !== null) {
    legacyAllowed = TLS_BIT | (m.x86 ? X86_PLATFORM_MASK : 0n);
    for (const name of legacy) {
      const bit = m.x86 ? X86_HWCAP_BITS[name] : undefined;
      if (bit !== undefined) legacyAllowed |= 1n << bit;
    }
  }
  const platformBit = m.x86 && platform !== null ? X86_PLATFORM_BITS[platform] : undefined;
  return {
    defaultFlags: m.cacheFlags,
    otherFlags: m.otherCacheFlags,
    glibcHwcaps,
    isaLevels,
    legacyAllowed,
    platformMask: m.x86 ? X86_PLATFORM_MASK : 0n,
    platformBit: platformBit === undefined ? null : 1n << platformBit,
  };
}
