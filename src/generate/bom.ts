// generate_bom's library half: check the programs, files and directories named on the command
// line, then write them as one readable BOM that copy_bom (ours or upstream's) loads.
//
// Every source is written as an absolute path: copy_bom resolves relative names against the
// parent of --root, which is not where generate_bom ran, so only absolute paths make the BOM
// work from any instance directory. Names are never resolved through symbolic links: Debian's
// /usr/bin/redis-server is a link to redis-check-rdb, and resolving it would put
// /bin/redis-check-rdb into the image instead of the /bin/redis-server the user runs (copy_bom
// copies a link's content under the link's name).
import type { Stats } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Node, Pair, YAMLMap } from 'yaml';
import { Document, parseYaml, Scalar } from '../vendor.js';
import { parseBom } from '../bom/load.js';
import { describeFsError, Exit, UserError } from '../errors.js';
import { hashFile } from '../fsops/hash.js';
import type { SourceRoot } from '../fsops/root.js';

export interface GenerateOptions {
  /** Programs to run in the image: copy_bom adds their loader and libraries. */
  executables: readonly string[];
  /** Other files (configuration, data, plug-ins). */
  files: readonly string[];
  /** Directories copied recursively; a trailing slash copies only what is inside. */
  dirs: readonly string[];
  /** BOM files to include, by name or path. */
  includes: readonly string[];
  /** Directory in the image everything goes into. */
  targetDir: string;
  /** Pin each file's SHA-256. */
  hash: boolean;
  /** What relative paths on the command line are relative to (inside a source root, they start at its `/`). */
  cwd: string;
  /** Where the paths are (--source-root): they are written as seen inside it, and read at their real paths there. */
  source?: SourceRoot;
  /** How the user named it (a directory or an image), for the copy_bom command the BOM's header shows. */
  sourceName?: string;
}

export interface FileSpec {
  /** Absolute path on the host, as named (symbolic links not resolved). */
  name: string;
  /** SHA-256, upper-case hex (what upstream writes; any case loads). */
  hash?: string;
}

/** What the generated BOM says, once every input is checked. */
export interface BomSpec {
  includes: string[];
  target: string;
  executables: FileSpec[];
  files: FileSpec[];
  dirs: string[];
  /** The root the paths are inside (--source-root), when it is not the host. */
  sourceRoot?: string;
}

/**
 * `$NAME` and `${` are expanded by copy_bom in every path, and a BOM has no escape for them,
 * so a path containing one cannot be written literally. (`$` followed by anything else is
 * kept as it is by the expansion, so such names are fine.)
 */
const EXPANDED = /\$(?:\{|[A-Za-z0-9_])/;

export async function resolveInputs(opts: GenerateOptions): Promise<BomSpec> {
  const target = imageDir(opts.targetDir);
  const executables: FileSpec[] = [];
  const files: FileSpec[] = [];
  const dirs: string[] = [];
  // Destination name -> what goes there: two inputs with one name would overwrite each other.
  const taken = new Map<string, { source: string; option: string }>();
  // The host path to read for a path as written (inside the source root, if any).
  const rooted = opts.source && !opts.source.isHost ? opts.source : undefined;
  const read = (p: string) => (rooted ? rooted.real(p) : p);
  const inputCwd = rooted ? '/' : opts.cwd;

  const claim = (source: string, option: string): boolean => {
    const name = path.posix.basename(source);
    if (name === '') throw new UserError(`${option} ${source}: refusing to copy the whole host root`, Exit.usage);
    const other = taken.get(name);
    if (other === undefined) {
      taken.set(name, { source, option });
      return true;
    }
    // The same path twice with the same option (overlapping shell globs) is harmless.
    if (other.source === source && other.option === option) return false;
    throw new UserError(
      `${other.option} ${other.source} and ${option} ${source} would both be copied to ${path.posix.join(target, name)}`,
      Exit.usage,
    );
  };

  for (const given of opts.executables) {
    const source = hostPath(given, inputCwd, '-e');
    const st = await statInput(source, '-e', read);
    if (!st.isFile()) throw new UserError(`-e ${source}: not a file (${kindOf(st)}); use -D for directories`, Exit.usage);
    // Occlum, like Linux, runs only files with an execute bit; data files belong under -f.
    if ((st.mode & 0o111) === 0) throw new UserError(`-e ${source}: not executable (mode ${modeOf(st)}); use -f for other files`, Exit.usage);
    if (claim(source, '-e')) executables.push({ name: source });
  }
  for (const given of opts.files) {
    const source = hostPath(given, inputCwd, '-f');
    const st = await statInput(source, '-f', read);
    if (!st.isFile()) throw new UserError(`-f ${source}: not a file (${kindOf(st)}); use -D for directories`, Exit.usage);
    if (claim(source, '-f')) files.push({ name: source });
  }
  for (const given of opts.dirs) {
    const resolved = hostPath(given, inputCwd, '-D');
    const st = await statInput(resolved, '-D', read);
    if (!st.isDirectory()) throw new UserError(`-D ${resolved}: not a directory (${kindOf(st)}); use -e or -f for files`, Exit.usage);
    // A trailing slash keeps its meaning in a BOM (rsync's: copy what is inside, not the
    // directory itself); path.resolve would drop it. Such a copy has no single name to claim.
    const contentsOnly = given.endsWith('/') && resolved !== '/';
    const entry = contentsOnly ? `${resolved}/` : resolved;
    if (contentsOnly ? !dirs.includes(entry) : claim(resolved, '-D')) dirs.push(entry);
  }

  const includes = await includeNames(opts.includes, opts.cwd);

  // Last: reading every file is the slow part, and only worth it once all else is right.
  if (opts.hash) {
    for (const f of [...executables, ...files]) {
      const digest = await Promise.resolve()
        .then(() => hashFile(read(f.name)))
        .catch((e: unknown) => {
        throw new UserError(`cannot read ${f.name}: ${describeFsError(e)}`, Exit.fileNotFound);
      });
      f.hash = digest.toUpperCase();
    }
  }

  return { includes, target, executables, files, dirs, ...(rooted ? { sourceRoot: opts.sourceName ?? rooted.root } : {}) };
}

/** The absolute host path for a command-line path; never through a symbolic link (see the top). */
function hostPath(given: string, cwd: string, option: string): string {
  if (given === '') throw new UserError(`${option}: empty path`, Exit.usage);
  const resolved = path.resolve(cwd, given);
  if (EXPANDED.test(resolved)) {
    throw new UserError(`${option} ${resolved}: copy_bom would expand the \`$\` in this name as an environment variable, and a BOM cannot escape it`, Exit.usage);
  }
  return resolved;
}

/** The target directory in the image, normalised: absolute, no `.`, `..` or trailing slash. */
function imageDir(given: string): string {
  // A host path here (the RFC's `-d image/bin`) would make an `image` directory inside the image.
  if (!given.startsWith('/')) throw new UserError(`-d ${given}: the target must be an absolute path in the image, such as /bin`, Exit.usage);
  if (EXPANDED.test(given)) throw new UserError(`-d ${given}: copy_bom would expand the \`$\` in this name as an environment variable`, Exit.usage);
  const normal = path.posix.normalize(given);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

async function statInput(source: string, option: string, read: (p: string) => string): Promise<Stats> {
  try {
    const real = read(source);
    const st = await stat(real);
    await access(real, constants.R_OK);
    return st;
  } catch (e) {
    throw new UserError(`${option} ${source}: ${describeFsError(e)}`, Exit.fileNotFound);
  }
}

/**
 * Includes are looked up by copy_bom next to the including BOM, then in each --include-dir and
 * the shipped templates. A name that is a file here (relative to the current directory) is
 * written as its absolute path, so it is the one included wherever the BOM is written; any other
 * name (`base.yaml`) is written as given and left to that search, as are names with `$VAR`.
 */
async function includeNames(given: readonly string[], cwd: string): Promise<string[]> {
  const names: string[] = [];
  for (const name of given) {
    if (name === '') throw new UserError('-i: empty BOM name', Exit.usage);
    let written = name;
    if (!EXPANDED.test(name)) {
      const here = path.resolve(cwd, name);
      const st = await stat(here).catch(() => undefined);
      if (st?.isDirectory()) throw new UserError(`-i ${here}: a directory, not a BOM file (copy_bom's --include-dir names directories)`, Exit.usage);
      if (st?.isFile()) written = here;
    }
    if (!names.includes(written)) names.push(written);
  }
  return names;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function modeOf(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

// ---------------------------------------------------------------------------------------------
// Writing the BOM.

/**
 * The BOM as YAML: includes, then one target holding the executables, the other files and the
 * directories as separate copy entries, each with a comment saying what it is.
 *
 * The yaml library quotes what YAML 1.2 (the BOM loaders' schema) would not read back as the
 * same string. Names that YAML 1.1 readers (PyYAML, older tools) would take for something else
 * (`yes`, `off`, `2024-01-01`) are quoted too, so the BOM means the same to every tool.
 */
export function renderBom(spec: BomSpec): string {
  const doc = new Document({});
  const root = doc.contents as YAMLMap;
  doc.commentBefore = [
    ' Generated by generate_bom. copy_bom copies what it lists into an Occlum image, with the',
    ' loader and every shared library the executables need. From an Occlum instance directory:',
    `   copy_bom -f <this file> --root image${spec.sourceRoot ? ` --source-root ${spec.sourceRoot}` : ''}${spec.includes.length > 0 ? ' [--include-dir <where the included BOMs are>]' : ''}`,
    spec.sourceRoot
      ? ` Paths are absolute paths inside ${spec.sourceRoot}, so the BOM works from any instance directory.`
      : ' Host paths are absolute, so the BOM works from any instance directory.',
  ].join('\n');

  if (spec.includes.length > 0) {
    const pair = addPair(doc, root, 'includes', doc.createNode(spec.includes.map(name)));
    comment(
      pair.key,
      " Other BOMs copied into the same image: looked up next to this file, then in each\n --include-dir (occlum-bom's copy_bom then searches its shipped templates).",
    );
  }

  const copy: Node[] = [];
  const group = (key: 'files' | 'dirs', items: Node[], text: string) => {
    if (items.length === 0) return;
    const entry = doc.createNode({}) as YAMLMap;
    addPair(doc, entry, key, doc.createNode(items));
    comment(entry, text);
    copy.push(entry);
  };
  group('files', spec.executables.map((f) => fileNode(doc, f)), ' Executables: copy_bom also copies the loader and the shared libraries they need.');
  group('files', spec.files.map((f) => fileNode(doc, f)), ' Other files (an ELF shared object among them brings its libraries too).');
  group('dirs', spec.dirs.map(name), ' Directories, copied recursively (rsync -a rules); a name ending in / copies only its contents.');

  const target = doc.createNode({}) as YAMLMap;
  addPair(doc, target, 'target', name(spec.target));
  if (copy.length > 0) addPair(doc, target, 'copy', doc.createNode(copy));
  comment(target, ` Everything goes into ${spec.target} in the image.`);
  const targets = addPair(doc, root, 'targets', doc.createNode([target]));
  if (spec.includes.length > 0) (targets.key as Node).spaceBefore = true;

  return doc.toString({ lineWidth: 0, indentSeq: true });
}

function fileNode(doc: Document, f: FileSpec): Node {
  if (f.hash === undefined) return name(f.name);
  const entry = doc.createNode({}) as YAMLMap;
  addPair(doc, entry, 'name', name(f.name));
  addPair(doc, entry, 'hash', name(f.hash));
  return entry;
}

/** A path as a scalar, double-quoted when a YAML 1.1 reader would not read it back as this string. */
function name(value: string): Scalar {
  const node = new Scalar(value);
  if (!readsBackAs(value)) node.type = Scalar.QUOTE_DOUBLE;
  return node;
}

function readsBackAs(value: string): boolean {
  // Control characters (newlines, tabs) would be folded or kept depending on the style chosen.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return false;
  try {
    return parseYaml(value, { version: '1.1' }) === value;
  } catch {
    return false;
  }
}

function addPair(doc: Document, map: YAMLMap, key: string, value: unknown): Pair<Node, unknown> {
  const pair = doc.createPair(key, value) as Pair<Node, unknown>;
  map.items.push(pair);
  return pair;
}

function comment(node: unknown, text: string): void {
  (node as Node).commentBefore = text;
}

/**
 * Load the text back with our own BOM loader and check that it says exactly what `spec` says:
 * a name the YAML writer got wrong would otherwise copy the wrong file, silently.
 */
export function checkRoundTrip(text: string, spec: BomSpec): void {
  // Includes with `$VAR` are left to copy_bom's environment; any value will do to load the BOM.
  const env = new Proxy({}, { get: (_t, key) => (typeof key === 'string' ? `/${key}` : undefined) });
  const bom = parseBom(text, '<generated BOM>', env);
  const copies = bom.targets[0]?.copy ?? [];
  const filesOf = (i: number) => (copies[i]?.files ?? []).map((f) => ({ name: f.name, hash: f.hash?.toUpperCase() }));
  let i = 0;
  const executables = spec.executables.length > 0 ? filesOf(i++) : [];
  const files = spec.files.length > 0 ? filesOf(i++) : [];
  const dirs = spec.dirs.length > 0 ? (copies[i++]?.dirs ?? []).map((d) => d.name) : [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const expect = (list: FileSpec[]) => list.map((f) => ({ name: f.name, hash: f.hash }));
  const ok =
    bom.targets.length === 1 &&
    bom.targets[0]!.target === spec.target &&
    copies.length === i &&
    same(executables, expect(spec.executables)) &&
    same(files, expect(spec.files)) &&
    same(dirs, spec.dirs) &&
    same(
      bom.includes.map((n) => n.name).filter((_, k) => !EXPANDED.test(spec.includes[k]!)),
      spec.includes.filter((n) => !EXPANDED.test(n)),
    );
  if (!ok) throw new Error('the generated BOM does not load back as written (a bug in generate_bom)');
}
