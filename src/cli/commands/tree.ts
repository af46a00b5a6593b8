// `occlum-bom tree`: the dependency tree of ELF files as the dynamic loader builds it (like
// pax-utils' lddtree), with the rule that found each library, without running anything.
//
// The loader loads each library once: the first object whose DT_NEEDED entry names it loads
// it (breadth first), and later entries naming it find it already loaded. So each library
// appears once with its own dependencies, under the object that made the loader load it; a
// later DT_NEEDED entry for it is shown as a leaf marked "already loaded" (lddtree leaves such
// entries out; they are kept here because they are part of the answer to "who needs this?").
import type { Command } from 'commander';
import { createResolver, type FoundBy, type Library, type Resolution, type Resolver } from '../../elf/index.js';
import { SOURCE_ROOT_HELP } from '../source-root.js';
import { resolverOptions } from './deps.js';
import { mapLimit } from '../../pool.js';

/** How many files `tree` analyses at once (as `deps`). */
const CONCURRENCY = 32;

export interface TreeNode {
  /** The DT_NEEDED entry (glibc: with $ORIGIN and the like expanded, as the loader looked it up). */
  name: string;
  /** Where the loader found it; null when missing, or when an already loaded object it matched is not known by path. */
  path: string | null;
  /** The rule that found it; null unless status is 'loaded'. */
  foundBy: FoundBy | null;
  /** loaded: this entry made the loader load it; missing: not found; already-loaded: an earlier entry loaded it. */
  status: 'loaded' | 'missing' | 'already-loaded';
  /** Its own DT_NEEDED entries (loaded libraries only). */
  needed: TreeNode[];
}

export interface FileTree {
  file: string;
  /** PT_INTERP as written; null for a shared object without one, or a file that is not dynamic. */
  interpreter: string | null;
  /** The loader whose rules were applied (PT_INTERP, or the default one for a shared object). */
  loader: string | null;
  needed: TreeNode[];
  /** Why there is no tree, or where the loader would stop ("error while loading shared libraries: ..."). */
  error?: string;
  /** For a file without dependencies: "not a dynamic executable", "statically linked", ... */
  note?: string;
}

export function register(program: Command): void {
  program
    .command('tree')
    .description('Print the dependency tree of ELF files as the dynamic loader would build it, with the rule that found each library.')
    .argument('<file...>', 'ELF executables or shared objects')
    .option('--json', 'print one JSON array: [{file, interpreter, loader, needed: [{name, path, foundBy, status, needed}], error?, note?}]')
    .option('--library-path <dirs>', 'LD_LIBRARY_PATH of the analysed programs', process.env.LD_LIBRARY_PATH)
    .option('--source-root <dir>', SOURCE_ROOT_HELP)
    .addHelpText(
      'after',
      `
Each library appears once, under the object whose DT_NEEDED entry made the loader load it
(breadth first, as the loader does), with the rule that found it: rpath, ld_library_path,
runpath, cache (/etc/ld.so.cache), default (the system directories), direct (a DT_NEEDED
entry with a '/') or interpreter (the loader itself). A later entry naming a library already
loaded is a leaf marked "already loaded"; a library not found is marked "not found" (exit
status 0, as ldd). Nothing is executed.

Exit status: 0 done; 1 a file cannot be read or the loader would stop with an error, or a bad
command line or image name; 250 the --source-root image is damaged or cannot be unpacked.`,
    )
    .action(tree);
}

async function tree(files: string[], opts: { json?: boolean; libraryPath?: string; sourceRoot?: string }): Promise<void> {
  const resolver = createResolver(await resolverOptions(opts));
  const trees = await mapLimit(files, CONCURRENCY, async (f) => buildTree(await resolver.resolve(f), resolver));
  const errors = trees.filter((t) => t.error !== undefined).map((t) => `occlum-bom: ${t.file}: ${t.error}\n`);
  process.stdout.write(opts.json ? `${JSON.stringify(trees, null, 2)}\n` : trees.map(renderTree).join(''));
  if (errors.length > 0) {
    process.stderr.write(errors.join(''));
    process.exitCode = 1;
  }
}

/** The tree of one resolved file; reads the DT_NEEDED entries of its libraries to place the repeated ones. */
export async function buildTree(r: Resolution, resolver: Resolver): Promise<FileTree> {
  switch (r.status) {
    case 'unreadable':
      return { file: r.file, interpreter: null, loader: null, needed: [], error: r.reason };
    case 'not-elf':
    case 'not-dynamic':
      return { file: r.file, interpreter: null, loader: null, needed: [], note: 'not a dynamic executable' };
    case 'unsupported':
      return { file: r.file, interpreter: null, loader: null, needed: [], note: r.reason };
    case 'dynamic':
      break;
  }

  // The objects that load libraries: the file itself, under the name `neededBy` gives it, and
  // each library found, under its path. A library's children are in the order the loader
  // mapped them, which is the order of its DT_NEEDED entries.
  const children = new Map<string, Library[]>();
  for (const lib of r.libraries) {
    const list = children.get(lib.neededBy);
    if (list) list.push(lib);
    else children.set(lib.neededBy, [lib]);
  }
  const found = r.libraries.filter((l) => l.path !== null);
  // DT_NEEDED lists and SONAMEs of the libraries, as the resolver read them.
  const elfs = new Map(
    await mapLimit(found, CONCURRENCY, async (l) => {
      const e = await resolver.elf(l.path!);
      return [l.path!, e?.dynamic ?? null] as const;
    }),
  );
  // When the loader stopped, the objects after the point it stopped at were never looked at:
  // their unmatched entries are not "already loaded", so none is shown for any object.
  const showRepeats = r.fatal === null;
  const placed = new Set<Library>();

  /** The object an entry naming an already loaded library found: the loader matches names, SONAMEs and paths. */
  const loadedAs = (name: string): string | null => {
    if (name === r.loader.path || name === r.interpreter) return r.loader.path;
    for (const l of found) if (l.name === name || l.path === name || elfs.get(l.path!)?.soname === name) return l.path;
    if (r.elf.dynamic?.soname === name) return r.file;
    // musl's libc.so is the loader, and answers for libc's parts (libpthread.so.0, libm.so.6, ...).
    if (r.loader.flavor === 'musl' && /^lib(c|pthread|rt|m|dl|util|xnet)\./.test(name)) return r.loader.path;
    // A library searched for by a name of its own (a symbolic link) and found to be the same file.
    for (const l of found) if (l.path!.slice(l.path!.lastIndexOf('/') + 1) === name) return l.path;
    return null;
  };

  const nodesOf = (object: string, needed: readonly string[], depth: number): TreeNode[] => {
    const mine = (children.get(object) ?? []).filter((l) => !placed.has(l));
    const out: TreeNode[] = [];
    for (const entry of needed) {
      const i = mine.findIndex((l) => sameName(entry, l.name));
      if (i >= 0) {
        const [lib] = mine.splice(i, 1);
        out.push(node(lib!, depth));
      } else if (showRepeats) {
        out.push({ name: entry, path: loadedAs(entry), foundBy: null, status: 'already-loaded', needed: [] });
      }
    }
    // Anything the entries did not account for still appears, at the end.
    for (const lib of mine) out.push(node(lib, depth));
    return out;
  };
  const node = (lib: Library, depth: number): TreeNode => {
    placed.add(lib);
    if (lib.path === null) return { name: lib.name, path: null, foundBy: null, status: 'missing', needed: [] };
    // The depth bound only guards against a resolver answer with a cycle in it.
    const needed = depth > 256 || (r.loader.flavor === 'musl' && lib.path === r.loader.path) ? [] : (elfs.get(lib.path)?.needed ?? []);
    return { name: lib.name, path: lib.path, foundBy: lib.foundBy, status: 'loaded', needed: nodesOf(lib.path, needed, depth + 1) };
  };

  const out: FileTree = { file: r.file, interpreter: r.interpreter, loader: r.loader.path, needed: nodesOf(r.file, r.elf.dynamic?.needed ?? [], 0) };
  if (r.fatal !== null) out.error = `error while loading shared libraries: ${r.fatal}`;
  else if (out.needed.length === 0) out.note = 'statically linked';
  return out;
}

/**
 * Whether a DT_NEEDED entry as written is the name the loader looked up: glibc expands $ORIGIN,
 * $LIB and $PLATFORM (also as ${...}) first, so those stand for any text.
 */
function sameName(entry: string, looked: string): boolean {
  if (entry === looked) return true;
  if (!entry.includes('$')) return false;
  const pattern = entry
    .split(/\$(?:\{(?:ORIGIN|LIB|PLATFORM)\}|(?:ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(looked);
}

/**
 * lddtree's layout: the file, then each library indented four spaces per level. A file that
 * cannot be read has no tree (its error goes to stderr only); where the loader would stop is
 * the tree's last line.
 */
export function renderTree(t: FileTree): string {
  if (t.loader === null && t.error !== undefined) return '';
  const head = t.loader === null ? t.file : `${t.file} (${t.interpreter !== null ? 'interpreter' : 'loader'} ${t.loader})`;
  const lines = [head];
  if (t.note !== undefined) lines.push(`    ${t.note}`);
  const walk = (nodes: TreeNode[], indent: string) => {
    for (const n of nodes) {
      switch (n.status) {
        case 'missing':
          lines.push(`${indent}${n.name} => not found`);
          break;
        case 'already-loaded':
          lines.push(`${indent}${n.name}${n.path !== null && n.path !== n.name ? ` => ${n.path}` : ''} (already loaded)`);
          break;
        case 'loaded':
          lines.push(`${indent}${n.name}${n.path !== n.name ? ` => ${n.path}` : ''} [${n.foundBy}]`);
          walk(n.needed, `${indent}    `);
          break;
      }
    }
  };
  walk(t.needed, '    ');
  if (t.error !== undefined) lines.push(`    ${t.error}`);
  return `${lines.join('\n')}\n`;
}
