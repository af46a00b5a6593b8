// Load one BOM file: YAML -> validated, env-expanded Bom whose every entry keeps
// the file, line and column it came from.
import { readFile } from 'node:fs/promises';
import type { Document, Node } from 'yaml';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from '../vendor.js';
import type { z } from 'zod';
import { describeFsError, Exit, quote, UserError, type Where } from '../errors.js';
import { Bom as BomSchema, KEYS, type BomInput } from './schema.js';
import { expandEnv, type Env } from './env.js';

export interface Located {
  where: Where;
}
export interface Name extends Located {
  name: string;
}
export interface FileEntry extends Name {
  hash?: string;
  autodep: boolean;
  rename?: string;
  optional: boolean;
}
export interface DirEntry extends Name {
  optional: boolean;
  /** Every link kept as a link (`keeplinks: true`), not only the safe ones. */
  keepLinks: boolean;
}
export interface Source extends Located {
  from?: string;
  dirs?: DirEntry[];
  files?: FileEntry[];
}
export interface Link extends Located {
  src: string;
  linkname: string;
}
export interface Target extends Located {
  target: string;
  mkdirs: Name[];
  createlinks: Link[];
  copy: Source[];
}
export interface Bom {
  /** The path as found (given on the command line, or include dir + name). */
  file: string;
  includes: Name[];
  excludes: Name[];
  targets: Target[];
}

type Path = readonly (string | number)[];

/**
 * Caps that keep hostile input bounded in time and memory. The largest real BOM is a few KB;
 * the YAML parser needs seconds per MB, so a BOM over 1 MiB is refused before parsing.
 */
const MAX_NODES = 1_000_000;
const MAX_BYTES = 1024 * 1024;
const MAX_DEPTH = 256;

/** `read` gets the bytes read, before they are parsed. */
export async function loadBom(file: string, env: Env, read?: (bytes: Buffer) => void): Promise<Bom> {
  let text: string;
  try {
    const buf = await readFile(file);
    read?.(buf);
    if (buf.length > MAX_BYTES) throw new UserError(`${file}: a BOM file of ${buf.length} bytes is larger than the 1 MiB this tool reads`, Exit.invalidBom);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot read BOM file ${file}: ${describeFsError(e)}`, Exit.fileNotFound);
  }
  return parseBom(text, file, env);
}

export function parseBom(text: string, file: string, env: Env): Bom {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): Where => ({ file, ...lines.linePos(offset) });
  const invalid = (message: string, where: Where) => new UserError(message, Exit.invalidBom, where);

  const yamlError = doc.errors[0];
  if (yamlError) {
    const message = yamlError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw invalid(`invalid YAML: ${message}`, at(yamlError.pos[0]));
  }

  const { plain, aliases } = toPlain(doc, (message, offset) => invalid(message, at(offset)));
  const parsed = BomSchema.safeParse(plain ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    const { path, message } = explain(issue, plain);
    throw invalid(message, at(offsetOf(doc, aliases, path, issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined)));
  }
  return build(parsed.data, file, env, (path) => at(offsetOf(doc, aliases, path)));
}

/**
 * YAML -> plain data, keeping numbers as written (`1.10` stays "1.10": BOM values are names).
 * Aliases are resolved against the anchors met so far, in one pass (yaml's own resolve()
 * searches the whole document for each alias); an alias expands to the same value each time,
 * but counts every node it stands for, so an alias bomb ends at MAX_NODES, not in memory.
 */
function toPlain(doc: Document, invalid: (message: string, offset: number) => Error): { plain: unknown; aliases: Aliases } {
  const anchors = new Map<string, { node: unknown; value?: unknown; size?: number }>();
  const aliases: Aliases = new Map();
  let nodes = 0;
  let depth = 0;
  const count = (n: number, at: number) => {
    nodes += n;
    if (nodes > MAX_NODES) throw invalid('the document expands to more than a million nodes (an alias bomb?)', at);
  };
  const walk = (node: unknown): unknown => {
    const at = (node as Node | undefined)?.range?.[0] ?? 0;
    if (isAlias(node)) {
      const anchor = anchors.get(node.source);
      if (!anchor) throw invalid(`alias *${node.source} refers to no anchor before it`, at);
      if (anchor.size === undefined) throw invalid(`alias *${node.source} is inside the node it refers to`, at);
      count(anchor.size, at);
      aliases.set(node, anchor.node);
      return anchor.value;
    }
    if (++depth > MAX_DEPTH) throw invalid(`nested more than ${MAX_DEPTH} levels deep`, at);
    const before = nodes;
    count(1, at);
    const name = (node as { anchor?: string } | null)?.anchor;
    const entry = name ? { node } : undefined;
    if (name) anchors.set(name, entry!);
    let value: unknown;
    if (isScalar(node)) {
      value = typeof node.value === 'number' || typeof node.value === 'bigint' ? (node.source ?? String(node.value)) : node.value;
    } else if (isSeq(node)) {
      value = node.items.map(walk);
    } else if (isMap(node)) {
      const out: Record<string, unknown> = Object.create(null);
      for (const pair of node.items) {
        if (!isScalar(pair.key) || pair.key.value === null || typeof pair.key.value === 'object') {
          throw invalid('a key must be a plain name', (pair.key as Node | null)?.range?.[0] ?? at);
        }
        out[String(pair.key.value)] = walk(pair.value);
      }
      value = out;
    } else {
      value = node ?? null;
    }
    if (entry) Object.assign(entry, { value, size: nodes - before });
    depth--;
    return value;
  };
  return { plain: walk(doc.contents), aliases };
}

/** Each alias node and the node its anchor names (filled by toPlain, used for positions). */
type Aliases = Map<unknown, unknown>;

/** Offset of the YAML node at `path` (or of the key `key` inside it), for line:column. */
function offsetOf(doc: Document, aliases: Aliases, path: Path, key?: PropertyKey): number {
  let node: unknown = doc.contents;
  for (const step of path) {
    if (isAlias(node)) node = aliases.get(node);
    if (!(isMap(node) || isSeq(node))) break;
    const next: unknown = node.get(step, true);
    if (next === undefined) break;
    node = next;
  }
  if (isAlias(node)) node = aliases.get(node);
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return (node as Node | null)?.range?.[0] ?? 0;
}

const KIND_NAMES: Record<keyof typeof KEYS, string> = {
  bom: 'BOM (top level)',
  target: 'target',
  link: 'createlinks entry',
  source: 'copy entry',
  file: 'files entry',
  dir: 'dirs entry',
};

/** Which kind of map sits at `path` (its last named key says it). */
function kindAt(path: Path): keyof typeof KEYS {
  const named = path.filter((s): s is string => typeof s === 'string');
  switch (named.at(-1)) {
    case undefined:
      return 'bom';
    case 'targets':
      return 'target';
    case 'createlinks':
      return 'link';
    case 'copy':
      return 'source';
    case 'files':
      return 'file';
    case 'dirs':
      return 'dir';
    default:
      return 'bom';
  }
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const step of path) v = v != null && typeof v === 'object' ? (v as Record<string, unknown>)[step] : undefined;
  return v;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return typeof v === 'string' ? quote(v) : JSON.stringify(v);
}

function explain(issue: z.core.$ZodIssue, data: unknown): { path: Path; message: string } {
  const path = issue.path as Path;
  const field = path.length ? `\`${path.filter((s) => typeof s === 'string').at(-1)}\`` : 'the document';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const kind = kindAt(path);
      const key = issue.keys[0]!;
      const hint = closest(key, KEYS[kind]);
      return {
        path,
        message: `unknown key \`${key}\` in ${KIND_NAMES[kind]}${hint ? ` (did you mean \`${hint}\`?)` : ''}; valid keys: ${KEYS[kind].join(', ')}`,
      };
    }
    case 'invalid_union': {
      // A file or dir entry is a name or a map: explain the branch the user wrote.
      const value = valueAt(data, path);
      const branch = value !== null && typeof value === 'object' && !Array.isArray(value) ? issue.errors[1] : undefined;
      const inner = branch?.find((i) => i.code === 'unrecognized_keys') ?? branch?.[0];
      if (inner) return explain({ ...inner, path: [...path, ...inner.path] } as z.core.$ZodIssue, data);
      return { path, message: `expected a name or a map with \`name\`, found ${describeValue(value)}` };
    }
    case 'invalid_type': {
      const value = valueAt(data, path);
      const expected = issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a map' : `a ${issue.expected}`;
      if (value === undefined) return { path: path.slice(0, -1), message: `missing required key ${field}` };
      return { path, message: `${field} must be ${expected}, found ${describeValue(value)}` };
    }
    case 'too_small':
      return { path, message: `${field} ${issue.message}` };
    default:
      return { path, message: issue.message };
  }
}

/** The valid key nearest to a typo (Damerau-Levenshtein distance <= 2), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Linux's limits: PATH_MAX (4096 with the NUL) and NAME_MAX, in bytes. */
const PATH_MAX = 4095;
const NAME_MAX = 255;

/**
 * A path (after its variables are expanded) the kernel can take: at most 4095 bytes, and each
 * name in it at most 255 (a link's `src` is only a link's text: its length alone counts). An
 * invalid BOM otherwise, found before anything is written.
 */
function checkLength(value: string, path: Path, where: Where): string {
  const key = [...path].reverse().find((p) => typeof p === 'string' && p !== 'name') ?? 'path';
  if (Buffer.byteLength(value) > PATH_MAX) throw new UserError(`${String(key)} ${quote(value)} is longer than ${PATH_MAX} bytes`, Exit.invalidBom, where);
  if (key === 'src') return value;
  const long = value.split('/').find((name) => Buffer.byteLength(name) > NAME_MAX);
  if (long !== undefined) throw new UserError(`${String(key)} ${quote(value)} holds a name longer than ${NAME_MAX} bytes: ${quote(long, 40)}`, Exit.invalidBom, where);
  return value;
}

function build(input: BomInput, file: string, env: Env, at: (path: Path) => Where): Bom {
  const x = (value: string, path: Path) => {
    if (value.includes('\0')) throw new UserError('a path cannot contain a NUL byte', Exit.invalidBom, at(path));
    return checkLength(expandEnv(value, env, at(path)), path, at(path));
  };
  return {
    file,
    includes: (input.includes ?? []).map((name, i) => ({ name: x(name, ['includes', i]), where: at(['includes', i]) })),
    excludes: (input.excludes ?? []).map((name, i) => ({ name, where: at(['excludes', i]) })),
    targets: (input.targets ?? []).map((t, ti) => {
      const tp = ['targets', ti] as const;
      return {
        target: x(t.target, [...tp, 'target']),
        where: at(tp),
        mkdirs: (t.mkdirs ?? []).map((m, i) => ({ name: x(m, [...tp, 'mkdirs', i]), where: at([...tp, 'mkdirs', i]) })),
        createlinks: (t.createlinks ?? []).map((l, i) => {
          const lp = [...tp, 'createlinks', i] as const;
          return { src: x(l.src, [...lp, 'src']), linkname: x(l.linkname, [...lp, 'linkname']), where: at(lp) };
        }),
        copy: (t.copy ?? []).map((s, si) => {
          const sp = [...tp, 'copy', si] as const;
          const source: Source = { where: at(sp) };
          if (s.from != null) source.from = x(s.from, [...sp, 'from']);
          if (s.dirs != null) {
            source.dirs = s.dirs.map((d, i) => {
              const dp = [...sp, 'dirs', i];
              return typeof d === 'string'
                ? { name: x(d, dp), optional: false, keepLinks: false, where: at(dp) }
                : { name: x(d.name, [...dp, 'name']), optional: d.optional ?? false, keepLinks: d.keeplinks ?? false, where: at(dp) };
            });
          }
          if (s.files != null) {
            source.files = s.files.map((f, i) => {
              const fp = [...sp, 'files', i];
              if (typeof f === 'string') return { name: x(f, fp), autodep: true, optional: false, where: at(fp) };
              const entry: FileEntry = { name: x(f.name, [...fp, 'name']), autodep: f.autodep ?? true, optional: f.optional ?? false, where: at(fp) };
              if (f.hash != null) {
                if (!HEX64.test(f.hash)) {
                  throw new UserError(`\`hash\` must be a SHA-256 digest (64 hex digits), found ${quote(f.hash)}`, Exit.wrongHash, at([...fp, 'hash']));
                }
                entry.hash = f.hash.toLowerCase();
              }
              if (f.rename != null) entry.rename = x(f.rename, [...fp, 'rename']);
              return entry;
            });
          }
          return source;
        }),
      };
    }),
  };
}
