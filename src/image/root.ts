// A container image as a directory: unpacked once into the cache directory, under a name made
// of its layers' digests, and reused by every run after (the layers, not the tag, say what the
// root holds). An unpack is made in a temporary directory and renamed into place when complete,
// so a killed run leaves no half root to be reused. A root not used for 30 days is removed
// (its image.json is touched at each use), and so is an unpack a killed run left a day ago.
// With the cache turned off (an empty OCCLUM_BOM_CACHE_DIR) the root is unpacked into a
// temporary directory removed at exit.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cacheDir } from '../resources.js';
import { openImage, type ImageConfig } from './image.js';
import type { ImageRef } from './ref.js';
import { unpackLayers } from './unpack.js';

export interface ImageRoot {
  /** The unpacked root file system. */
  dir: string;
  name: string;
  config: ImageConfig;
  /** The files that name the image (an OCI layout's index.json, an archive): a run that read it depends on them. */
  named: string[];
}

/** The root file system of an image, unpacked now or found unpacked by an earlier run. */
export async function imageRoot(ref: ImageRef, env: NodeJS.ProcessEnv, warn: (m: string) => void, progress?: (line: string) => void): Promise<ImageRoot> {
  const cache = cacheDir(env);
  const base = cache === '' ? temporary() : cache;
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const scratch = mkdtempSync(path.join(base, 'image-unpack-'));
  try {
    const image = await openImage(ref, scratch);
    let dir: string;
    let fresh = false;
    try {
      const key = createHash('sha256').update(image.layers.map((l) => l.digest).join('\n')).digest('hex').slice(0, 16);
      dir = path.join(base, `image-${key}`);
      if (!trusted(dir)) {
        const rootfs = path.join(scratch, 'rootfs');
        mkdirSync(rootfs, { mode: 0o755 });
        await image.layersReady();
        await unpackLayers(image.layers, rootfs, image.name, warn, progress);
        writeFileSync(path.join(scratch, 'image.json'), `${JSON.stringify({ image: image.name, layers: image.layers.map((l) => l.digest) }, null, 2)}\n`, { mode: 0o644 });
        fresh = true;
      }
    } finally {
      image.close(); // an archive's extracted members, in the scratch directory
    }
    if (fresh) {
      rmSync(dir, { recursive: true, force: true }); // one not ours, or left half-way by hand
      renameSync(scratch, dir);
    } else {
      const now = new Date();
      utimesSync(path.join(dir, 'image.json'), now, now); // used: kept for another 30 days
    }
    if (cache !== '') prune(base);
    const named = [ref.transport === 'oci' ? path.resolve(ref.path, 'index.json') : path.resolve(ref.path)];
    return { dir: path.join(dir, 'rootfs'), name: image.name, config: image.config, named };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** An unpacked root found in the cache: complete (its image.json is written last) and ours alone. */
function trusted(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    const ours = !process.getuid || st.uid === process.getuid();
    return st.isDirectory() && ours && (st.mode & 0o022) === 0 && statSync(path.join(dir, 'image.json')).isFile() && statSync(path.join(dir, 'rootfs')).isDirectory();
  } catch {
    return false;
  }
}

const DAY_MS = 24 * 3600 * 1000;

/** Unpacked roots unused for 30 days, and unpacks a killed run left a day ago. */
function prune(base: string): void {
  for (const name of readdirSync(base)) {
    const kept = /^image-[0-9a-f]{16}$/.test(name);
    if (!kept && !name.startsWith('image-unpack-')) continue;
    const p = path.join(base, name);
    const used = statSync(kept ? path.join(p, 'image.json') : p, { throwIfNoEntry: false })?.mtimeMs;
    if (used !== undefined && Date.now() - used > (kept ? 30 * DAY_MS : DAY_MS)) rmSync(p, { recursive: true, force: true });
  }
}

let tempBase: string | undefined;

/** A directory for this process's unpacks, removed when it exits. */
function temporary(): string {
  if (!tempBase) {
    const dir = (tempBase = mkdtempSync(path.join(tmpdir(), 'occlum-bom-images-')));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return tempBase;
}
