// copy_bom: the drop-in for Occlum's tool. load -> collect -> resolve -> plan -> apply.
import './threads.js';
import { readdir } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { collectBoms } from '../bom/collect.js';
import { applyPlan, describeOp } from '../apply.js';
import { Exit, UserError } from '../errors.js';
import { log } from '../log.js';
import { buildPlan, type Plan } from '../plan/plan.js';
import { checkDestinations, resolveBom } from '../plan/resolve.js';
import { analyseDependencies, type MissingLib } from '../plan/autodep.js';
import { DEFAULT_LOADER_CONFIG, loadLoaderConfig } from '../plan/loaders.js';
import { formatWhere } from '../errors.js';
import path from 'node:path';
import { renameSync, writeFileSync } from 'node:fs';
import { lockImage } from '../fsops/lock.js';
import { makeManifest, manifestPath, provenance, readManifest, scanImage, serialize } from '../manifest.js';
import { shown } from '../plan/paths.js';
import { removePaths, stalePaths } from '../sync.js';
import { runMain } from './main.js';

interface Options {
  file: string;
  root: string;
  dryRun?: boolean;
  includeDir: string[];
  loaderConfig?: string;
  manifest?: string;
  delete?: boolean;
}

function parse(argv: string[]): Options {
  const program = new Command('copy_bom')
    .description('Copy the files described in a BOM file (and the libraries they need) into an image root.')
    .requiredOption('-f, --file <bom>', 'the BOM file to copy')
    .requiredOption('--root <dir>', 'the image root directory to copy into')
    .option('--dry-run', 'print every operation and change nothing')
    .option('-i, --include-dir <dir>', 'where to look for included BOM files (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--manifest <file>', 'where to write the image manifest (default: <root>.manifest.json beside the root)')
    .option('--delete', 'also remove what the previous run put in the image and the BOMs no longer describe')
    .option('--loader-config <file>', `Occlum loader config (default: $OCCLUM_ELF_LOADER_CONFIG, else ${DEFAULT_LOADER_CONFIG} when present)`)
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

  const clock = phases();
  const boms = await collectBoms(file, includeDir, process.env);
  checkDestinations(boms);
  const ctx = { root, warn: log.warn, note: log.info };
  const resolved = [];
  for (const bom of boms) resolved.push(await resolveBom(bom, ctx));
  clock.mark('sources');
  const loaders = await loadLoaderConfig(opts.loaderConfig ?? (process.env.OCCLUM_ELF_LOADER_CONFIG || undefined));
  const deps = await analyseDependencies(resolved, { rootAbs: path.resolve(root), loaders, debug: log.debug });
  clock.mark('dependencies');
  const plan = buildPlan(resolved, deps);
  for (const w of plan.warnings) log.warn(w);

  const manifestFile = manifestPath(root, opts.manifest);
  const from = provenance(plan);
  if (opts.dryRun) {
    process.stdout.write(plan.ops.map((op) => `${describeOp(op, root)}\n`).join(''));
    if (opts.delete) for (const p of stalePaths(readManifest(manifestFile, false), from)) process.stdout.write(`rm ${shown(root, p.slice(1))}\n`);
  } else {
    const release = await lockImage(root, (pid, file) => log.warn(`waiting for copy_bom (pid ${pid}) to finish with ${root} (lock file ${file})`));
    try {
      const stats = await applyPlan(plan, root);
      clock.mark('copy');
      const previous = readManifest(manifestFile, false);
      if (opts.delete) for (const p of removePaths(root, stalePaths(previous, from))) process.stdout.write(`removed ${shown(root, p.slice(1))}\n`);
      const manifest = makeManifest(await scanImage(root, from, previous));
      writeAtomically(manifestFile, serialize(manifest));
      clock.mark('manifest');
      log.info(`done: ${stats.files} files copied (${stats.bytes} bytes), ${stats.unchanged} unchanged; ${clock.report()}`);
      process.stdout.write(`image digest: ${manifest.digest}\n`);
    } finally {
      release();
    }
  }
  if (deps.missing.length === 0) return Exit.ok;
  // A dry run has written nothing: what the image would hold is what it holds now plus the plan.
  const present = await namesIn(root);
  if (opts.dryRun) for (const name of plannedNames(plan)) present.add(name);
  return reportMissing(deps.missing, present);
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Wall time of each phase, for the summary line. */
function phases() {
  let last = performance.now();
  const spent: string[] = [];
  return {
    mark(name: string) {
      const now = performance.now();
      spent.push(`${name} ${((now - last) / 1000).toFixed(2)} s`);
      last = now;
    },
    report: () => spent.join(', '),
  };
}

/** Missing libraries of `files` entries fail the run unless the image has a file of that name (upstream's rule). */
function reportMissing(missing: readonly MissingLib[], present: ReadonlySet<string>): number {
  const absent = missing.filter((m) => !present.has(m.name));
  const warned = new Set<string>();
  for (const m of absent.filter((m) => m.fromTree)) {
    const line = `${formatWhere(m.where)}: library ${m.name} needed by ${m.neededBy} was not found`;
    if (!warned.has(line)) log.warn(line);
    warned.add(line);
  }
  const fatal = absent.filter((m) => !m.fromTree);
  if (fatal.length === 0) return Exit.ok;
  process.stderr.write('copy_bom failed due to following libraries are missing:\n');
  const seen = new Set<string>();
  for (const m of fatal) {
    const line = `${m.name} (needed by ${m.neededBy}, ${formatWhere(m.where)})`;
    if (!seen.has(line)) process.stderr.write(`${line}\n`);
    seen.add(line);
  }
  return Exit.missingLibrary;
}

/** File names anywhere in the image (files and links); none when it does not exist yet. */
async function namesIn(root: string): Promise<Set<string>> {
  const names = new Set<string>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) if (!e.isDirectory()) names.add(e.name);
  return names;
}

/** File names the plan writes, inside copied trees too. */
function* plannedNames(plan: Plan): Generator<string> {
  for (const op of plan.ops) {
    if (op.kind === 'tree') for (const e of op.entries) yield path.posix.basename(e.rel);
    else if (op.kind !== 'mkdir') yield path.posix.basename(op.dest);
  }
}

await runMain('copy_bom', main);
