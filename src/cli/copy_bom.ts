// copy_bom: the drop-in for Occlum's tool. load -> collect -> resolve -> plan -> apply.
import { readdir } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { collectBoms } from '../bom/collect.js';
import { applyPlan, describeOp } from '../apply.js';
import { Exit, UserError } from '../errors.js';
import { log } from '../log.js';
import { buildPlan } from '../plan/plan.js';
import { checkDestinations, resolveBom } from '../plan/resolve.js';
import { runMain } from './main.js';

interface Options {
  file: string;
  root: string;
  dryRun?: boolean;
  includeDir: string[];
}

function parse(argv: string[]): Options {
  const program = new Command('copy_bom')
    .description('Copy the files described in a BOM file (and the libraries they need) into an image root.')
    .requiredOption('-f, --file <bom>', 'the BOM file to copy')
    .requiredOption('--root <dir>', 'the image root directory to copy into')
    .option('--dry-run', 'print every operation and change nothing')
    .option('-i, --include-dir <dir>', 'where to look for included BOM files (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .version('0.1.0', '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; a bad command line with clap's 1.
      throw Object.assign(new Error('exit'), { exit: e.exitCode === 0 ? 0 : Exit.usage });
    }
    throw e;
  }
  return program.opts<Options>();
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parse(process.argv);
  } catch (e) {
    const code = (e as { exit?: number }).exit;
    if (code !== undefined) return code;
    throw e;
  }
  const { file, root, includeDir } = opts;
  if (root.replace(/\/+$/, '') === '') throw new UserError('refusing to use / as the image root', Exit.usage);

  const entries = await readdir(root).catch(() => []);
  if (entries.length > 0) process.stdout.write(`WARNING: ${root} is not an empty directory before running copy_bom.\n`);

  const boms = await collectBoms(file, includeDir, process.env);
  checkDestinations(boms);
  const ctx = { root, warn: log.warn, note: log.info };
  const resolved = [];
  for (const bom of boms) resolved.push(await resolveBom(bom, ctx));
  const plan = buildPlan(resolved);
  for (const w of plan.warnings) log.warn(w);

  if (opts.dryRun) {
    process.stdout.write(plan.ops.map((op) => `${describeOp(op, root)}\n`).join(''));
    return Exit.ok;
  }
  const stats = await applyPlan(plan, root);
  log.info(`done: ${stats.files} files copied (${stats.bytes} bytes), ${stats.unchanged} unchanged`);
  return Exit.ok;
}

await runMain('copy_bom', main);
