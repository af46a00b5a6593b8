// Automatic dependencies: the shared libraries (and the loader) each ELF file needs, found by
// reading the ELF files as the dynamic loader would (src/elf), never by running anything:
// for `files` entries and for every regular file of every copied tree (analysed at its source,
// which is what gets copied). The `files` entries before the first write; the files of copied
// trees either then too (a dry run prints the whole plan) or, in two steps (Analysis), after
// their copies said which of them start with the ELF magic (their libraries are copied last,
// where the plan has them anyway).
import { statSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createResolver, elfFiles, statState, type ElfCache, type Resolution, type Resolver } from '../elf/index.js';
import { describeFsError, Exit, UserError, type Where } from '../errors.js';
import type { SourceRoot } from '../fsops/root.js';
import { FILE, fileMetaOf, type Meta, type Tree } from '../fsops/tree.js';
import type { LoaderConfig } from './loaders.js';
import { mapLimit } from '../pool.js';
import { imagePath, resolved, treePath } from './paths.js';
import { idOf, plannedImage } from './placed.js';
import type { ResolvedBom } from './resolve.js';

export interface LibItem {
  source: string;
  dest: string;
  /** The file (as named in the BOM or found in a tree) that needs it, and the library that named it. */
  neededBy: string;
  name: string;
  rule: string;
  meta: Meta;
  where: Where;
}

export interface MissingLib {
  name: string;
  neededBy: string;
  where: Where;
  /** From a `files` entry (fatal unless the image has a file of that name) or from a copied tree (a warning). */
  fromTree: boolean;
}

export interface Dependencies {
  /** Libraries of each BOM's `files` entries, by BOM index. */
  perBom: LibItem[][];
  /** Libraries of files inside copied trees: copied after all BOMs, as upstream does. */
  trees: LibItem[];
  missing: MissingLib[];
}

export interface AutodepContext {
  /** Absolute path of the image root: libraries already inside it are not copied again. */
  rootAbs: string;
  loaders: LoaderConfig;
  /** What files said in earlier runs: a rebuild reads none of them again. */
  cache?: ElfCache;
  /**
   * The root the programs run in (--source-root): files below it are analysed by their paths
   * inside it, and every library is looked up there. Not given: the host.
   */
  source?: SourceRoot;
  debug: (message: string) => void;
}

/** File rows of one copied tree: an array of row numbers, not an object a row (a tree may have 200,000). */
export interface TreeRows {
  tree: Tree;
  rows: Int32Array;
}

/** Whether each of the rows starts with the ELF magic (see Analysis.later): 1 or 0 a row, by group. */
export type Screen = (groups: readonly TreeRows[]) => Promise<Uint8Array[]>;

/** The files of copied trees screened by reading their first bytes at their sources. */
export const screenSources: Screen = async (groups) => {
  const elf = await elfFiles(groups.flatMap(({ tree, rows }) => Array.from(rows, (row) => tree.src(row))));
  let next = 0;
  return groups.map(({ rows }) => Uint8Array.from(rows, () => (elf[next++] ? 1 : 0)));
};

/**
 * An analysis in two steps: `deps` before the files of copied trees are screened for ELF
 * (complete, and no `later`, when the cache gave the whole answer); `later` screens them with
 * the screen given (their copies read their first bytes anyway: copy_bom's cold build has the
 * copies say it) and gives the whole answer, whose trees' libraries `deps` does not have.
 */
export interface Analysis {
  deps: Dependencies;
  later?: (screen: Screen) => Promise<Dependencies>;
}

/**
 * The libraries to copy for every ELF file the BOMs copy, the trees' files screened at their
 * sources. With a cache, the answer of the last run is reused when its inputs and every path
 * it looked at are unchanged.
 */
export async function analyseDependencies(boms: readonly ResolvedBom[], ctx: AutodepContext): Promise<Dependencies> {
  const { deps, later } = await analyseInSteps(boms, ctx);
  return later ? later(screenSources) : deps;
}

/** analyseDependencies in two steps (Analysis). */
export async function analyseInSteps(boms: readonly ResolvedBom[], ctx: AutodepContext): Promise<Analysis> {
  if (!ctx.cache) return analyseAll(boms, ctx);
  const key = inputsKey(boms, ctx);
  const kept = ctx.cache.analysis(key);
  if (kept !== undefined) {
    const { answer, debug } = decodeAnswer(kept);
    for (const message of debug) ctx.debug(message);
    ctx.debug('dependencies: as in the last run (the files analysed and every path looked at are unchanged)');
    return { deps: answer };
  }
  const debug: string[] = [];
  const seen = new Map<string, string | null>();
  const first = await analyseAll(boms, { ...ctx, debug: (m) => (debug.push(m), ctx.debug(m)) }, seen);
  const cache = ctx.cache;
  return {
    deps: first.deps,
    later: async (screen) => {
      const answer = await first.later(screen);
      // The files hashed into the key must not have changed within RACY_NS of the run either.
      const racy = boms.some((b) => b.trees.some(({ tree: t }) => t.ctimeSec.subarray(0, t.length).some((sec, i) => t.kind[i] === FILE && cache.racyTime(sec, t.ctimeNsec[i]!))));
      cache.rememberAnalysis(key, seen, encodeAnswer(answer, debug), racy);
      return answer;
    },
  };
}

/** Everything an analysis depends on besides the file system: the files and trees, their sources' identities, the loaders, the root, the working directory. */
function inputsKey(boms: readonly ResolvedBom[], ctx: AutodepContext): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([process.cwd(), ctx.rootAbs, [...ctx.loaders], ctx.source?.root ?? '/']));
  for (const b of boms) {
    h.update(JSON.stringify(b.files.filter((f) => f.autodep).map((f) => [f.source, f.dest, f.where])));
    // What the image holds where a library goes (src/plan/placed.ts): every file and link.
    h.update(JSON.stringify([b.files.map((f) => [f.dest, f.meta.identity]), b.links.map((l) => [l.dest, l.target])]));
    for (const { where, dest, tree: t } of b.trees) {
      // Every row's host path (from the top, the names and their directories), image path, kind and identity.
      h.update(JSON.stringify([where, dest, t.top, t.rel(0), t.length]));
      h.update(t.names.join('\0'));
      for (const a of [t.parent, t.kind, t.dev, t.ino, t.size, t.mtimeSec, t.mtimeNsec, t.ctimeSec, t.ctimeNsec]) h.update(new Uint8Array(a.buffer, 0, t.length * a.BYTES_PER_ELEMENT));
    }
  }
  return h.digest('hex');
}

const encodeAnswer = (answer: Dependencies, debug: string[]) =>
  JSON.stringify({ answer, debug }, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
const decodeAnswer = (text: string) =>
  JSON.parse(text, (k, v: unknown) => (k === 'mtimeNs' && typeof v === 'string' ? BigInt(v.slice(0, -1)) : v)) as { answer: Dependencies; debug: string[] };

/** The analysis itself, in two steps; `seen` gets every path it looked at with what `stat` said of it (null if it said two things). */
async function analyseAll(boms: readonly ResolvedBom[], ctx: AutodepContext, seen?: Map<string, string | null>): Promise<Required<Analysis>> {
  const note = (p: string, state: string) => seen?.set(p, seen.has(p) && seen.get(p) !== state ? null : state);
  // Paths the loader model gives are inside the source root; what is copied is read at their real paths there.
  const root = ctx.source && !ctx.source.isHost ? ctx.source : undefined;
  const hostOf = (p: string, where: Where): string => {
    try {
      return root ? root.real(p) : p;
    } catch (e) {
      throw new UserError(`cannot copy library ${p} from ${root!.root}: ${describeFsError(e)}`, Exit.copyFile, where);
    }
  };
  const resolvers = new Map<string, Resolver>();
  const resolverFor = (ldLibraryPath: string) => {
    let r = resolvers.get(ldLibraryPath);
    if (!r) resolvers.set(ldLibraryPath, (r = createResolver({ ...(ldLibraryPath ? { ldLibraryPath } : {}), cache: ctx.cache, root })));
    return r;
  };
  const missing: MissingLib[] = [];
  // Synchronous: a thousand libraries are stat'ed in milliseconds, where promises cost ten times that.
  const metas = new Map<string, Meta>();
  const metaFor = (source: string, where: Where): Meta => {
    let m = metas.get(source);
    if (!m) {
      try {
        const st = statSync(source, { bigint: true });
        note(path.resolve(source), statState(st));
        m = fileMetaOf(st);
      } catch (e) {
        throw new UserError(`cannot copy library ${source}: ${describeFsError(e)}`, Exit.copyFile, where);
      }
      metas.set(source, m);
    }
    return m;
  };

  // A library is already there when its source lies inside the image root, or when the path
  // the loader will open leads, through the links the BOMs put in the image, to a copy of that
  // very file (a copy at another path does not count: the loader would not look there).
  const planned = plannedImage(boms);
  const alreadyThere = (p: string, at: string, meta: Meta) => resolved(p).startsWith(`${ctx.rootAbs}/`) || (meta.identity !== undefined && planned.fileAt(at) === idOf(meta.identity));

  /** `dest`: the image path the file is copied to, from which its $ORIGIN paths lead. */
  const analyse = async (source: string, dest: string, where: Where, fromTree: boolean): Promise<LibItem[]> => {
    // A file from outside the source root (a relative source) is read where it is; its libraries come from the root.
    const file = root?.inside(source) ?? source;
    const outside = root !== undefined && file === source;
    const plain = await resolverFor('').resolve(file, { outside });
    if (plain.status !== 'dynamic') {
      if (plain.status !== 'not-elf') ctx.debug(`${file}: no dependencies to copy (${plain.status}: ${plain.reason})`);
      return [];
    }
    // A configured (Occlum) loader replaces the one of the same file name.
    const configured = ctx.loaders.get(path.basename(plain.loader.path));
    const r: Resolution = configured ? await resolverFor(configured.libraryPath.join(':')).resolve(file, { outside }) : plain;
    if (r.status !== 'dynamic') return [];
    const interpreter = r.interpreter ?? r.loader.path;
    const out: LibItem[] = [];
    const done = new Set<string>();
    // Where each object is in the image (the file at its destination, each library wherever it
    // is put): an object's $ORIGIN is the directory of each of those.
    const placed = new Map<string, string[]>([[file, [dest]]]);
    const add = (found: string, target: string, lib: Pick<LibItem, 'name' | 'neededBy' | 'rule'>) => {
      const source = hostOf(found, where);
      const at = imagePath(where, target);
      if (done.has(`${source}\0${at}`)) return;
      done.add(`${source}\0${at}`);
      placed.set(found, [...(placed.get(found) ?? []), at]);
      const meta = metaFor(source, where);
      if (!alreadyThere(source, at, meta)) out.push({ source, dest: at, meta, where, ...lib });
    };
    add(configured?.loader ?? interpreter, interpreter, { name: path.basename(interpreter), neededBy: file, rule: configured ? 'loader config' : 'PT_INTERP' });
    if (r.fatal) ctx.debug(`${file}: the loader would stop: ${r.fatal}`);
    for (const lib of r.libraries) {
      if (lib.foundBy === 'interpreter') continue; // the loader, copied above
      if (lib.path === null) {
        missing.push({ name: lib.name, neededBy: path.resolve(lib.neededBy), where, fromTree });
        continue;
      }
      const rule = `DT_NEEDED ${lib.name} of ${lib.neededBy}, found via ${lib.foundBy}`;
      const relocated = configured && configured.libraryPath.includes(path.dirname(lib.path));
      add(lib.path, relocated ? path.join(configured.libraryPath[0]!, lib.name) : lib.path, { name: lib.name, neededBy: file, rule });
      // Found from the directory of an object that the image holds elsewhere (the program at its
      // destination, however the BOM spelled its source): also where $ORIGIN points there. The
      // kernel takes `..` from where the image's links lead (the program's own $ORIGIN is the
      // directory of its real path): `/bin/../lib` is `/usr/lib` when `/bin` is `usr/bin`.
      for (const at of lib.origin ? (placed.get(lib.origin.object) ?? []) : []) {
        const dir = path.posix.dirname(`/${at}`).slice(1);
        const there = path.posix.join('/', planned.realPath(dir) ?? dir, lib.origin!.rel);
        add(lib.path, there, { name: lib.name, neededBy: file, rule: `${rule} ($ORIGIN of /${at})` });
      }
    }
    return out;
  };

  // The files of copied trees are screened: most are not ELF, and four bytes (or the cache,
  // by identity) say so without the resolver's machinery. 52: the smallest ELF header.
  const id = new Float64Array(7);
  const identityOf = (t: Tree, i: number) => {
    id[0] = t.dev[i]!;
    id[1] = t.ino[i]!;
    id[2] = t.size[i]!;
    id[3] = t.mtimeSec[i]!;
    id[4] = t.mtimeNsec[i]!;
    id[5] = t.ctimeSec[i]!;
    id[6] = t.ctimeNsec[i]!;
    return id;
  };
  const unknown: (TreeRows & { where: Where; dest: string })[] = [];
  for (const b of boms) {
    for (const { tree: t, where, dest } of b.trees) {
      const rows = new Int32Array(t.length);
      let n = 0;
      for (let i = 0; i < t.length; i++) if (t.kind[i] === FILE && t.size[i]! >= 52 && !ctx.cache?.isPlain(identityOf(t, i))) rows[n++] = i;
      if (n > 0) unknown.push({ tree: t, rows: rows.slice(0, n), where, dest });
    }
  }
  const bySource = (a: MissingLib, b: MissingLib) => (a.neededBy < b.neededBy ? -1 : a.neededBy > b.neededBy ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  // Analysed in parallel, gathered in BOM order, so the plan does not depend on timing.
  const perBom = await Promise.all(
    boms.map(async (b) => (await mapLimit(b.files.filter((f) => f.autodep), 64, (f) => analyse(f.source, f.dest, f.where, false))).flat()),
  );
  return {
    deps: { perBom, trees: [], missing: [...missing].sort(bySource) },
    later: async (screen) => {
      const magic = await screen(unknown);
      const treeFiles: { tree: Tree; row: number; where: Where; dest: string }[] = [];
      unknown.forEach(({ tree, rows, where, dest }, g) =>
        rows.forEach((row, k) => {
          if (magic[g]![k]) treeFiles.push({ tree, row, where, dest });
          else ctx.cache?.rememberPlain(identityOf(tree, row));
        }),
      );
      const fromFiles = new Set(perBom.flat().map((l) => `${l.source}\0${l.dest}`));
      const trees = (await mapLimit(treeFiles, 64, ({ tree, row, where, dest }) => analyse(tree.src(row), treePath(dest, tree.rel(row)), where, true))).flat().filter((l) => !fromFiles.has(`${l.source}\0${l.dest}`));
      for (const r of resolvers.values()) for (const [p, state] of r.seen()) note(p, state);
      return { perBom, trees, missing: missing.sort(bySource) };
    },
  };
}
