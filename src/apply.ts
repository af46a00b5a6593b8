// Carry out a plan inside the image root. Every path goes through the jail.
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, Exit, UserError, type ExitCode } from './errors.js';
import { CopyCheckError, copyFileAtomic, copyMany, copyTree, makeLink, newStats, shareWritten, typeConflict, type CopyStats, type TreeCopy } from './fsops/copy.js';
import { FILE } from './fsops/tree.js';
import { Jail } from './fsops/jail.js';
import { log } from './log.js';
import type { Progress, Totals } from './progress.js';
import type { Op, Plan } from './plan/plan.js';
import { shown } from './plan/paths.js';

type FileOp = Extract<Op, { kind: 'file' | 'lib' }>;

const FAILURE: Record<Op['kind'], ExitCode> = {
  mkdir: Exit.createDir,
  link: Exit.createSymlink,
  tree: Exit.copyDir,
  file: Exit.copyFile,
  lib: Exit.copyFile,
};

/** One line per operation, as --dry-run prints the plan. */
export function describeOp(op: Op, root: string): string {
  switch (op.kind) {
    case 'mkdir':
      return `mkdir -p ${shown(root, op.dest)}`;
    case 'link':
      return `ln -s ${op.target} ${shown(root, op.dest)}`;
    case 'tree':
      return `copy dir ${op.source} ${shown(root, op.dest)}/ (${op.tree.length} entries)`;
    case 'file':
      return `copy file ${op.source} ${shown(root, op.dest)}`;
    case 'lib':
      return `copy lib ${op.source} ${shown(root, op.dest)} (needed by ${op.neededBy})`;
  }
}

/** Files and bytes the plan may write (an unchanged file is counted, then skipped). */
export function planTotals(plan: Plan): Totals {
  const t = { files: 0, bytes: 0 };
  for (const op of plan.ops) {
    if (op.kind === 'file' || op.kind === 'lib') {
      t.files++;
      t.bytes += op.meta.size;
    } else if (op.kind === 'tree') {
      const tree = op.tree;
      for (let i = 0; i < tree.length; i++) {
        if (tree.kind[i] !== FILE) continue;
        t.files++;
        t.bytes += tree.size[i]!;
      }
    }
  }
  return t;
}

/**
 * Identities of the host files the plan copies to more than one image path. Inodes are sorted
 * first (numbers): only a file whose inode comes up twice has its identity made and compared.
 */
function repeatedSources(plan: Plan): string[] {
  const files = plan.ops.flatMap((op) => ((op.kind === 'file' || op.kind === 'lib') && op.meta.identity !== undefined ? [op.meta.identity] : []));
  const trees = plan.ops.flatMap((op) => (op.kind === 'tree' ? [op.tree] : []));
  const inoOf = (id: string) => Number(id.split(':', 2)[1]);
  const inos = files.map(inoOf);
  for (const t of trees) for (let i = 0; i < t.length; i++) if (t.kind[i] === FILE) inos.push(t.ino[i]!);
  const sorted = Float64Array.from(inos).sort();
  const twice = new Set<number>();
  for (let k = 1; k < sorted.length; k++) if (sorted[k] === sorted[k - 1]) twice.add(sorted[k]!);
  if (twice.size === 0) return [];
  const seen = new Set<string>();
  const repeated = new Set<string>();
  const note = (id: string) => (seen.has(id) ? repeated.add(id) : seen.add(id));
  for (const id of files) if (twice.has(inoOf(id))) note(id);
  for (const t of trees) for (let i = 0; i < t.length; i++) if (t.kind[i] === FILE && twice.has(t.ino[i]!)) note(t.identity(i));
  return [...repeated];
}

/** What an operation left in the image: a host path, or a tree's copy. */
export type Placed = { op: Exclude<Op, { kind: 'tree' }>; host: string } | { op: Extract<Op, { kind: 'tree' }>; copy: TreeCopy };

export interface Applied {
  stats: CopyStats;
  /** In plan order. */
  placed: Placed[];
  /** Host paths of the directories this run made (nothing was in them before). */
  made: Set<string>;
}

/**
 * `root` as the user named it (for messages), `rootAbs` its real path (fsops/jail.ts realRoot).
 * `after`: what an earlier part of the same plan applied, to be continued (its stats, its
 * placed operations and the directories it made grow).
 */
export async function applyPlan(plan: Plan, root: string, rootAbs: string, progress: Progress, after?: Applied): Promise<Applied> {
  const jail = new Jail(rootAbs);
  const stats = after?.stats ?? newStats(repeatedSources(plan));
  const placed: Placed[] = after?.placed ?? [];
  const totals = planTotals(plan);
  if (after) {
    // The files and libraries that are host files a tree of the earlier part wrote: hard links to those.
    const identities = plan.ops.flatMap((op) => ((op.kind === 'file' || op.kind === 'lib') && op.meta.identity !== undefined ? [op.meta.identity] : []));
    shareWritten(after.placed.flatMap((pl) => ('copy' in pl ? [pl.copy] : [])), identities, stats);
    // Progress counts on from where the earlier part stopped.
    totals.files += stats.files + stats.linked + stats.unchanged;
    totals.bytes += stats.bytes;
  }
  progress.copying(stats, totals);
  const fail = (op: Op, e: unknown): never => {
    if (e instanceof UserError) throw e;
    if (e instanceof CopyCheckError) throw new UserError(e.message, e.reason === 'hash' ? Exit.wrongHash : FAILURE[op.kind], op.where ?? undefined);
    throw new UserError(`${describeOp(op, root)} failed: ${describeFsError(e)}${fsPath(e)}`, FAILURE[op.kind], op.where ?? undefined);
  };
  // Runs of file and library copies go in parallel. A copy whose destination, or a directory
  // above it, another copy of the run writes (by image path, and by host path once links are
  // followed) waits for the run so far to finish, so the result is that of plan order.
  let batch: { op: FileOp; dest: string }[] = [];
  const imageDests = new Set<string>();
  const hostDests = new Set<string>();
  const flush = async () => {
    const copies = batch;
    batch = [];
    imageDests.clear();
    hostDests.clear();
    await copyMany(copies, ({ op }) => op.meta, stats, ({ op, dest }) =>
      copyFileAtomic(op.source, dest, op.meta, stats, op.kind === 'file' ? op.sha256 : undefined).catch((e: unknown) => fail(op, e)),
    );
  };
  const writtenAbove = (p: string, written: Set<string>, top: string) => {
    for (let d = p; d !== top && d !== '.' && d !== '/'; d = path.posix.dirname(d)) if (written.has(d)) return true;
    return false;
  };
  await checkTypeConflicts(plan, jail);
  try {
    for (const op of plan.ops) {
      log.info(describeOp(op, root));
      if (op.kind !== 'file' && op.kind !== 'lib') await flush();
      try {
        if (op.kind === 'file' || op.kind === 'lib') {
          if (writtenAbove(op.dest, imageDests, '')) await flush();
          const dest = await fileDest(op, jail);
          if (writtenAbove(dest, hostDests, jail.root)) await flush();
          batch.push({ op, dest });
          placed.push({ op, host: dest });
          imageDests.add(op.dest);
          hostDests.add(dest);
        } else {
          placed.push(await applyOp(op, jail, stats));
        }
      } catch (e) {
        fail(op, e);
      }
    }
    await flush();
  } finally {
    progress.done();
  }
  if (after) for (const d of jail.made) after.made.add(d);
  return { stats, placed, made: jail.made };
}

/**
 * A copied tree's file or link where the image already holds a directory with something in it:
 * found before anything is written (rsync stops there half-way; so did copy_bom).
 */
async function checkTypeConflicts(plan: Plan, jail: Jail): Promise<void> {
  for (const op of plan.ops) {
    if (op.kind !== 'tree') continue;
    const base = await jail.resolve(op.dest).catch(() => null);
    const found = base === null || !isDir(base) ? undefined : typeConflict(op.tree, base);
    if (found) {
      const image = `/${path.relative(jail.root, found.dest)}`;
      const what = op.tree.kind[found.row] === FILE ? 'a file' : 'a link';
      throw new UserError(`the image has a directory that is not empty at ${image} where ${op.tree.src(found.row)} is ${what}: copy_bom deletes no such directory (remove it, or exclude the source)`, Exit.copyDir, op.where);
    }
  }
}

function fsPath(e: unknown): string {
  const p = (e as NodeJS.ErrnoException).path;
  return p ? ` (${p})` : '';
}

async function applyOp(op: Exclude<Op, FileOp>, jail: Jail, stats: CopyStats): Promise<Placed> {
  switch (op.kind) {
    case 'mkdir':
      // The root itself is the user's to name: made with its parents, like mkdir -p.
      if (op.dest === '' && !existsSync(jail.root)) {
        await mkdir(jail.root, { recursive: true });
        jail.made.add(jail.root);
      }
      return { op, host: await jail.mkdirp(op.dest) };
    case 'link': {
      const host = path.join(await jail.mkdirp(parentOf(op.dest)), path.posix.basename(op.dest));
      await makeLink(host, op.target);
      jail.forget();
      return { op, host };
    }
    case 'tree': {
      const copy = await copyTree(op.tree, await jail.mkdirp(op.dest), stats);
      jail.forget();
      return { op, copy };
    }
  }
}

/** The host path a file copy writes: its directory made, and inside it if the destination is one (or a link to one), as rsync does. */
async function fileDest(op: FileOp, jail: Jail): Promise<string> {
  const parent = await jail.mkdirp(parentOf(op.dest));
  const followed = await jail.resolve(op.dest);
  return isDir(followed) ? path.join(followed, path.basename(op.source)) : path.join(parent, path.posix.basename(op.dest));
}

/** The directory holding an image path ('' is the root). */
function parentOf(dest: string): string {
  const dir = path.posix.dirname(dest);
  return dir === '.' ? '' : dir;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
