// The pure half of planning: order the resolved BOMs' operations as upstream applies
// them, drop what a later operation replaces ("last one wins"), and say so.
import path from 'node:path';
import { formatWhere, type Where } from '../errors.js';
import { DIR, LINK, type Meta, type Tree } from '../fsops/tree.js';
import type { Dependencies, LibItem } from './autodep.js';
import { treePath } from './paths.js';
import type { ResolvedBom, TreeItem } from './resolve.js';

export type Op =
  | { kind: 'mkdir'; dest: string; where: Where | null }
  | { kind: 'link'; dest: string; target: string; where: Where }
  | { kind: 'tree'; source: string; dest: string; tree: Tree; where: Where }
  | { kind: 'file'; source: string; dest: string; meta: Meta; autodep: boolean; sha256?: string; where: Where }
  | { kind: 'lib'; source: string; dest: string; meta: Meta; neededBy: string; rule: string; where: Where };

export interface Plan {
  ops: Op[];
  warnings: string[];
}

const at = (w: Where | null) => (w ? formatWhere(w) : 'the command line');

/**
 * Upstream order: the image root, then for each BOM in include order its directories,
 * links, directory copies and file copies. A directory is made once (the first time);
 * a link, a directory copy or a file copy to a destination that a later one of the
 * same kind also writes is dropped, and the drop is reported when the two differ.
 */
export function buildPlan(boms: readonly ResolvedBom[], deps: Dependencies = { perBom: [], trees: [], missing: [] }): Plan {
  const warnings: string[] = [];
  const libsOf = (i: number) => deps.perBom[i] ?? [];
  const lastLink = lastBy(boms.flatMap((b) => b.links), (l) => l.dest);
  const lastTree = lastBy(boms.flatMap((b) => b.trees), copiedDir);
  // Within one BOM a file it names beats a library with the same destination; a later BOM beats both.
  const lastFile = lastBy<{ dest: string }>(boms.flatMap((b, i) => [...libsOf(i), ...b.files]), (f) => f.dest);
  const lastTreeLib = lastBy(deps.trees, (l) => l.dest);

  const dropped = <T extends { where: Where }>(item: T, winner: T | undefined, same: (a: T, b: T) => boolean, what: string) => {
    if (winner === item) return false;
    if (winner && !same(item, winner)) warnings.push(`${at(winner.where)}: ${what} replaces the one from ${at(item.where)} (the later one wins)`);
    return true;
  };

  const ops: Op[] = [{ kind: 'mkdir', dest: '', where: null }];
  const made = new Set<string>(['']);
  boms.forEach((b, i) => {
    for (const m of b.mkdirs) {
      if (made.has(m.dest)) continue;
      made.add(m.dest);
      ops.push({ kind: 'mkdir', ...m });
    }
    for (const l of b.links) {
      if (!dropped(l, lastLink.get(l.dest), (x, y) => x.target === y.target, `link ${l.dest || '/'}`)) ops.push({ kind: 'link', ...l });
    }
    for (const t of b.trees) {
      if (!dropped(t, lastTree.get(copiedDir(t)), (x, y) => x.source === y.source, `the copy of /${copiedDir(t)}`)) ops.push({ kind: 'tree', ...t });
    }
    for (const f of b.files) {
      if (!dropped(f, lastFile.get(f.dest) as typeof f, sameSource, `/${f.dest}`)) ops.push({ kind: 'file', ...f });
    }
    for (const l of libsOf(i)) {
      if (!dropped(l, lastFile.get(l.dest) as LibItem, sameSource, `/${l.dest}`)) ops.push({ kind: 'lib', ...l });
    }
  });
  for (const l of deps.trees) {
    if (lastTreeLib.get(l.dest) === l) ops.push({ kind: 'lib', ...l });
  }
  warnings.push(...overlaps(ops));
  return { ops, warnings };
}

/** The directory a copy makes or fills: `T/<name>` for `dirs: [name]`, `T` itself for `name/` and `from` alone. */
function copiedDir(t: TreeItem): string {
  const top = t.tree.length ? t.tree.rel(0) : '';
  return top !== '' ? [t.dest, top].filter(Boolean).join('/') : t.dest;
}

/** The same file named twice (a library found through `$ORIGIN/../lib` is also named by a `files` entry): no conflict to report. */
const sameSource = (a: { source: string }, b: { source: string }) => a.source === b.source || path.posix.resolve(a.source) === path.posix.resolve(b.source);

function lastBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  const m = new Map<string, T>();
  for (const item of items) m.set(key(item), item);
  return m;
}

/**
 * Paths written by two different operations with different content (a copy over a link, a
 * file over a tree's file). Only operations whose destinations can meet (the same path, or
 * one inside a copied tree's directory) are looked at path by path.
 */
function overlaps(ops: readonly Op[]): string[] {
  const involved = meeting(ops);
  const writer = new Map<string, { op: Op; index: number; what: string }>();
  const pairs = new Map<string, { first: Op; second: Op; count: number; example: string }>();
  let index = 0;
  const write = (path: string, op: Op, what: string) => {
    const prev = writer.get(path);
    writer.set(path, { op, index, what });
    if (!prev || prev.op === op || prev.what === what) return;
    const key = `${prev.index}>${index}`;
    const pair = pairs.get(key) ?? { first: prev.op, second: op, count: 0, example: path };
    pair.count++;
    pairs.set(key, pair);
  };
  for (const op of ops) {
    index++;
    if (!involved.has(op)) continue;
    if (op.kind === 'link') write(op.dest, op, `-> ${op.target}`);
    else if (op.kind === 'file' || op.kind === 'lib') write(op.dest, op, op.source);
    else if (op.kind === 'tree') {
      const t = op.tree;
      for (let i = 0; i < t.length; i++) {
        if (t.kind[i] === DIR) continue;
        write(treePath(op.dest, t.rel(i)), op, t.kind[i] === LINK ? `-> ${t.target(i)}` : t.src(i));
      }
    }
  }
  return [...pairs.values()].map(({ first, second, count, example }) =>
    count === 1
      ? `${at(second.where)}: /${example} is also written by ${at(first.where)} (the later one wins)`
      : `${at(second.where)}: overwrites ${count} paths written by ${at(first.where)}, e.g. /${example} (the later one wins)`,
  );
}

/** The writing operations that may write a path another one writes: a tree's paths are all below (or at) its copied directory. */
function meeting(ops: readonly Op[]): Set<Op> {
  const spans: { op: Op; span: string; tree: boolean }[] = [];
  for (const op of ops) {
    if (op.kind === 'link' || op.kind === 'file' || op.kind === 'lib') spans.push({ op, span: op.dest, tree: false });
    else if (op.kind === 'tree') spans.push({ op, span: copiedDir(op), tree: true });
  }
  const involved = new Set<Op>();
  const byPath = new Map<string, Op>();
  for (const s of spans) {
    if (s.tree) continue;
    const other = byPath.get(s.span);
    if (other) involved.add(other).add(s.op);
    byPath.set(s.span, s.op);
  }
  const within = (inner: string, outer: string) => outer === '' || inner === outer || inner.startsWith(`${outer}/`);
  for (const t of spans) {
    if (!t.tree) continue;
    for (const s of spans) if (s !== t && (within(s.span, t.span) || (s.tree && within(t.span, s.span)))) involved.add(t.op).add(s.op);
  }
  return involved;
}
