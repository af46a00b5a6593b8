// `occlum-bom templates`: the template BOMs shipped with occlum-bom, which copy_bom searches
// after every --include-dir (so `includes: [base.yaml]` works without Occlum installed).
import type { Command } from 'commander';
import { listTemplates } from '../../generate/templates.js';
import { templatesDir } from '../../resources.js';

export function register(program: Command): void {
  program
    .command('templates')
    .description('List the template BOMs shipped with occlum-bom (searched by copy_bom after every --include-dir).')
    .option('--json', 'print one JSON array: [{name, path, description}]')
    .addHelpText('after', () => `\nThe templates are in ${templatesDir()}; include one by its name (includes: [base.yaml]).`)
    .action(async (opts: { json?: boolean }) => {
      const templates = await listTemplates();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(templates, null, 2)}\n`);
        return;
      }
      // Aligned columns, one template per line: name, path, what it is.
      const rows = [['NAME', 'PATH', 'DESCRIPTION'], ...templates.map((t) => [t.name, t.path, t.description])];
      const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
      const lines = rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`.trimEnd());
      process.stdout.write(lines.map((l) => `${l}\n`).join(''));
    });
}
