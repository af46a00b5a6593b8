// `occlum-bom why`: the chain that put a path in the image, from the manifest's provenance.
import path from 'node:path';
import type { Command } from 'commander';
import { Exit, UserError } from '../../errors.js';
import { unpackedImageOf } from '../../image/ref.js';
import { manifestPath, readManifest, type Entry } from '../../manifest.js';

export function register(program: Command): void {
  program
    .command('why')
    .description('Say which BOM entry (and, for a library, which ELF file and loader rule) put PATH in the image.')
    .requiredOption('--root <dir>', 'the image root')
    .option('--manifest <file>', 'the manifest (default: <root>.manifest.json)')
    .argument('<path>', 'a path inside the image, e.g. /lib/x86_64-linux-gnu/libc.so.6')
    .action(why);
}

function why(target: string, opts: { root: string; manifest?: string }): void {
  const manifest = readManifest(manifestPath(opts.root, opts.manifest), true)!;
  const wanted = path.posix.normalize(`/${target.replace(/^\/+/, '')}`).replace(/(.)\/$/, '$1');
  const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
  const entry = byPath.get(wanted);
  if (!entry) throw new UserError(`${wanted} is not in the image's manifest`, Exit.usage);
  process.stdout.write(`${explain(entry, manifest.entries).join('\n')}\n`);
}

function explain(e: Entry, all: readonly Entry[]): string[] {
  const what = `${e.path} (${e.type}${e.target !== undefined ? ` -> ${e.target}` : ''})`;
  const f = e.from;
  if (f === null) return [what, '  no BOM of the last run describes it: left from an earlier run, or put there by hand'];
  if (f === 'parent') {
    const below = all.find((x) => x.path.startsWith(`${e.path === '/' ? '' : e.path}/`) && x.from !== 'parent' && x.from !== null);
    return [what, `  a directory made to hold what is below it${below ? `, e.g. ${below.path}` : ''}`];
  }
  switch (f.op) {
    case 'root':
      return [what, '  the image root (--root)'];
    case 'mkdir':
      return [what, `  made by ${f.bom} (a target or mkdirs entry)`];
    case 'link':
      return [what, `  created by ${f.bom} (createlinks)`];
    case 'file':
      return [what, copiedFrom(f.source), `  by ${f.bom} (files)`];
    case 'tree':
      return [what, copiedFrom(f.source), `  as part of the directory copy at ${f.bom} (dirs)`];
    case 'lib':
      return [what, copiedFrom(f.source), `  ${f.rule}`, `  a dependency of ${f.neededBy}`, `  which ${f.bom} copies`];
  }
}

/** Where a file was read; for a container image's unpacked root, the path inside the image and the image. */
function copiedFrom(source: string | undefined): string {
  const image = source === undefined ? null : unpackedImageOf(source);
  return image ? `  copied from ${image.inside} in ${image.image} (unpacked at ${source})` : `  copied from ${source}`;
}
