// The N-API addon (native/fs.c), built by `npm ci` when a C compiler is there. Without it
// every operation has a plain Node fallback: slower, and mtimes within about a microsecond.
// OCCLUM_BOM_NO_NATIVE=1 makes a run use the fallbacks (the tests check both paths).
import { log } from '../log.js';
import { addonFile } from '../resources.js';

export interface Native {
  utimens(path: string, sec: number, nsec: number, followLast: boolean): void;
  copy(src: string, tmp: string, dest: string, size: number, sec: number, nsec: number, mode: number, uid: number, gid: number, chown: boolean, sha256: string): Promise<string>;
  /** `count` copies as copy() makes them, in one trip to the thread pool: 33 bytes each, its SHA-256 and what it read first (see native/fs.c). */
  copyBatch(jobs: Buffer, numbers: Float64Array, count: number, chown: boolean): Promise<Buffer>;
  sha256(path: string): Promise<string>;
  /**
   * What each path is now (src/record.ts): `paths` NUL-separated, `kinds` a letter each (S, L,
   * D, C): the lines and their hashes (8 bytes each), only the hashes, or (given hashes) the
   * u32 indices of the paths whose hash differs; `listedNs`: when the D lines were made (a
   * directory whose names are settled since is not listed again, see native/fs.c). Given the
   * device and inode each path must have (-1: missing) and a ctime before `settledNs`: the
   * hashes, or null when one path has not.
   */
  states(paths: Buffer, kinds: string, mode: 'lines'): Promise<[string, Buffer]>;
  states(paths: Buffer, kinds: string, mode: 'hashes'): Promise<Buffer>;
  states(paths: Buffer, kinds: string, mode: Buffer, listedNs?: bigint): Promise<Buffer>;
  states(paths: Buffer, kinds: string, ids: Float64Array, settledNs: bigint): Promise<Buffer | null>;
  /** For each of the NUL-separated paths, 1 if the file starts with the ELF magic, else 0. */
  elfMagic(paths: Buffer): Promise<Buffer>;
  /** A directory's entries, sorted, each lstat'ed, in one trip to the thread pool (see native/fs.c for the layout). */
  listDir(dir: string): Promise<Buffer>;
  /** rsync's quick check of destinations, six numbers a path (size, mtime sec, nsec, mode, uid, gid): a byte each, 0 unchanged, 1 copy, 2 a directory. */
  quickCheck(dests: Buffer, numbers: Float64Array, chown: boolean): Promise<Buffer>;
  /** How many names a directory holds (without "." and ".."). */
  countNames(dir: string): number;
  /** The names of a directory's subdirectories (not links to one). */
  subdirs(dir: string): string[];
  /**
   * What the manifest says of files of one copied tree (src/written.ts, TreeFiles), written
   * into `into` one section after the other: its JSON text, digest lines, and the index's
   * paths, sizes and mtimes, and hashes. The offset where each section ends, or how many bytes
   * `into` must hold.
   */
  manifestRows(paths: string, numbers: Float64Array, sha: Buffer, bom: string, cut: number, srcPrefix: string, first: boolean, into: Buffer): number[] | number;
  /** What the copies so far decided of reflinks between each pair of devices (source, image), and why not (see native/fs.c try_clone). */
  reflinks(): { src: number; dst: number; ok: boolean; why: string }[];
}

/** Said at debug level at the end of a run: how file data went from each source device to the image's. */
export function logReflinks(): void {
  for (const r of native?.reflinks() ?? []) {
    log.debug(`device ${r.src} -> ${r.dst}: ${r.ok ? 'reflinks (FICLONE): data shared, read once for the hashes' : `no reflinks (${r.why}): data read and written`}`);
  }
}

/**
 * The addon resources.ts names (a local build, the package's prebuilt one, or the one embedded in
 * the executable), loaded; none when there is no addon, and a warning saying why when there is
 * one that cannot be loaded (a glibc older than it needs, say).
 */
export const { native, nativeFile } = ((): { native?: Native; nativeFile?: string } => {
  if (process.env.OCCLUM_BOM_NO_NATIVE) return {};
  let file: string | undefined;
  try {
    file = addonFile();
    if (file === undefined) {
      log.debug('no native addon built for this platform: copies go through Node');
      return {};
    }
    const addon = { exports: {} };
    process.dlopen(addon, file);
    log.debug(`native addon: ${file}`);
    return { native: addon.exports as Native, nativeFile: file };
  } catch (e) {
    log.warn(`native addon${file === undefined ? '' : ` ${file}`} not loaded (${(e as Error).message.split('\n')[0]}): copies go through Node, slower`);
    return {};
  }
})();
