// Read-only half of planning: find every source on the host (globs expanded, files
// stat'ed, hashes checked, directory trees scanned) before anything is written.
import { stat } from 'node:fs/promises';
import type { Bom, FileEntry, Name } from '../bom/load.js';
import { expandGlob, hasGlobMagic } from '../bom/glob.js';
import { describeFsError, Exit, quote, UserError, type Where } from '../errors.js';
import { compileExcludes, FilterRuleError, type ExcludeMatcher } from '../fsops/exclude.js';
import { hashFile } from '../fsops/hash.js';
import { SourceRoot } from '../fsops/root.js';
import { fileMetaOf, scanTree, type Meta, type Tree } from '../fsops/tree.js';
import { statSeen, type Inputs } from '../inputs.js';
import { fileName, hostJoin, imagePath } from './paths.js';

export interface MkdirItem {
  dest: string;
  where: Where;
}
export interface LinkItem {
  dest: string;
  target: string;
  where: Where;
}
export interface TreeItem {
  /** The directory as named (joined to `from`), trailing slash kept. */
  source: string;
  /** Directory the entries go into. */
  dest: string;
  tree: Tree;
  where: Where;
}
export interface FileItem {
  source: string;
  dest: string;
  meta: Meta;
  autodep: boolean;
  /** The pinned SHA-256 (lower-case), checked again on the bytes written. */
  sha256?: string;
  where: Where;
}
export interface ResolvedBom {
  bom: Bom;
  mkdirs: MkdirItem[];
  links: LinkItem[];
  trees: TreeItem[];
  files: FileItem[];
}

export interface ResolveContext {
  /** The image root as given on the command line. */
  root: string;
  /** Things the user should see (a dangling link skipped in a copied tree). */
  warn: (message: string) => void;
  /** Things worth a line at info level (an optional entry skipped). */
  note: (message: string) => void;
  /** Gets every path looked at, for the run's record. */
  inputs?: Inputs;
  /** Where absolute sources are read (--source-root); the host when not given. */
  source?: SourceRoot;
  /**
   * Gets each source that cannot be copied (missing, unreadable, a hash that differs), with the
   * phase upstream would meet it in (Phase), and the resolution goes on with the next entry.
   * Without it the first one is thrown.
   */
  failed?: (e: UserError, phase: Phase) => void;
}

/** The errors of a source that cannot be copied, as opposed to a BOM that is wrong. */
const SOURCE_ERRORS: readonly number[] = [Exit.copyFile, Exit.copyDir, Exit.fileNotFound, Exit.wrongHash];

/**
 * When upstream meets a source's error: the files with a `hash` of every BOM are checked while
 * the BOMs are read, before anything is copied; then BOM by BOM, directory copies before files.
 */
export type Phase = 'hash' | 'dirs' | 'files';

/** `work()`, with a source error handed to `ctx.failed` (when given) instead of thrown. */
async function orFailed(ctx: ResolveContext, phase: Phase, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (!ctx.failed || !(e instanceof UserError) || !SOURCE_ERRORS.includes(e.exitCode)) throw e;
    ctx.failed(e, phase);
  }
}

/** Every destination of every BOM, checked before any source is looked at (cheap errors first). */
export function checkDestinations(boms: readonly Bom[]): void {
  for (const bom of boms) {
    for (const t of bom.targets) {
      const target = imagePath(t.where, t.target);
      for (const m of t.mkdirs) imagePath(m.where, target, m.name);
      for (const l of t.createlinks) {
        // A link there would replace the root, and everything after it would be written where it points.
        if (imagePath(l.where, target, l.linkname) === '') throw new UserError(`linkname ${quote(l.linkname)} is the image root itself`, Exit.invalidBom, l.where);
      }
      for (const s of t.copy) for (const f of s.files ?? []) if (f.rename !== undefined) imagePath(f.where, target, f.rename);
    }
    excludeMatcher(bom.excludes);
  }
}

function excludeMatcher(excludes: readonly Name[]): ExcludeMatcher {
  for (const e of excludes) {
    try {
      compileExcludes([e.name]);
    } catch (err) {
      if (err instanceof FilterRuleError) throw new UserError(`bad exclude pattern: ${err.message}`, Exit.invalidBom, e.where);
      throw err;
    }
  }
  return compileExcludes(excludes.map((e) => e.name));
}

/**
 * The parent of the root as upstream's Path::parent gives it: empty and `.` parts do not
 * count, `..` does (`image/.` is in `.`, `sym/../image` in `sym/..`, as the kernel reads it).
 */
export function parentOf(root: string): string {
  const parts = root.split('/').filter((p, i) => (p !== '' && p !== '.') || (i === 0 && p === ''));
  if (parts[0] === '') return parts.length <= 2 ? '/' : parts.slice(0, -1).join('/');
  return parts.length <= 1 ? '.' : parts.slice(0, -1).join('/');
}

export async function resolveBom(bom: Bom, ctx: ResolveContext): Promise<ResolvedBom> {
  // Relative sources are relative to the parent of the image root (upstream's rule).
  const workspace = parentOf(ctx.root);
  const exclude = excludeMatcher(bom.excludes);
  const out: ResolvedBom = { bom, mkdirs: [], links: [], trees: [], files: [] };
  const source = ctx.source ?? HOST;
  // A source is inside the source root when the BOM names it by an absolute path (or `from` is one).
  const sourcePath = (from: string | undefined, name: string) =>
    name.startsWith('/') || from?.startsWith('/') ? source.spell(hostJoin(from ?? '', name)) : hostJoin(from === undefined ? workspace : hostJoin(workspace, from), name);

  for (const t of bom.targets) {
    const target = imagePath(t.where, t.target);
    out.mkdirs.push({ dest: target, where: t.where });
    for (const m of t.mkdirs) out.mkdirs.push({ dest: imagePath(m.where, target, m.name), where: m.where });
    for (const l of t.createlinks) out.links.push({ dest: imagePath(l.where, target, l.linkname), target: l.src, where: l.where });

    for (const s of t.copy) {
      if (s.dirs === undefined && s.files === undefined) {
        // Only `from`: its contents go into the target.
        await orFailed(ctx, 'dirs', async () => {
          const tree = await scanSource(`${sourcePath(s.from, '').replace(/\/+$/, '')}/`, exclude, s.where, false, ctx);
          if (tree) out.trees.push({ ...tree, dest: target });
        });
      }
      for (const d of s.dirs ?? []) {
        await orFailed(ctx, 'dirs', async () => {
          for (const source of await expand(sourcePath(s.from, d.name), 'dir', d, ctx)) {
            const tree = await scanSource(source, exclude, d.where, d.optional, ctx, d.keepLinks);
            if (tree) out.trees.push({ ...tree, dest: target });
          }
        });
      }
      for (const f of s.files ?? []) {
        await orFailed(ctx, f.hash === undefined ? 'files' : 'hash', async () => {
          const sources = await expand(sourcePath(s.from, f.name), 'file', f, ctx);
          if (sources.length > 1 && (f.rename !== undefined || f.hash !== undefined)) {
            throw new UserError(`\`${f.rename !== undefined ? 'rename' : 'hash'}\` needs exactly one file, but ${f.name} matches ${sources.length}`, Exit.invalidBom, f.where);
          }
          for (const source of sources) {
            const item = await resolveFile(source, target, f, ctx);
            if (item) out.files.push(item);
          }
        });
      }
    }
  }
  return out;
}

/** A glob is expanded unless a file with that very name exists (names may contain `[`). */
async function expand(pattern: string, want: 'file' | 'dir', entry: Name & { optional: boolean }, ctx: ResolveContext): Promise<string[]> {
  if (!hasGlobMagic(pattern) || (await exists(pattern, ctx))) return [pattern];
  // Made absolute, not normalised: `x*/..` is the parent of each match (none if nothing matches), as in bash.
  const absolute = pattern.startsWith('/') ? pattern : `${process.cwd().replace(/\/$/, '')}/${pattern}`;
  const matches = await expandGlob(absolute, want, ctx.inputs, ctx.source);
  if (matches.length === 0) {
    if (entry.optional) ctx.note(`${entry.name}: no match, skipped (optional)`);
    else throw new UserError(`${pattern} matches no ${want === 'dir' ? 'directory' : 'file'}`, want === 'dir' ? Exit.copyDir : Exit.copyFile, entry.where);
  }
  return matches;
}

async function exists(p: string, ctx: ResolveContext): Promise<boolean> {
  try {
    return (await statSeen((ctx.source ?? HOST).reading(p, true, ctx.inputs), ctx.inputs)) !== null;
  } catch {
    return false; // nothing there inside the source root
  }
}

/** The host, as the source root when none is given. */
const HOST = new SourceRoot();

async function scanSource(source: string, exclude: ExcludeMatcher, where: Where, optional: boolean, ctx: ResolveContext, keepLinks = false) {
  try {
    const { tree, warnings } = await scanTree(source, exclude, ctx.inputs, ctx.source, keepLinks);
    for (const w of warnings) ctx.warn(w);
    return { source, tree, where };
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') {
      ctx.note(`${source}: does not exist, skipped (optional)`);
      return undefined;
    }
    throw new UserError(`cannot copy directory ${source}: ${describeFsError(e)}`, Exit.copyDir, where);
  }
}

async function resolveFile(source: string, target: string, f: FileEntry, ctx: ResolveContext): Promise<FileItem | undefined> {
  const name = f.rename ?? fileName(source);
  if (name === undefined) throw new UserError(`${source} does not name a file`, Exit.invalidBom, f.where);
  let named = source; // what is read: inside a source root, the real path there
  let st;
  try {
    named = (ctx.source ?? HOST).reading(named, true, ctx.inputs); // symlinks are followed (rsync -L), inside the source root
    st = await stat(named, { bigint: true });
    ctx.inputs?.add('S', named, st);
  } catch (e) {
    ctx.inputs?.add('S', named, null);
    if (f.optional && (e as NodeJS.ErrnoException).code === 'ENOENT') {
      ctx.note(`${source}: does not exist, skipped (optional)`);
      return undefined;
    }
    // A file with a `hash` is opened to be hashed first: upstream's "file not found" (255).
    if (f.hash !== undefined) throw new UserError(`cannot read ${source} to check its hash: ${describeFsError(e)}`, Exit.fileNotFound, f.where);
    throw new UserError(`cannot copy ${source}: ${describeFsError(e)}`, Exit.copyFile, f.where);
  }
  if (st.isDirectory()) throw new UserError(`${source} is a directory: list it under \`dirs\``, Exit.copyFile, f.where);
  if (!st.isFile()) throw new UserError(`${source} is not a regular file`, Exit.copyFile, f.where);
  if (f.hash !== undefined) {
    const actual = await hashFile(named).catch((e: unknown) => {
      throw new UserError(`cannot read ${source}: ${describeFsError(e)}`, Exit.fileNotFound, f.where);
    });
    if (actual !== f.hash) {
      throw new UserError(`hash mismatch for ${source}: the BOM says ${f.hash.toUpperCase()}, the file's SHA-256 is ${actual.toUpperCase()}`, Exit.wrongHash, f.where);
    }
  }
  const item: FileItem = { source: named, dest: imagePath(f.where, target, name), meta: fileMetaOf(st), autodep: f.autodep, where: f.where };
  if (f.hash !== undefined) item.sha256 = f.hash;
  return item;
}

