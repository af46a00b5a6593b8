// `occlum-bom sbom`: a software bill of materials of an image (CycloneDX 1.6 or SPDX 2.3 JSON),
// from the manifest copy_bom writes beside it and dpkg's database of the host it was built on.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { Option } from '../../vendor.js';
import { writeOutput } from '../../output.js';
import { log } from '../../log.js';
import { manifestPath, readManifest } from '../../manifest.js';
import { toCycloneDx } from '../../sbom/cyclonedx.js';
import { buildInventory, sha1OfImageFiles } from '../../sbom/inventory.js';
import { documentTime, toolInfo } from '../../sbom/meta.js';
import { toSpdx } from '../../sbom/spdx.js';
import type { SourceRoot } from '../../fsops/root.js';
import { sourceRoot } from '../source-root.js';

interface Options {
  root: string;
  manifest?: string;
  format: 'cyclonedx' | 'spdx';
  name?: string;
  output?: string;
  dpkgAdmindir: string;
  sourceRoot?: string;
}

export function register(program: Command): void {
  program
    .command('sbom')
    .description('Write a software bill of materials of an image: its files with their hashes and the Debian packages they come from.')
    .requiredOption('--root <dir>', 'the image root')
    .option('--manifest <file>', 'the manifest (default: <root>.manifest.json)')
    .addOption(new Option('--format <format>', 'cyclonedx (1.6 JSON) or spdx (2.3 JSON)').choices(['cyclonedx', 'spdx']).default('cyclonedx'))
    .option('--name <name>', "the image's name in the document (default: <instance dir>/<root dir>)")
    .option('-o, --output <file>', 'write it to FILE (replaced atomically) instead of standard output')
    .option('--dpkg-admindir <dir>', "dpkg's database of the host the image was built from (inside --source-root when given)", '/var/lib/dpkg')
    .option('--source-root <dir>', 'the root the image was built from (copy_bom --source-root: a directory or an image): its packages, read in its own dpkg database')
    .addHelpText(
      'after',
      `
Every regular file of the image is listed with its SHA-256 (from the manifest; SPDX also
requires a SHA-1 of each file, so --format spdx reads the image and stops, exit 249, if a file
no longer matches the manifest). A file copied from a host path that a Debian package
installed is tied to that package (name, version, architecture, package URL). The timestamp
is SOURCE_DATE_EPOCH when it is set, so the same image gives the same document. For an image
built with --source-root, give the same --source-root: its files are looked up by their paths
inside that root, in its dpkg database, and the distribution is its /etc/os-release's.`,
    )
    .action(sbom);
}

async function sbom(opts: Options): Promise<void> {
  const root = path.resolve(opts.root);
  const manifest = readManifest(manifestPath(opts.root, opts.manifest), true)!;
  const { root: source } = await sourceRoot(opts.sourceRoot);
  // A host without dpkg (the image built elsewhere, or not from Debian packages) still gets its files listed.
  const dpkg = hasDb(opts.dpkgAdmindir, source) ? { admindir: opts.dpkgAdmindir, root: source } : null;
  if (dpkg === null) log.warn(`no dpkg database at ${opts.dpkgAdmindir}${source.isHost ? '' : ` in ${opts.sourceRoot}`}: files are listed without their packages`);
  const inventory = buildInventory(manifest, { name: opts.name ?? defaultName(root), dpkg });
  const meta = { timestamp: documentTime(), tool: toolInfo() };
  const document = opts.format === 'spdx' ? toSpdx(inventory, meta, sha1OfImageFiles(root, inventory.files)) : toCycloneDx(inventory, meta);
  writeOutput(`${JSON.stringify(document, null, 2)}\n`, opts.output);
}

function hasDb(admindir: string, source: SourceRoot): boolean {
  try {
    return existsSync(source.real(admindir));
  } catch {
    return false;
  }
}

/** Occlum images are all called `image`: the instance directory says which one it is. */
function defaultName(root: string): string {
  const parent = path.basename(path.dirname(root));
  return parent ? `${parent}/${path.basename(root)}` : path.basename(root) || '/';
}
