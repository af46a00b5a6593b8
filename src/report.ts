// What copy_bom reports, shared by a run and by the replay of an unchanged one (src/record.ts):
// the warning about a root that is not empty, the image digest, and the libraries that could
// not be found (upstream's rule: a missing library of a `files` entry fails the run unless a
// file of that name is somewhere in the image).
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Exit, formatWhere, type ExitCode } from './errors.js';
import { log } from './log.js';
import type { MissingLib } from './plan/autodep.js';
import type { Plan } from './plan/plan.js';

/** What a run says of the libraries it could not find, and its exit code. */
export interface MissingReport {
  /** Missing libraries of files in copied trees: warnings. */
  warnings: string[];
  /** Missing libraries of `files` entries: the run fails with this text. */
  failure: string | null;
  code: ExitCode;
}

export function missingReport(missing: readonly MissingLib[], present: ReadonlySet<string>): MissingReport {
  const absent = missing.filter((m) => !present.has(m.name));
  const once = (lines: string[]) => [...new Set(lines)];
  const warnings = once(absent.filter((m) => m.fromTree).map((m) => `${formatWhere(m.where)}: library ${m.name} needed by ${m.neededBy} was not found`));
  const fatal = once(absent.filter((m) => !m.fromTree).map((m) => `${m.name} (needed by ${m.neededBy}, ${formatWhere(m.where)})`));
  if (fatal.length === 0) return { warnings, failure: null, code: Exit.ok };
  return { warnings, failure: `copy_bom failed due to following libraries are missing:\n${fatal.join('\n')}\n`, code: Exit.missingLibrary };
}

/** Upstream's warning, on stdout, before anything is done. */
export function warnIfNotEmpty(root: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    // not there yet (or not a directory: the run says so when it gets there)
  }
  if (names.length > 0) process.stdout.write(`WARNING: ${root} is not an empty directory before running copy_bom.\n`);
}

/** The end of a run: the digest of the image, then the missing libraries; the exit code. */
export function printEnd(digest: string, missing: MissingReport): ExitCode {
  process.stdout.write(`image digest: ${digest}\n`);
  return printMissing(missing);
}

/** Print a missing-library report; its exit code. */
export function printMissing(r: MissingReport): ExitCode {
  for (const line of r.warnings) log.warn(line);
  if (r.failure !== null) process.stderr.write(r.failure);
  return r.code;
}

/** File names in the image as the manifest lists it (`paths`, and which of them are directories). */
export function namesInManifest(paths: readonly string[], isDir: (i: number) => boolean): Set<string> {
  const names = new Set<string>();
  paths.forEach((p, i) => (isDir(i) ? undefined : names.add(path.posix.basename(p))));
  return names;
}

/** What a dry run's image would hold: the names there now, plus every name the plan writes. */
export async function namesAfterPlan(root: string, plan: Plan): Promise<Set<string>> {
  const names = new Set<string>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])) if (!e.isDirectory()) names.add(e.name);
  for (const op of plan.ops) {
    if (op.kind === 'tree') for (const name of op.tree.names) names.add(name);
    else if (op.kind !== 'mkdir') names.add(path.posix.basename(op.dest));
  }
  return names;
}
