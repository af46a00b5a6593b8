// What an SBOM of an image says, in neither format yet: the image's regular files (from its
// manifest) and the Debian packages that installed them on the host they were copied from.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { Exit, UserError } from '../errors.js';
import type { From, Manifest } from '../manifest.js';
import { findOwners, hostDistro, type DebPackage, type Distro, type DpkgOptions } from './dpkg.js';

export interface ImageFile {
  /** Absolute path inside the image. */
  path: string;
  sha256: string;
  size: number | null;
  /** The manifest's provenance, when the last run described the file itself. */
  from: From | null;
  /** The owning packages (usually one; several for a file shared by Multi-Arch: same packages). */
  packages: DebPackage[];
}

export interface Inventory {
  /** A name for the image, for humans. */
  name: string;
  /** The manifest's digest of the whole image. */
  digest: string;
  files: ImageFile[];
  /** Every package some file belongs to, once, sorted by name and architecture. */
  packages: DebPackage[];
  distro: Distro;
}

export interface InventoryOptions {
  name: string;
  /** Where dpkg's database is; null: no package is looked up (a host without dpkg). */
  dpkg: DpkgOptions | null;
  distro?: Distro;
}

/**
 * Links and directories are not listed: they have no content to identify, and a link's target,
 * if it is in the image, is listed itself. A file's owner is looked up by the host path it was
 * copied from; a source recorded as a relative path is relative to the directory copy_bom ran
 * in, which the manifest does not record, so it is not looked up (the user's own files are the
 * ones named that way, and no package owns them).
 */
export function buildInventory(manifest: Manifest, options: InventoryOptions): Inventory {
  const files: ImageFile[] = [];
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw new UserError(`the manifest has no SHA-256 for ${e.path}`, Exit.invalidBom);
    }
    const from = e.from !== null && e.from !== 'parent' ? e.from : null;
    files.push({ path: e.path, sha256: e.sha256, size: e.size ?? null, from, packages: [] });
  }
  const hostPath = (f: ImageFile) => (f.from?.source !== undefined && path.isAbsolute(f.from.source) ? f.from.source : null);
  const sources = files.map(hostPath).filter((p): p is string => p !== null);
  const owners = options.dpkg === null ? new Map<string, DebPackage[]>() : findOwners(sources, options.dpkg);
  const packages = new Map<string, DebPackage>();
  for (const f of files) {
    const source = hostPath(f);
    f.packages = source === null ? [] : (owners.get(source) ?? []);
    for (const p of f.packages) packages.set(packageKey(p), p);
  }
  return {
    name: options.name,
    digest: manifest.digest,
    files,
    packages: [...packages.values()].sort((a, b) => (packageKey(a) < packageKey(b) ? -1 : 1)),
    distro: options.distro ?? hostDistro(undefined, options.dpkg?.root),
  };
}

export const packageKey = (p: DebPackage) => `${p.name}:${p.arch}:${p.version}`;

/**
 * Library or application, for the formats' package kinds: Debian's library sections and the
 * lib* naming convention say library; anything else (servers, interpreters, tools) is taken
 * as an application.
 */
export function isLibrary(p: DebPackage): boolean {
  return p.name.startsWith('lib') || ['libs', 'libdevel', 'oldlibs'].includes(p.section ?? '');
}

const buffer = Buffer.allocUnsafe(1 << 20);

/**
 * SHA-1 of each file of the image (SPDX 2.3 requires it of every file), read from the image
 * itself; its SHA-256 is checked against the manifest on the way, so that the document never
 * pairs one file's SHA-1 with another's SHA-256.
 */
export function sha1OfImageFiles(root: string, files: readonly ImageFile[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) {
    const host = path.join(root, f.path);
    let fd: number;
    try {
      // O_NOFOLLOW: a file replaced by a link since the manifest is a change, never followed out of the image.
      fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ELOOP' ? 'is now a symbolic link' : code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`;
      throw new UserError(`${f.path} ${why} in the image: run occlum-bom verify`, Exit.fileNotFound);
    }
    const sha1 = createHash('sha1');
    const sha256 = createHash('sha256');
    try {
      if (!fstatSync(fd).isFile()) throw new UserError(`${f.path} is no longer a regular file in the image: run occlum-bom verify`, Exit.wrongHash);
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) {
        sha1.update(buffer.subarray(0, n));
        sha256.update(buffer.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    if (sha256.digest('hex') !== f.sha256) {
      throw new UserError(`${f.path} differs from the image's manifest: run occlum-bom verify`, Exit.wrongHash);
    }
    out.set(f.path, sha1.digest('hex'));
  }
  return out;
}
