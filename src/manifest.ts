// The image manifest: every path in the image with its type, mode, size, SHA-256 (files),
// link target (links) and provenance (the BOM line, or the ELF and the rule that pulled it in).
// Sorted by path, so two identical builds give byte-identical manifests; the digest is a
// hash over the content part of the entries only (not provenance, not times).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { Exit, formatWhere, UserError } from './errors.js';
import { log } from './log.js';
import { hashFile } from './fsops/hash.js';
import { decimalSeconds } from './fsops/times.js';
import { namesNotUtf8 } from './fsops/tree.js';
import { mapLimit } from './pool.js';
import type { Plan } from './plan/plan.js';
import { treePath } from './plan/paths.js';
import { resolved } from './plan/paths.js';

export const MANIFEST_VERSION = 1;

export interface From {
  /** The BOM entry: `file:line:col`, the file as an absolute path (the manifest is read from anywhere). */
  bom: string;
  op: 'mkdir' | 'link' | 'tree' | 'file' | 'lib' | 'root';
  /** The host path copied (files, trees, libraries), absolute. */
  source?: string;
  /** Libraries: the file of the BOM entry whose dependency this is, and the loader's rule. */
  neededBy?: string;
  rule?: string;
}

export interface Entry {
  /** Absolute path inside the image ('/' is the root). */
  path: string;
  type: 'dir' | 'file' | 'link';
  /** Permission bits, octal, e.g. "0755" (none for links). */
  mode?: string;
  size?: number;
  sha256?: string;
  /** Modification time of files, `seconds.nanoseconds` (copied from the source). */
  mtime?: string;
  target?: string;
  /** Why it is there; "parent" for a directory made only to hold what is below it; null when this run did not describe it. */
  from: From | 'parent' | null;
}

export interface Manifest {
  version: number;
  digest: string;
  entries: Entry[];
}

/** `<root>.manifest.json` beside the image root, unless one is named. */
export function manifestPath(root: string, explicit?: string): string {
  return explicit ?? `${path.resolve(root).replace(/\/+$/, '')}.manifest.json`;
}

/** Where each image path came from, by the last operation of the plan that writes it (what a dry run would write). */
export function provenance(plan: Plan): Map<string, From> {
  const out = new Map<string, From>();
  for (const op of plan.ops) {
    const bom = op.where ? formatWhere({ ...op.where, file: path.resolve(op.where.file) }) : 'command line';
    const set = (rel: string, extra: Partial<From> = {}) => out.set(`/${rel}`, { bom, op: op.kind === 'mkdir' && rel === '' ? 'root' : op.kind, ...extra });
    switch (op.kind) {
      case 'mkdir':
      case 'link':
        set(op.dest);
        break;
      case 'file':
        set(op.dest, { source: path.resolve(op.source) });
        break;
      case 'lib':
        set(op.dest, { source: path.resolve(op.source), neededBy: path.resolve(op.neededBy), rule: op.rule });
        break;
      case 'tree':
        for (let i = 0; i < op.tree.length; i++) set(treePath(op.dest, op.tree.rel(i)), { source: resolved(op.tree.src(i)) });
        break;
    }
  }
  return out;
}

export const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * An image path as it is on disk (`host`), with no provenance and, for a file, no hash yet
 * (`sha256` is '': the caller knows it or reads it).
 */
export function entryOnDisk(p: string, host: string): Entry {
  const st = lstatSync(host, { bigint: true });
  if (st.isSymbolicLink()) return { path: p, type: 'link', target: readlinkSync(host), from: null };
  if (st.isDirectory()) return { path: p, type: 'dir', mode: octal(Number(st.mode)), from: null };
  return { path: p, type: 'file', mode: octal(Number(st.mode)), size: Number(st.size), mtime: decimalSeconds(st.mtimeNs), sha256: '', from: null };
}

/** The names in an image directory as text; one that is not UTF-8 is left out with a warning (no JSON string holds it). */
export function namesIn(host: string): string[] {
  const names = readdirSync(host);
  const bad = namesNotUtf8(host, names);
  if (bad.length === 0) return names;
  const unnamed = new Set(bad.map((raw) => raw.toString('utf8')));
  for (const name of unnamed) log.warn(`${host}: a name in it is not UTF-8 (read as ${JSON.stringify(name)}): not in the manifest`);
  return names.filter((name) => !unnamed.has(name));
}

/**
 * Read the image as it is now, every file hashed again (`root`: its real path, fsops/jail.ts
 * realRoot): what `verify` compares with the manifest. Provenance is not read (null).
 */
export async function scanImage(root: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const hashes: { entry: Entry; host: string }[] = [];
  const walk = (host: string, rel: string) => {
    const entry = entryOnDisk(rel, host);
    entries.push(entry);
    if (entry.type === 'file') hashes.push({ entry, host });
    // Below a resolved path: path.join would change nothing.
    if (entry.type === 'dir') for (const name of namesIn(host)) walk(`${host}/${name}`, rel === '/' ? `/${name}` : `${rel}/${name}`);
  };
  walk(path.resolve(root), '/');
  await mapLimit(hashes, 8, async (h) => {
    h.entry.sha256 = await hashFile(h.host);
  });
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The content of an entry, as the digest and `verify` compare it (not provenance, not times). */
export function contentLine(e: Entry): string {
  return `${e.path}\t${e.type}\t${e.mode ?? ''}\t${e.size ?? ''}\t${e.sha256 ?? ''}\t${e.target ?? ''}`;
}

export function digestOf(entries: readonly Entry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(`${contentLine(e)}\n`);
  return `sha256:${h.digest('hex')}`;
}

export function makeManifest(entries: Entry[]): Manifest {
  return { version: MANIFEST_VERSION, digest: digestOf(entries), entries };
}

export function serialize(m: Manifest): string {
  return `${JSON.stringify(m, null, 1)}\n`;
}

export function readManifest(file: string, required: boolean): Manifest | undefined {
  return readManifestText(file, required)?.manifest;
}

/** The manifest and its text as stored (a run that changes nothing leaves the file alone). */
export function readManifestText(file: string, required: boolean): { manifest: Manifest; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`cannot read manifest ${file}: ${(e as Error).message}`, Exit.fileNotFound);
  }
  return { manifest: parseManifest(text, file), text };
}

function parseManifest(text: string, file: string): Manifest {
  try {
    const m = JSON.parse(text) as Manifest;
    if (m?.version !== MANIFEST_VERSION || !Array.isArray(m.entries)) throw new Error(`not a version ${MANIFEST_VERSION} manifest`);
    m.entries.forEach((e, i) => {
      // What --delete would remove and scanImage compares: absolute, normalised image paths only.
      const p = (e as Partial<Entry> | null)?.path;
      if (typeof p !== 'string' || !p.startsWith('/') || path.posix.normalize(p) !== p || (p !== '/' && p.endsWith('/')) || p.includes('\0')) {
        throw new Error(`entry ${i + 1}: ${JSON.stringify(p ?? e)} is not an absolute, normalised image path`);
      }
      if (e.type !== 'dir' && e.type !== 'file' && e.type !== 'link') throw new Error(`entry ${i + 1} (${p}): unknown type ${JSON.stringify(e.type)}`);
    });
    return m;
  } catch (e) {
    throw new UserError(`${file} is not a manifest of this tool: ${(e as Error).message}`, Exit.invalidBom);
  }
}
