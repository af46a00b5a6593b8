// Container images as source roots, named as skopeo names them: `oci:DIR[:TAG]` (an OCI image
// layout), `oci-archive:FILE[:TAG]` (one in a tar file), `docker-archive:FILE[:REF]` (what
// `docker save` and `skopeo copy ... docker-archive:` write). This module finds the image's
// config and its layers, in order, with the digest each must have; ./unpack.ts applies them.
// Only files are read: no daemon, no registry.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { ImageError, type ImageRef } from './ref.js';

export interface Layer {
  /** The host path of the layer blob. */
  file: string;
  mediaType: string;
  /** What the blob must hash to, as `sha256:<hex>`; `of` says of which bytes: the blob as stored, or uncompressed (docker-archive's diff_ids). */
  digest: string;
  of: 'blob' | 'uncompressed';
}

/** The parts of an image config (OCI image-spec config.md) an instance takes. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface Image {
  /** How the user named it. */
  name: string;
  config: ImageConfig;
  layers: Layer[];
  /** Makes the layer files readable: an archive's layers are extracted only for an unpack, not to read the config. */
  layersReady(): Promise<void>;
  /** Removes what opening it extracted (an archive's members); the layers are unreadable afterwards. */
  close(): void;
}

/** An archive's members read to find the image (indexes, manifests, configs): all are small. */
const SMALL = 1 << 20;

/** The image's config and layers; an archive's small members are extracted into a directory under `scratch` first. */
export async function openImage(ref: ImageRef, scratch: string): Promise<Image> {
  const name = `${ref.transport}:${ref.path}${ref.tag === undefined ? '' : `:${ref.tag}`}`;
  if (!existsSync(ref.path)) throw new ImageError(`${name}: ${ref.path} does not exist`);
  if (ref.transport !== 'oci' && statSync(ref.path).isDirectory()) throw new ImageError(`${name}: ${ref.path} is a directory, not an archive (oci:${ref.path} reads an OCI image layout)`);
  if (ref.transport === 'oci') return { name, ...ociImage(ref.path, ref.tag, name), layersReady: async () => undefined, close: () => undefined };
  const dir = mkdtempSync(path.join(scratch, 'archive-'));
  const close = () => rmSync(dir, { recursive: true, force: true });
  try {
    await extractArchive(ref.path, dir, name, (_p, size) => size <= SMALL);
    const found = ref.transport === 'oci-archive' ? ociImage(dir, ref.tag, name) : dockerImage(dir, ref.tag, name);
    const layersReady = async () => {
      const missing = new Set(found.layers.filter((l) => !existsSync(l.file)).map((l) => path.relative(dir, l.file)));
      if (missing.size > 0) await extractArchive(ref.path, dir, name, (p) => missing.has(path.normalize(p)));
    };
    return { name, ...found, layersReady, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** The members of an image archive that `want` names: plain files and directories only, none leaving `dir`. */
async function extractArchive(file: string, dir: string, name: string, want: (path: string, size: number) => boolean): Promise<void> {
  const problems: string[] = [];
  await tar
    .x({
      file,
      cwd: dir,
      strict: true,
      filter: (p, entry) => 'type' in entry && (entry.type === 'Directory' || ((entry.type === 'File' || entry.type === 'OldFile') && want(p, entry.size ?? 0))),
      onwarn: (_code, message) => problems.push(message),
    })
    .catch((e: Error) => {
      throw new ImageError(`${name}: not a readable image archive: ${e.message}`, true);
    });
  if (problems.length > 0) throw new ImageError(`${name}: not a readable image archive: ${problems[0]}`, true);
}

function readJson(file: string, what: string, name: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ImageError(`${name}: no ${what} (${path.basename(file)})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ImageError(`${name}: ${what} is not a JSON object`);
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string };
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

/** A blob of an OCI layout, read only after its bytes were checked against `digest`. */
function blob(layout: string, digest: string, name: string): Buffer {
  if (!DIGEST.test(digest)) throw new ImageError(`${name}: unsupported digest ${digest} (sha256 only)`);
  const file = blobPath(layout, digest);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new ImageError(`${name}: blob ${digest} is missing`, true);
  }
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw new ImageError(`${name}: blob ${digest} does not match its digest`, true);
  return bytes;
}

const blobPath = (layout: string, digest: string) => path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));

function parseBlob(layout: string, d: Descriptor, what: string, name: string): Record<string, unknown> {
  try {
    const v = JSON.parse(blob(layout, d.digest, name).toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ImageError) throw e;
  }
  throw new ImageError(`${name}: the ${what} ${d.digest} is not a JSON object`, true);
}

function descriptors(v: unknown, what: string, name: string): Descriptor[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'object' && d !== null && typeof (d as Descriptor).digest === 'string')) {
    throw new ImageError(`${name}: ${what} is not a list of descriptors`);
  }
  return v as Descriptor[];
}

/** The image of an OCI layout: the manifest its index names by `tag`, or its only one. */
function ociImage(layout: string, tag: string | undefined, name: string): { config: ImageConfig; layers: Layer[] } {
  if (!existsSync(path.join(layout, 'oci-layout'))) throw new ImageError(`${name}: not an OCI image layout (no oci-layout file)`);
  let manifests = descriptors(readJson(path.join(layout, 'index.json'), 'index', name).manifests, 'index.json manifests', name);
  let chosen: Descriptor | undefined;
  if (tag !== undefined) {
    const named = manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
    if (named.length === 0) throw new ImageError(`${name}: no manifest is tagged ${tag} (tags: ${tagsOf(manifests)})`);
    chosen = named[0];
  } else {
    const distinct = [...new Map(manifests.map((m) => [m.digest, m])).values()];
    if (distinct.length !== 1) throw new ImageError(`${name}: the layout holds ${distinct.length} images; name one (${tagsOf(manifests)})`);
    chosen = distinct[0];
  }
  // An index (several platforms): the linux/amd64 image in it.
  for (let depth = 0; chosen && INDEX_TYPES.includes(chosen.mediaType ?? ''); depth++) {
    if (depth > 4) throw new ImageError(`${name}: image indexes nested too deep`);
    manifests = descriptors(parseBlob(layout, chosen, 'index', name).manifests, 'index manifests', name);
    chosen = manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
    if (!chosen) throw new ImageError(`${name}: the index has no linux/amd64 image`);
  }
  const manifest = parseBlob(layout, chosen!, 'manifest', name);
  const configDesc = manifest.config as Descriptor | undefined;
  if (!configDesc || typeof configDesc.digest !== 'string') throw new ImageError(`${name}: the manifest names no config`);
  const config = parseBlob(layout, configDesc, 'config', name);
  const layers = descriptors(manifest.layers, 'manifest layers', name).map((d) => {
    if (!DIGEST.test(d.digest)) throw new ImageError(`${name}: unsupported layer digest ${d.digest} (sha256 only)`);
    return { file: blobPath(layout, d.digest), mediaType: d.mediaType ?? '', digest: d.digest, of: 'blob' as const };
  });
  return { config: configOf(config, name), layers };
}

const tagsOf = (manifests: Descriptor[]) => manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).filter(Boolean).join(', ') || 'none';

/** The image of a docker-archive: the manifest.json entry whose RepoTags hold `ref`, or the only one. */
function dockerImage(dir: string, ref: string | undefined, name: string): { config: ImageConfig; layers: Layer[] } {
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    throw new ImageError(`${name}: not a docker archive (no readable manifest.json)`);
  }
  if (!Array.isArray(list) || list.length === 0) throw new ImageError(`${name}: manifest.json lists no image`);
  type Entry = { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
  const entries = list as Entry[];
  const tags = (e: Entry) => (Array.isArray(e.RepoTags) ? (e.RepoTags as string[]) : []);
  let entry: Entry | undefined;
  if (ref !== undefined) {
    // `@N` is the N-th image (skopeo's source-index syntax); a name is read as docker reads one
    // (`app` is docker.io/library/app:latest), and so are the archive's tags.
    const index = /^@(\d+)$/.exec(ref);
    if (index && Number(index[1]) >= entries.length) throw new ImageError(`${name}: no image @${index[1]}: the archive holds ${entries.length} (@0${entries.length > 1 ? `..@${entries.length - 1}` : ''})`);
    const wanted = index ? '' : dockerName(ref);
    entry = index ? entries[Number(index[1])] : entries.find((e) => tags(e).some((t) => dockerName(t) === wanted));
    if (!entry) throw new ImageError(`${name}: no image in the archive is tagged ${ref}${wanted === ref ? '' : ` (${wanted})`} (tags: ${entries.flatMap(tags).join(', ') || 'none'})`);
  } else {
    if (entries.length !== 1) throw new ImageError(`${name}: the archive holds ${entries.length} images; name one (tags: ${entries.flatMap(tags).join(', ') || 'none'})`);
    entry = entries[0]!;
  }
  const inside = (p: unknown, what: string): string => {
    if (typeof p !== 'string' || p.startsWith('/') || p.split('/').includes('..')) throw new ImageError(`${name}: manifest.json names no usable ${what}`);
    return path.join(dir, p);
  };
  const config = readJson(inside(entry.Config, 'config'), 'config', name);
  const diffIds = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  const files = Array.isArray(entry.Layers) ? entry.Layers : [];
  if (!Array.isArray(diffIds) || diffIds.length !== files.length) throw new ImageError(`${name}: the config's rootfs.diff_ids do not match the layers`);
  const layers = files.map((f, i) => {
    const digest = diffIds[i] as unknown;
    if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new ImageError(`${name}: unsupported layer digest ${String(digest)} (sha256 only)`);
    return { file: inside(f, 'layer'), mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest, of: 'uncompressed' as const };
  });
  return { config: configOf(config, name), layers };
}

/**
 * A docker reference in its full form, as docker normalises one: the registry `docker.io` when
 * the first part names none (a '.' or ':' in it, or `localhost`), `library/` for an official
 * image, the tag `latest` when there is neither a tag nor a digest.
 */
export function dockerName(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  let full = first !== '' && (/[.:]/.test(first) || first === 'localhost') ? ref : `docker.io/${slash < 0 ? `library/${ref}` : ref}`;
  if (full.startsWith('docker.io/') && !full.slice('docker.io/'.length).includes('/')) full = `docker.io/library/${full.slice('docker.io/'.length)}`;
  const last = full.slice(full.lastIndexOf('/') + 1);
  return last.includes(':') || full.includes('@') ? full : `${full}:latest`;
}

function configOf(config: Record<string, unknown>, name: string): ImageConfig {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown, what: string): string[] | null => {
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ImageError(`${name}: the config's ${what} is not a list of strings`);
    return v as string[];
  };
  const out: ImageConfig = { Entrypoint: strings(c.Entrypoint, 'Entrypoint'), Cmd: strings(c.Cmd, 'Cmd'), Env: strings(c.Env, 'Env') };
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') out.WorkingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User !== '') out.User = c.User;
  return out;
}
