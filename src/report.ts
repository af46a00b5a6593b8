// The end of a run: libraries that could not be found (upstream's rule: a missing library
// of a `files` entry fails the run unless a file of that name is somewhere in the image).
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Exit, formatWhere, type ExitCode } from './errors.js';
import { log } from './log.js';
import type { Manifest } from './manifest.js';
import type { MissingLib } from './plan/autodep.js';
import type { Plan } from './plan/plan.js';

export function reportMissing(missing: readonly MissingLib[], present: ReadonlySet<string>): ExitCode {
  const absent = missing.filter((m) => !present.has(m.name));
  const once = (lines: string[]) => [...new Set(lines)];
  for (const line of once(absent.filter((m) => m.fromTree).map((m) => `${formatWhere(m.where)}: library ${m.name} needed by ${m.neededBy} was not found`))) {
    log.warn(line);
  }
  const fatal = once(absent.filter((m) => !m.fromTree).map((m) => `${m.name} (needed by ${m.neededBy}, ${formatWhere(m.where)})`));
  if (fatal.length === 0) return Exit.ok;
  process.stderr.write(`copy_bom failed due to following libraries are missing:\n${fatal.join('\n')}\n`);
  return Exit.missingLibrary;
}

/** File names in the image as the manifest lists it. */
export function namesInManifest(m: Manifest): Set<string> {
  return new Set(m.entries.filter((e) => e.type !== 'dir').map((e) => path.posix.basename(e.path)));
}

/** What a dry run's image would hold: the names there now, plus every name the plan writes. */
export async function namesAfterPlan(root: string, plan: Plan): Promise<Set<string>> {
  const names = new Set<string>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])) if (!e.isDirectory()) names.add(e.name);
  for (const op of plan.ops) {
    if (op.kind === 'tree') for (const e of op.entries) names.add(path.posix.basename(e.rel));
    else if (op.kind !== 'mkdir') names.add(path.posix.basename(op.dest));
  }
  return names;
}
