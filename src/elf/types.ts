// Types shared by the loader models and the resolver.
import type { ElfResult } from './read.js';

/** What the loaders see when they try a path (src/elf/files.ts). */
export type Probe =
  /** Opening it fails with this errno code (ENOENT, ENOTDIR, EACCES, ...). */
  | { kind: 'absent'; code: string }
  /** A directory: opening it succeeds, reading it fails with EISDIR. */
  | { kind: 'directory' }
  /** A regular file: `id` is its device and inode, `head` its first bytes (the ELF header if it is one). */
  | { kind: 'file'; id: string; size: number; head: Buffer; elf: ElfResult };

/** Which rule of the loader found a library. */
export type FoundBy =
  | 'rpath'
  | 'ld_library_path'
  | 'runpath'
  | 'cache'
  | 'default'
  /** The DT_NEEDED entry is a path (it contains a '/'). */
  | 'direct'
  /** The loader itself, which a library names (libc needs ld-linux-x86-64.so.2; musl is libc). */
  | 'interpreter';

export interface Library {
  /** The name the loader looked for: the DT_NEEDED entry (glibc expands $ORIGIN and the like in it). */
  name: string;
  /** The path as the loader reports it (not canonicalised); null when not found. */
  path: string | null;
  foundBy: FoundBy | null;
  /** The object whose DT_NEEDED entry brought it in: the analysed file as given, or a library's path. */
  neededBy: string;
  /**
   * Set when an RPATH or RUNPATH element that starts with $ORIGIN found it: the object whose
   * directory that was (named as neededBy names objects) and the rest of the path from there
   * (`/../lib/libfoo.so`). Wherever that object is placed, the loader looks there + rel.
   */
  origin?: { object: string; rel: string };
}

/** The libraries one loader would load for one object, in the order `ldd` lists them. */
export interface LoadResult {
  libraries: Library[];
  /**
   * Set when the loader would stop with an error ("error while loading shared libraries:
   * <this>"), for example on a non-ELF file where a library should be; libraries then lists
   * what was loaded before.
   */
  fatal: string | null;
}
