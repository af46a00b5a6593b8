// musl's system library path (ldso/dynlink.c): the file <prefix>/etc/ld-musl-<arch>.path next
// to the loader, or musl's built-in default when that file does not exist.
import { readFile } from 'node:fs/promises';

/** musl's compiled-in path, used when the path file does not exist. */
export const MUSL_DEFAULT_PATH = ['/lib', '/usr/local/lib', '/usr/lib'];

const LOADER_NAME = /^ld-musl-(.+)\.so\.1$/;

/** The <arch> of a musl loader path (/lib/ld-musl-x86_64.so.1 gives x86_64); null if it is not musl's. */
export function muslArch(loaderPath: string): string | null {
  const m = LOADER_NAME.exec(loaderPath.slice(loaderPath.lastIndexOf('/') + 1));
  return m ? m[1]! : null;
}

/**
 * The path file a musl loader reads. Its prefix is the loader's directory's parent, so
 * /lib/ld-musl-x86_64.so.1 reads /etc/ld-musl-x86_64.path and
 * /opt/musl/lib/ld-musl-x86_64.so.1 reads /opt/musl/etc/ld-musl-x86_64.path.
 */
export function muslPathFile(loaderPath: string, arch: string): string {
  let prefix = '';
  if (loaderPath.startsWith('/')) {
    const last = loaderPath.lastIndexOf('/');
    prefix = loaderPath.slice(0, Math.max(0, loaderPath.lastIndexOf('/', last - 1)));
  }
  return `${prefix}/etc/ld-musl-${arch}.path`;
}

/** Splits a musl path list: ':' and newlines separate entries, empty entries are skipped. */
export function splitMuslPath(text: string): string[] {
  return text.split(/[:\n]/).filter((d) => d !== '');
}

/**
 * The directories musl searches last, from the path file: its entries, musl's default when the
 * file does not exist, and nothing when it exists but cannot be read (as musl does).
 */
export async function readMuslPath(pathFile: string, read: (path: string) => Promise<Buffer> = readFile): Promise<string[]> {
  try {
    return splitMuslPath((await read(pathFile)).toString('utf8'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? MUSL_DEFAULT_PATH : [];
  }
}
