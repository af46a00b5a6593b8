// Occlum's loader config (/opt/occlum/etc/template/occlum_elf_loader.config): one line
// per loader, `<loader path> <dir>:<dir>:...`. An ELF whose interpreter has the file name
// of a configured loader is analysed with that loader, the loader's directory and the
// listed dirs act as LD_LIBRARY_PATH, and libraries found in them go next to the loader
// in the image (Occlum's runtime loader looks only there).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, Exit, quote, UserError } from '../errors.js';
import { statSeen, type Inputs } from '../inputs.js';

export const DEFAULT_LOADER_CONFIG = '/opt/occlum/etc/template/occlum_elf_loader.config';

export interface ConfiguredLoader {
  /** Host path of the loader to analyse with and to copy. */
  loader: string;
  /** Its directory first, then the configured ones: the search path and the relocated dirs. */
  libraryPath: string[];
}

/** Configured loaders by file name (`ld-linux-x86-64.so.2`, `ld-musl-x86_64.so.1`). */
export type LoaderConfig = ReadonlyMap<string, ConfiguredLoader>;

export function parseLoaderConfig(text: string, file: string): LoaderConfig {
  const loaders = new Map<string, ConfiguredLoader>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [loader, dirs = '', ...extra] = line.split(/\s+/);
    if (!loader!.startsWith('/') || extra.length > 0) {
      throw new UserError(`expected "<absolute loader path> <dir>:<dir>...", found ${quote(line)}`, Exit.invalidBom, { file, line: i + 1, col: 1 });
    }
    const libraryPath = [path.dirname(loader!), ...dirs.split(':')].filter((d) => d !== '');
    loaders.set(path.basename(loader!), { loader: loader!, libraryPath });
  });
  return loaders;
}

/**
 * The config named by --loader-config or OCCLUM_ELF_LOADER_CONFIG, else the default one;
 * the default may be absent (no Occlum installed: ELF interpreters are used as they are).
 */
export async function loadLoaderConfig(explicit: string | undefined, inputs?: Inputs): Promise<LoaderConfig> {
  const file = explicit ?? DEFAULT_LOADER_CONFIG;
  let text: string;
  try {
    if (inputs) await statSeen(file, inputs);
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (explicit === undefined && (e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new UserError(`cannot read loader config ${file}: ${describeFsError(e)}`, Exit.fileNotFound);
  }
  return parseLoaderConfig(text, file);
}
