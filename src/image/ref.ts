// How an image is named (skopeo's transports), and which image an unpacked root came from,
// read without loading what unpacks one.
import { readFileSync } from 'node:fs';

export interface ImageRef {
  transport: 'oci' | 'oci-archive' | 'docker-archive';
  /** The layout directory or the archive file. */
  path: string;
  /** The tag (oci) or reference (docker-archive) named, if any. */
  tag?: string;
}

/** An image that cannot be used: `damaged` (a digest that differs, a truncated or hostile layer) or named wrongly (no such tag, several images). */
export class ImageError extends Error {
  constructor(
    message: string,
    readonly damaged = false,
  ) {
    super(message);
  }
}

const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;
/** skopeo's other transports: a registry, a daemon, a store. */
const ELSEWHERE = ['docker', 'docker-daemon', 'containers-storage', 'dir', 'ostree', 'sif'];

/** The image a --source-root value names, or null when it names a directory. */
export function parseImageRef(value: string): ImageRef | null {
  const colon = value.indexOf(':');
  const transport = colon < 0 ? '' : value.slice(0, colon);
  if (ELSEWHERE.includes(transport)) {
    throw new ImageError(`${value}: images are read from files only (oci:, oci-archive:, docker-archive:); copy it into one first, e.g. skopeo copy ${value} oci-archive:image.tar`);
  }
  if (!(TRANSPORTS as readonly string[]).includes(transport)) return null;
  // The path ends at the first ':' after the transport (skopeo's rule: paths with ':' cannot be named).
  const rest = value.slice(colon + 1);
  const at = rest.indexOf(':');
  const ref: ImageRef = { transport: transport as ImageRef['transport'], path: at < 0 ? rest : rest.slice(0, at) };
  if (at >= 0 && rest.slice(at + 1) !== '') ref.tag = rest.slice(at + 1);
  if (ref.path === '') throw new ImageError(`${value}: no path after ${transport}:`);
  return ref;
}


/**
 * The image a host path of an unpacked root belongs to, and the path inside it: ./root.ts
 * unpacks into `<cache>/image-<key>/rootfs` beside an `image.json` naming the image. Null for
 * any other path.
 */
export function unpackedImageOf(hostPath: string): { image: string; inside: string } | null {
  const m = /^(.*\/image-[0-9a-f]{16})\/rootfs(\/.*)?$/.exec(hostPath);
  if (!m) return null;
  try {
    const { image } = JSON.parse(readFileSync(`${m[1]}/image.json`, 'utf8')) as { image?: unknown };
    return typeof image === 'string' ? { image, inside: m[2] ?? '/' } : null;
  } catch {
    return null;
  }
}
