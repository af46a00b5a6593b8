// `occlum-bom verify`: does the image still hold exactly what its manifest says?
import type { Command } from 'commander';
import { realRoot } from '../../fsops/jail.js';
import { contentLine, digestOf, manifestPath, readManifest, scanImage, type Entry } from '../../manifest.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description('Hash the image again and report every path added, missing or changed since its manifest was written.')
    .requiredOption('--root <dir>', 'the image root')
    .option('--manifest <file>', 'the manifest (default: <root>.manifest.json)')
    .addHelpText('after', '\nExit status: 0 when the image is identical to the manifest, 1 when it differs.')
    .action(verify);
}

async function verify(opts: { root: string; manifest?: string }): Promise<void> {
  const manifest = readManifest(manifestPath(opts.root, opts.manifest), true)!;
  const now = await scanImage(realRoot(opts.root)); // no hash is trusted: every file is read again
  const expected = new Map(manifest.entries.map((e) => [e.path, e]));
  const actual = new Map(now.map((e) => [e.path, e]));
  const lines: string[] = [];
  for (const e of now) {
    const old = expected.get(e.path);
    if (!old) lines.push(`added    ${e.path}`);
    else if (contentLine(old) !== contentLine(e)) lines.push(`changed  ${e.path} (${differences(old, e)})`);
  }
  for (const e of manifest.entries) if (!actual.has(e.path)) lines.push(`missing  ${e.path}`);
  const digest = digestOf(now);
  if (lines.length === 0 && digest === manifest.digest) {
    process.stdout.write(`OK ${now.length} paths, ${digest}\n`);
    return;
  }
  process.stdout.write(`${lines.sort((a, b) => (a.slice(9) < b.slice(9) ? -1 : 1)).join('\n')}\n${lines.length} differences; image ${digest}, manifest ${manifest.digest}\n`);
  process.exitCode = 1;
}

function differences(a: Entry, b: Entry): string {
  const keys = ['type', 'mode', 'size', 'sha256', 'target'] as const;
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k} ${a[k] ?? '-'} -> ${b[k] ?? '-'}`).join(', ');
}
