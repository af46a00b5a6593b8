// A copy_bom run: load -> collect -> resolve -> plan -> apply -> report, and its record.
import { Command, CommanderError } from '../vendor.js';
import { applyPlan, describeOp, type Applied } from '../apply.js';
import { collectBoms } from '../bom/collect.js';
import { describeFsError, Exit, UserError, UserErrors, type ExitCode } from '../errors.js';
import { realRoot } from '../fsops/jail.js';
import { lockImage } from '../fsops/lock.js';
import { log } from '../log.js';
import { Progress } from '../progress.js';
import { manifestPath, provenance, readManifest, readManifestText, type Manifest } from '../manifest.js';
import { ElfCache } from '../elf/index.js';
import { collectGarbage } from '../gc.js';
import { analyseDependencies, analyseInSteps, screenSources, type Analysis, type Screen } from '../plan/autodep.js';
import { DEFAULT_LOADER_CONFIG, loadLoaderConfig } from '../plan/loaders.js';
import { shown } from '../plan/paths.js';
import { buildPlan } from '../plan/plan.js';
import { HEAD_ELF, HEAD_PLAIN } from '../fsops/copy.js';
import { logReflinks } from '../fsops/native.js';
import { checkDestinations, resolveBom, type Phase } from '../plan/resolve.js';
import { removeStaleTemps } from '../output.js';
import { Inputs, statSeen } from '../inputs.js';
import { startRecord } from '../record.js';
import { missingReport, namesAfterPlan, namesInManifest, printEnd, printMissing, warnIfNotEmpty } from '../report.js';
import { describedWithParents, removePaths, stalePaths } from '../sync.js';
import { hashesOf, imageOfRun, manifestKey, noHashes, readIndex, writeIndex, writeManifest, type KnownHashes } from '../written.js';
import { VERSION } from '../version.js';
import { SOURCE_ROOT_HELP, sourceRoot } from './source-root.js';

interface Options {
  file: string;
  root: string;
  dryRun?: boolean;
  includeDir: string[];
  loaderConfig?: string;
  manifest?: string;
  delete?: boolean;
  quiet?: boolean;
  sourceRoot?: string;
}

/** The options, or the exit code when the command line was handled (help, version) or wrong. */
function parse(argv: string[]): Options | ExitCode {
  const program = new Command('copy_bom')
    .description('Copy the files described in a BOM file (and the libraries they need) into an image root.')
    .requiredOption('-f, --file <bom>', 'the BOM file to copy')
    .requiredOption('--root <dir>', 'the image root directory to copy into')
    .option('--dry-run', 'print every operation and change nothing')
    .option('-i, --include-dir <dir>', 'where to look for included BOM files (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--loader-config <file>', `Occlum loader config (default: $OCCLUM_ELF_LOADER_CONFIG, else ${DEFAULT_LOADER_CONFIG} when present)`)
    .option('--source-root <dir>', SOURCE_ROOT_HELP)
    .option('--manifest <file>', 'where to write the image manifest (default: <root>.manifest.json beside the root)')
    .option('--delete', 'also remove what the previous run put in the image and the BOMs no longer describe')
    .option('-q, --quiet', 'no progress display (it is shown only when stderr is a terminal)')
    .version(VERSION, '-V, --version')
    .exitOverride();
  try {
    return program.parse(argv).opts<Options>();
  } catch (e) {
    // --help and --version end here with code 0; a bad command line with clap's 1.
    if (e instanceof CommanderError) return e.exitCode === 0 ? Exit.ok : Exit.usage;
    throw e;
  }
}

export async function main(): Promise<ExitCode> {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const opts = parse(process.argv);
  if (typeof opts === 'number') return opts;
  const { root } = opts;
  const rootAbs = realRootOf(root);
  if (rootAbs === '/') throw new UserError(`refusing to use / as the image root (--root ${root})`, Exit.usage);
  const { root: source, named } = await sourceRoot(opts.sourceRoot);
  warnIfNotEmpty(root);

  const clock = phases();
  const progress = Progress.forStderr(opts.quiet === true);
  progress.phase('reading BOMs and scanning sources');
  // What the run reads and warns of, for its record: a rebuild that finds all of it unchanged says the same and stops.
  const inputs = new Inputs();
  for (const file of named) await statSeen(file, inputs); // an image re-tagged is another root
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    log.warn(m);
  };
  const boms = await collectBoms(opts.file, opts.includeDir, inputs.reader(process.env), inputs);
  checkDestinations(boms);
  // Every source that cannot be copied is named, in the order upstream would meet them: the
  // hashed files of every BOM first, then BOM by BOM, directory copies before file copies; the
  // exit code is the first one's.
  const resolved = [];
  const failures: { e: UserError; bom: number; phase: number; n: number }[] = [];
  const order: Record<Phase, number> = { hash: 0, dirs: 1, files: 2 };
  for (const bom of boms) {
    const failed = (e: UserError, phase: Phase) => failures.push({ e, bom: phase === 'hash' ? -1 : resolved.length, phase: order[phase], n: failures.length });
    resolved.push(await resolveBom(bom, { root, warn, note: log.info, inputs, failed, source }));
  }
  if (failures.length) throw new UserErrors(failures.sort((a, b) => a.bom - b.bom || a.phase - b.phase || a.n - b.n).map((f) => f.e));
  clock.mark('sources');
  progress.phase('analysing ELF files');
  const loaders = await loadLoaderConfig(opts.loaderConfig ?? (process.env.OCCLUM_ELF_LOADER_CONFIG || undefined), inputs);
  const cache = ElfCache.forImage(root);
  const autodep = { rootAbs, loaders, cache, source, debug: log.debug };
  // A dry run screens the trees' files now, to print the whole plan; a run that copies them
  // has their copies say which start with the ELF magic, and copies their libraries last.
  const analysis: Analysis = opts.dryRun ? { deps: await analyseDependencies(resolved, autodep) } : await analyseInSteps(resolved, autodep);
  clock.mark('dependencies');
  progress.done();
  const plan = buildPlan(resolved, analysis.deps);
  for (const w of plan.warnings) warn(w);
  const manifestFile = manifestPath(root, opts.manifest);
  let deps = analysis.deps;

  if (opts.dryRun) {
    const keep = describedWithParents(provenance(plan).keys());
    cache.save(); // what the ELF files said: the run after it reads none of them again
    process.stdout.write(plan.ops.map((op) => `${describeOp(op, root)}\n`).join(''));
    if (opts.delete) for (const p of stalePaths(readManifest(manifestFile, false), (p) => keep.has(p))) process.stdout.write(`rm ${shown(root, p.slice(1))}\n`);
    return printMissing(missingReport(deps.missing, deps.missing.length ? await namesAfterPlan(root, plan) : new Set()));
  }

  const release = await lockImage(root, (pid, file) => log.warn(`waiting for copy_bom (pid ${pid}) to finish with ${root} (lock file ${file})`));
  try {
    const { known, unchangedKey, previous } = lastRun(manifestFile, opts.delete === true); // before anything is written
    const applied = await applyPlan(plan, root, rootAbs, progress);
    if (analysis.later) {
      deps = await analysis.later(screenedByCopies(applied));
      // The trees' libraries are the end of the whole plan: what follows the plan applied.
      const whole = buildPlan(resolved, deps);
      const told = new Set(plan.warnings);
      for (const w of whole.warnings) if (!told.has(w)) warn(w);
      const libraries = whole.ops.slice(plan.ops.length);
      if (libraries.length) await applyPlan({ ops: libraries, warnings: [] }, root, rootAbs, progress, applied);
    }
    const { stats } = applied;
    clock.mark('copy');
    progress.phase('writing the manifest');
    // What the run read is stat'ed on the thread pool while the manifest is made.
    const record = startRecord({ argv: process.argv.slice(2), inputs, analysis: cache.analysisInputs(), startedNs });
    cache.save();
    collectGarbage(); // what the copies left, before the manifest's paths are made (src/gc.ts)
    const image = await imageOfRun(rootAbs, applied, known, (described) => {
      if (opts.delete) for (const p of removePaths(rootAbs, stalePaths(previous, described.has), described)) process.stdout.write(`removed ${shown(root, p.slice(1))}\n`);
    });
    await record.image(root, rootAbs, image);
    removeStaleTemps(manifestFile);
    const { digest, key, index } = writeManifest(manifestFile, image, unchangedKey);
    writeIndex(manifestFile, key, index);
    progress.done();
    clock.mark('manifest');
    const outcome = { warnings, digest, missing: missingReport(deps.missing, deps.missing.length ? namesInManifest(image.paths, image.isDir) : new Set<string>()) };
    await record.finish(manifestFile, outcome);
    clock.mark('record');
    logReflinks();
    log.info(`done: ${stats.files} files copied (${stats.bytes} bytes), ${stats.linked} linked to a copy of the same file, ${stats.unchanged} unchanged; ${clock.report()}`);
    return printEnd(outcome.digest, outcome.missing);
  } finally {
    cache.save(); // after a failure too: what the files said still holds
    release();
  }
}

/**
 * What this run needs of the last one's manifest: its hashes, the key of its text (unchanged,
 * it is left alone) and, for `--delete`, the manifest itself. From the manifest's index while
 * the index still describes the file (no 60 MB of JSON parsed), else from the file.
 */
function lastRun(file: string, forDelete: boolean): { known: KnownHashes; unchangedKey?: string; previous?: Manifest } {
  const index = forDelete ? undefined : readIndex(file);
  if (index) return { known: index.known, unchangedKey: index.key };
  const stored = previousManifest(file, forDelete);
  if (!stored) return { known: noHashes };
  return { known: hashesOf(stored.manifest), unchangedKey: manifestKey(stored.text, stored.manifest.digest), ...(forDelete ? { previous: stored.manifest } : {}) };
}

/**
 * The manifest of the last run, read while holding the lock. A damaged one only costs its
 * hashes (it is written anew), unless `--delete` needs it to know what the last run put there.
 */
function previousManifest(file: string, forDelete: boolean): ReturnType<typeof readManifestText> {
  try {
    return readManifestText(file, false);
  } catch (e) {
    if (forDelete || !(e instanceof UserError)) throw e;
    log.warn(`${e.message}; it is written anew`);
    return undefined;
  }
}

/**
 * The screen of the trees' files by what their copies read first; those no copy of the addon's
 * read (kept by the quick check, copied by Node, of a tree a later one replaces) are read at
 * their sources.
 */
function screenedByCopies(applied: Applied): Screen {
  const copies = new Map(applied.placed.flatMap((pl) => ('copy' in pl ? [[pl.copy.tree, pl.copy] as const] : [])));
  return async (groups) => {
    const heads = groups.map(({ tree, rows }) => {
      const head = copies.get(tree)?.head;
      return Uint8Array.from(rows, (row) => head?.[row] ?? 0);
    });
    const unread = groups.map(({ tree, rows }, g) => ({ tree, rows: rows.filter((_, k) => heads[g]![k] !== HEAD_ELF && heads[g]![k] !== HEAD_PLAIN) }));
    const read = unread.some(({ rows }) => rows.length) ? await screenSources(unread) : [];
    return heads.map((head, g) => {
      let next = 0;
      return head.map((h) => (h === HEAD_ELF ? 1 : h === HEAD_PLAIN ? 0 : read[g]![next++]!));
    });
  };
}

/** The root's real path (UserError when it cannot be found: a loop, a file in the way). */
function realRootOf(root: string): string {
  try {
    return realRoot(root);
  } catch (e) {
    throw new UserError(`cannot use ${root} as the image root: ${describeFsError(e)}`, Exit.createDir);
  }
}

/** Wall time of each phase, and the memory held at its end, for the summary line. */
function phases() {
  let last = performance.now();
  const spent: string[] = [];
  return {
    mark(name: string) {
      const now = performance.now();
      spent.push(`${name} ${((now - last) / 1000).toFixed(2)} s (${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MB)`);
      last = now;
    },
    report: () => spent.join(', '),
  };
}

