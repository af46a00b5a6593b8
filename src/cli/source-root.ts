// --source-root: the root file system sources are taken from, for copy_bom, generate_bom, deps
// and tree: a directory, or a container image (unpacked once into the cache, src/image/).
import path from 'node:path';
import { SourceRoot } from '../fsops/root.js';
import { describeFsError, Exit, UserError } from '../errors.js';
import type { ImageConfig } from '../image/image.js';
import { ImageError, parseImageRef } from '../image/ref.js';
import { log } from '../log.js';
import { Progress } from '../progress.js';

export const SOURCE_ROOT_HELP =
  'take absolute source paths, and every library, from this root file system instead of / (as `chroot DIR` would see them): a directory, or an image as oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]';

export interface Source {
  root: SourceRoot;
  /** The image's config, when the root is an image. */
  image?: { name: string; config: ImageConfig };
  /** Files that name the root (an image's index or archive): what a run read depends on them too. */
  named: string[];
}

/** An image as named on the command line, spelled with an absolute path (so that a command printed with it works anywhere); null when the value names no image. */
export function absoluteImage(value: string, option: string): string | null {
  let ref;
  try {
    ref = parseImageRef(value);
  } catch (e) {
    if (e instanceof ImageError) throw new UserError(`${option} ${e.message}`, Exit.usage);
    throw e;
  }
  return ref && `${ref.transport}:${path.resolve(ref.path)}${ref.tag === undefined ? '' : `:${ref.tag}`}`;
}

/** The root a --source-root value names (`option` names the option in errors); none given: the host. */
export async function sourceRoot(value: string | undefined, option = '--source-root'): Promise<Source> {
  if (value === undefined) return { root: new SourceRoot(), named: [] };
  let dir = value;
  let image: Source['image'];
  let named: string[] = [];
  try {
    const ref = parseImageRef(value);
    if (ref) {
      // Loaded only for an image: the tar reader is not what a run of a directory root needs.
      const { imageRoot } = await import('../image/root.js');
      // A first unpack of a large image takes seconds: on a terminal, a line says how far it is.
      const progress = Progress.forStderr(false);
      const found = await imageRoot(ref, process.env, (m) => log.warn(m), (line) => progress.phase(line)).finally(() => progress.done());
      ({ dir, named } = found);
      image = { name: found.name, config: found.config };
    }
  } catch (e) {
    if (e instanceof ImageError) throw new UserError(`${option} ${e.message}`, e.damaged ? Exit.copyDir : Exit.usage);
    throw new UserError(`${option} ${value}: cannot unpack the image: ${describeFsError(e)}`, Exit.copyDir);
  }
  try {
    return { root: SourceRoot.open(dir), named, ...(image ? { image } : {}) };
  } catch (e) {
    throw new UserError(`${option} ${value}: ${describeFsError(e)}`, Exit.usage);
  }
}
