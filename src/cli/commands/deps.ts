// `occlum-bom deps`: what the dynamic loader would load for each ELF file, like ldd, without running anything.
import type { Command } from 'commander';
import { createResolver, type Resolution, type ResolverOptions } from '../../elf/index.js';
import { mapLimit } from '../../pool.js';
import { SOURCE_ROOT_HELP, sourceRoot } from '../source-root.js';

/** How many files `deps` analyses at once: enough to overlap I/O, few enough for file descriptors. */
const CONCURRENCY = 32;

export function register(program: Command): void {
  program
    .command('deps')
    .description(
      'List the shared libraries the dynamic loader would load for each ELF file, like ldd, ' +
        'without running anything.',
    )
    .argument('<file...>', 'ELF executables or shared objects')
    .option('--json', 'print one JSON array: [{file, interpreter, libraries: [{name, path}], error?}]')
    .option('--library-path <dirs>', 'LD_LIBRARY_PATH of the analysed programs', process.env.LD_LIBRARY_PATH)
    .option('--source-root <dir>', SOURCE_ROOT_HELP)
    .addHelpText(
      'after',
      `
A library that is not found has path null ("not found"). A file that is not a dynamic ELF file
gets no libraries. "error" is set when a file cannot be read, or when the loader would stop with
an error ("error while loading shared libraries: ..."); the exit status is then 1. With
--source-root, files and libraries are paths inside that root (relative ones from its /), as
\`chroot DIR ldd FILE\` would take and print them.

Exit status: 0 done; 1 a file cannot be analysed, or a bad command line or image name; 250 the
--source-root image is damaged or cannot be unpacked.`,
    )
    .action(deps);
}

async function deps(files: string[], opts: { json?: boolean; libraryPath?: string; sourceRoot?: string }): Promise<void> {
  const resolver = createResolver(await resolverOptions(opts));
  const results = await mapLimit(files, CONCURRENCY, (f) => resolver.resolve(f));
  let failed = false;
  const errors: string[] = [];
  const lines: string[] = [];
  const json = results.map((r) => {
    const error = errorOf(r);
    if (error !== null) {
      failed = true;
      errors.push(`occlum-bom: ${r.file}: ${error}`);
    }
    if (files.length > 1) lines.push(`${r.file}:`);
    lines.push(...plainLines(r));
    return {
      file: r.file,
      interpreter: r.status === 'dynamic' ? r.interpreter : null,
      libraries: r.status === 'dynamic' ? r.libraries.map(({ name, path }) => ({ name, path })) : [],
      ...(error === null ? {} : { error }),
    };
  });
  process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : lines.map((l) => `${l}\n`).join(''));
  if (errors.length > 0) process.stderr.write(errors.map((l) => `${l}\n`).join(''));
  if (failed) process.exitCode = 1;
}

/** The resolver of `deps` and `tree`: inside a source root, relative paths start at its `/` (chroot's working directory). */
export async function resolverOptions(opts: { libraryPath?: string; sourceRoot?: string }): Promise<ResolverOptions> {
  const { root } = await sourceRoot(opts.sourceRoot);
  return { ldLibraryPath: opts.libraryPath, ...(root.isHost ? {} : { root, cwd: '/' }) };
}

function errorOf(r: Resolution): string | null {
  if (r.status === 'unreadable') return r.reason;
  if (r.status === 'dynamic' && r.fatal !== null) return `error while loading shared libraries: ${r.fatal}`;
  return null;
}

/** ldd's listing, without load addresses. */
function plainLines(r: Resolution): string[] {
  switch (r.status) {
    case 'unreadable':
      return [];
    case 'not-elf':
    case 'not-dynamic':
      return ['\tnot a dynamic executable'];
    case 'unsupported':
      return [`\t${r.reason}`];
    case 'dynamic':
      if (r.fatal === null && r.elf.dynamic?.needed.length === 0) return ['\tstatically linked'];
      return r.libraries.map(({ name, path }) =>
        path === null ? `\t${name} => not found` : name === path ? `\t${path}` : `\t${name} => ${path}`,
      );
  }
}

