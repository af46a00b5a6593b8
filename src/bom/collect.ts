// Includes: find every BOM reachable from the top one and put them in upstream's order.
//
// Upstream walks includes breadth-first, appending every include it meets (again and
// again for a file reached on several paths), then keeps each file at its LAST position.
// That order is: by the length of the longest include path to the file, then by the
// lexicographically greatest such path (include indices). Computing it from the include
// graph gives the same order without the exponential walk, and lets a cycle be reported
// exactly instead of by upstream's 100-step bound.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Exit, UserError, type Where } from '../errors.js';
import type { Env } from './env.js';
import { loadBom, type Bom } from './load.js';
import { statSeen, type Inputs } from '../inputs.js';
import { templatesDir } from '../resources.js';

/** More distinct BOM files than any real image uses: beyond this, an include bomb. */
const MAX_BOMS = 4096;

interface Node {
  bom: Bom;
  /** Edges to included BOMs (real paths), in the order written; repeats allowed. */
  children: string[];
}

/** `inputs` gets every BOM file read and every place an include was looked for. */
export async function collectBoms(topFile: string, userIncludeDirs: readonly string[], env: Env, inputs?: Inputs): Promise<Bom[]> {
  const nodes = new Map<string, Node>();
  const cwd = process.cwd();
  const includeDirs = [...userIncludeDirs, templatesDir()]; // the shipped templates last

  const visit = async (file: string, chain: { real: string; file: string }[], via?: Where): Promise<string> => {
    const real = await realpath(file).catch(() => path.resolve(file));
    const onChain = chain.findIndex((c) => c.real === real);
    if (onChain >= 0) {
      const cycle = [...chain.slice(onChain).map((c) => c.file), file].join(' -> ');
      throw new UserError(`include cycle: ${cycle}`, Exit.invalidBom, via);
    }
    if (nodes.has(real)) return real;
    if (nodes.size >= MAX_BOMS) throw new UserError(`more than ${MAX_BOMS} BOM files are included: include bomb?`, Exit.invalidBom);
    // Stat'ed before reading (a file replaced meanwhile is another inode), recorded by its content.
    const st = inputs ? await stat(file, { bigint: true }).catch(() => null) : null;
    if (inputs && !st) inputs.add('S', file, null); // unreadable now: whatever is there next time is a change
    const bom = await loadBom(file, env, (bytes) => (st ? inputs!.addContent(file, st, bytes) : undefined));
    const node: Node = { bom, children: [] };
    nodes.set(real, node);
    const next = [...chain, { real, file }];
    for (const inc of bom.includes) {
      const found = await findInclude(inc.name, file, includeDirs, cwd, inputs);
      if (!found) {
        const tried = inc.name.startsWith('/') ? [inc.name] : [path.join(path.dirname(file), inc.name), ...includeDirs.map((d) => path.join(d, inc.name))];
        throw new UserError(`cannot find included BOM file ${inc.name} (looked for ${tried.join(', ')})`, Exit.fileNotFound, inc.where);
      }
      node.children.push(await visit(found, next, inc.where));
    }
    return real;
  };

  const top = await visit(topFile, []);
  return upstreamOrder(top, nodes).map((real) => nodes.get(real)!.bom);
}

/** Next to the including BOM first, then each include dir (relative to the current directory). */
async function findInclude(name: string, includer: string, includeDirs: readonly string[], cwd: string, inputs?: Inputs): Promise<string | undefined> {
  // An absolute name is that file only (Path::join replaces the base with an absolute path).
  const candidates = name.startsWith('/') ? [name] : [path.join(path.dirname(includer), name), ...includeDirs.map((d) => path.join(path.resolve(cwd, d), name))];
  for (const c of candidates) {
    if ((await statSeen(c, inputs))?.isFile()) return c;
  }
  return undefined;
}

/** Order of upstream's breadth-first walk with "last position wins" (see the top of this file). */
function upstreamOrder(top: string, nodes: Map<string, Node>): string[] {
  // Topological order (reverse post-order); the graph is acyclic once visit() returned.
  const topo: string[] = [];
  const seen = new Set<string>();
  const dfs = (id: string) => {
    seen.add(id);
    for (const c of nodes.get(id)!.children) if (!seen.has(c)) dfs(c);
    topo.push(id);
  };
  dfs(top);
  topo.reverse();

  const best = new Map<string, number[]>([[top, []]]);
  for (const id of topo) {
    const from = best.get(id)!;
    nodes.get(id)!.children.forEach((child, index) => {
      const candidate = [...from, index];
      const current = best.get(child);
      if (!current || comparePaths(candidate, current) > 0) best.set(child, candidate);
    });
  }
  return [...best.keys()].sort((a, b) => comparePaths(best.get(a)!, best.get(b)!));
}

/** Upstream position order: a longer include path is later; equal lengths compare by indices. */
function comparePaths(a: number[], b: number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
