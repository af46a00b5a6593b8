// --source-root: the root file system sources are taken from, for copy_bom, generate_bom, deps and tree.
import { SourceRoot } from '../fsops/root.js';
import { describeFsError, Exit, UserError } from '../errors.js';

export const SOURCE_ROOT_HELP = 'take absolute source paths, and every library, from this root file system instead of / (as `chroot DIR` would see them)';

/** The root a --source-root value names; none given: the host. */
export function sourceRoot(value: string | undefined): SourceRoot {
  if (value === undefined) return new SourceRoot();
  const transport = /^(oci|oci-archive|docker-archive|docker|containers-storage):/.exec(value);
  if (transport) throw new UserError(`--source-root ${value}: container images (${transport[1]}:) are not supported yet; unpack the image into a directory (umoci unpack) and give that`, Exit.notImplemented);
  try {
    return SourceRoot.open(value);
  } catch (e) {
    throw new UserError(`--source-root ${value}: ${describeFsError(e)}`, Exit.usage);
  }
}
