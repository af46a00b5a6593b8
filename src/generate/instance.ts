// `occlum-bom new DIR`: an Occlum instance directory laid out as `occlum new` makes it (Occlum's
// "Insight of Occlum Instance Generation"), for machines without Occlum: Occlum.json, image/ (the
// root file system copy_bom fills), initfs/, build/, run/, plus templates/ with the shipped BOMs.
//
// `occlum new` stays the authority on an Occlum host: it also puts Occlum's init program and its
// libraries into initfs/ and writes the Occlum.json of the installed Occlum version. This one
// gives the same layout and a default configuration with the same keys, so an image can be
// built and checked (chroot) before Occlum is at hand.
import { copyFile, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, Exit, UserError } from '../errors.js';
import { listTemplates } from './templates.js';

/** The root file system's directories: templates/base.yaml creates the same ones. */
export const IMAGE_DIRS = ['bin', 'dev', 'etc', 'host', 'lib', 'lib64', 'opt', 'proc', 'root', 'sys', 'tmp', 'sbin', 'ext2'] as const;

/** The init file system's directories (what Occlum's init process sees before the root is mounted). */
export const INITFS_DIRS = ['bin', 'dev', 'etc', 'lib', 'proc'] as const;

/**
 * image/etc/hosts: name resolution of the loopback addresses, which programs inside the
 * enclave (a server binding "localhost") need and the host's own /etc/hosts does not belong in.
 */
export const ETC_HOSTS = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

/**
 * The default Occlum.json, with the keys and defaults of Occlum's own template (the values take
 * effect at `occlum build`). Sizes are strings with a unit, as Occlum parses them.
 */
export function defaultOcclumJson() {
  return {
    resource_limits: {
      // Heap and stack of the LibOS kernel itself.
      kernel_space_heap_size: '32MB',
      kernel_space_stack_size: '1MB',
      // Enclave memory shared by every process of the application: raise it for big programs
      // (a JVM wants more than a gigabyte).
      user_space_size: '300MB',
      // Threads of all processes together (each one an SGX TCS).
      max_num_of_threads: 32,
    },
    process: {
      // Per process, unless a program's ELF or ulimit says otherwise.
      default_stack_size: '4MB',
      default_heap_size: '32MB',
      default_mmap_size: '100MB',
    },
    // Only programs under these directories can be started by `occlum run`.
    entry_points: ['/bin'],
    env: {
      // Environment every process gets (it is part of the measured enclave).
      default: ['OCCLUM=yes'],
      // Names of the host's variables `occlum run` may pass in: none unless listed.
      untrusted: [] as string[],
    },
    metadata: {
      // Enclave identity, signed into the enclave: set product_id and version_number per release.
      product_id: 0,
      version_number: 0,
      // A debuggable enclave can be inspected by a debugger: turn off for production.
      debuggable: true,
      // Key separation and sharing (KSS) identities; zero unless KSS is enabled.
      enable_kss: false,
      family_id: { high: '0x0', low: '0x0' },
      ext_prod_id: { high: '0x0', low: '0x0' },
    },
    mount: [
      {
        // The root: image/ as `occlum build` stores it in build/ (read-only, integrity-protected;
        // the build fills in its MAC) under a writable, encrypted layer kept in run/.
        target: '/',
        type: 'unionfs',
        options: {
          layers: [
            { target: '/', type: 'sefs', source: './build/mount/__ROOT', options: { MAC: '' } },
            { target: '/', type: 'sefs', source: './run/mount/__ROOT' },
          ],
        },
      },
      // The instance directory on the host, unencrypted: for exchanging files only.
      { target: '/host', type: 'hostfs', source: '.' },
      { target: '/proc', type: 'procfs' },
      { target: '/dev', type: 'devfs' },
      // In enclave memory, gone when the enclave exits.
      { target: '/tmp', type: 'ramfs' },
    ],
  };
}

/**
 * Create the instance directory `dir` (its missing parents too). An existing `dir`, even an
 * empty one, is refused before anything is written: `new` never mixes its layout into a tree
 * it did not make. A failure half-way removes what was made. `made`: another Occlum.json, and
 * more files at the top of the instance (`occlum-bom new --from-image`).
 */
export async function createInstance(dir: string, made: { occlumJson?: object; files?: Record<string, string> } = {}): Promise<void> {
  if (dir === '') throw new UserError('the instance directory name is empty', Exit.usage);
  const abs = path.resolve(dir);
  const exists = () => new UserError(`${dir} already exists: give the name of a new instance directory`, Exit.usage);
  // lstat: a symbolic link (even a dangling one) is something that exists, too.
  if (await lstat(abs).then(() => true, () => false)) throw exists();
  const templates = await listTemplates();

  await mkdir(path.dirname(abs), { recursive: true }).catch((e: unknown) => {
    throw new UserError(`cannot create ${path.dirname(abs)}: ${describeFsError(e)}`, Exit.createDir);
  });
  // Not recursive: EEXIST here means another process made it since the check above.
  await mkdir(abs).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw exists();
    throw new UserError(`cannot create ${dir}: ${describeFsError(e)}`, Exit.createDir);
  });

  try {
    await writeFile(path.join(abs, 'Occlum.json'), `${JSON.stringify(made.occlumJson ?? defaultOcclumJson(), null, 4)}\n`);
    for (const [name, text] of Object.entries(made.files ?? {})) await writeFile(path.join(abs, name), text);
    for (const d of IMAGE_DIRS) await mkdir(path.join(abs, 'image', d), { recursive: true });
    await writeFile(path.join(abs, 'image', 'etc', 'hosts'), ETC_HOSTS);
    for (const d of INITFS_DIRS) await mkdir(path.join(abs, 'initfs', d), { recursive: true });
    // `occlum build` writes the enclave and the protected image into build/, `occlum run` its state into run/.
    await mkdir(path.join(abs, 'build'));
    await mkdir(path.join(abs, 'run'));
    await mkdir(path.join(abs, 'templates'));
    for (const t of templates) await copyFile(t.path, path.join(abs, 'templates', t.name));
  } catch (e) {
    await rm(abs, { recursive: true, force: true });
    throw new UserError(`cannot create the instance ${dir}: ${describeFsError(e)}`, Exit.createDir);
  }
}
