// `occlum-bom new DIR --from-image IMAGE`: what an instance takes from a container image. The
// image config's entry point and command become the command `occlum run` is given (kept in
// Occlum.json's `from_image`, which Occlum's own tools ignore, with the working directory), its
// Env the environment every process gets (`env.default`), the program's directory an entry
// point; the BOM copies the image's file system without what belongs to the runtime (/dev, /proc,
// /sys, /run, /tmp) and package managers' caches, with the image as its source root.
import path from 'node:path';
import { Exit, UserError } from '../errors.js';
import type { SourceRoot } from '../fsops/root.js';
import type { ImageConfig } from '../image/image.js';
import type { defaultOcclumJson } from './instance.js';

/** rsync exclude patterns, anchored at the image's root: the runtime's file systems and package caches. */
export const IMAGE_EXCLUDES = [
  '/dev',
  '/proc',
  '/sys',
  '/run',
  '/tmp',
  '/var/cache/apt',
  '/var/lib/apt/lists',
  '/var/cache/debconf/*-old',
  '/var/cache/apk',
  '/var/cache/yum',
  '/var/cache/dnf',
  '/root/.cache',
  '/root/.npm',
];

/** Docker's PATH when an image sets none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface FromImage {
  /** What `occlum run` runs: the program (found in the image's PATH when named without '/') and its arguments. */
  command: string[];
  occlumJson: ReturnType<typeof defaultOcclumJson> & { from_image: Record<string, unknown> };
  bom: string;
}

/** The instance an image gives; `image` is the image as the copy_bom command will name it. */
export function fromImage(base: ReturnType<typeof defaultOcclumJson>, config: ImageConfig, image: string, root: SourceRoot): FromImage {
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (argv.length === 0) throw new UserError(`${image} has neither an entry point nor a command: nothing to run`, Exit.usage);
  const env = config.Env ?? [];
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice('PATH='.length) ?? DEFAULT_PATH;
  const program = argv[0]!.includes('/') ? path.posix.resolve(config.WorkingDir ?? '/', argv[0]!) : findInPath(argv[0]!, pathVar, root) ?? argv[0]!;
  const command = [program, ...argv.slice(1)];
  const entryPoints = [...new Set([...base.entry_points, ...(program.startsWith('/') ? [path.posix.dirname(program)] : [])])];
  const occlumJson = {
    ...base,
    entry_points: entryPoints,
    env: { ...base.env, default: [...base.env.default, ...env] },
    from_image: {
      image,
      entrypoint: config.Entrypoint ?? null,
      cmd: config.Cmd ?? null,
      working_dir: config.WorkingDir ?? '/',
      ...(config.User ? { user: config.User } : {}),
      command,
    },
  };
  return { command, occlumJson, bom: imageBom(image) };
}

/** The first executable regular file named `name` in the directories of `pathVar`, inside the root. */
function findInPath(name: string, pathVar: string, root: SourceRoot): string | undefined {
  for (const dir of pathVar.split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = path.posix.join(dir, name);
    const w = root.walk(p, true);
    if (w.type === 'file' && root.executable(w.real!)) return p;
  }
  return undefined;
}

function imageBom(image: string): string {
  return `# The file system of ${image}, without the runtime's (/dev, /proc, /sys, /run, /tmp) and
# package managers' caches. Absolute paths are inside the image, and so are the targets of its
# symbolic links: keeplinks keeps each a link, as in the container. Build the image with
#   copy_bom -f image.yaml --root image --source-root ${image}
excludes:
${IMAGE_EXCLUDES.map((e) => `  - ${e}`).join('\n')}
targets:
  - target: /
    copy:
      - dirs:
          - name: /
            keeplinks: true
`;
}
