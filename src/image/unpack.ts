// A container image's root file system: its layers applied in order, as `umoci unpack` applies
// them (OCI image-spec layer.md): whiteouts (`.wh.NAME` removes NAME of the layers below,
// `.wh..wh..opq` everything below in its directory), hard links, symbolic links, modes (with
// set-user-ID and the like), owners (when run as root) and mtimes, directory mtimes kept as their
// own entries set them. The `tar` package reads the layers; every write goes through the jail of
// src/fsops/jail.ts, so a path or link in a layer (`..`, an absolute path, a link met on the way)
// cannot lead a write out of the root. Each layer's digest is checked before it is read.
//
// What is refused (the whole unpack fails): a path with `..` or an absolute path, a hard link to
// such a path, a truncated or damaged archive, a compression other than gzip. What is skipped
// with a warning: device nodes, FIFOs and sockets (an image's /dev is the runtime's). Not
// applied: extended attributes (file capabilities). Times are as precise as the tar reader
// gives them: whole seconds, or milliseconds from PAX records.
import { createHash } from 'node:crypto';
import { createReadStream, chmodSync, closeSync, linkSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { Jail } from '../fsops/jail.js';
import { setMtimeSync } from '../fsops/times.js';
import type { Layer } from './image.js';
import { ImageError } from './ref.js';

const GZIP = new Set(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip']);
const PLAIN = new Set(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar', 'application/vnd.docker.image.rootfs.diff.tar']);

/**
 * Apply `layers` in order to the empty directory `rootfs`; `warn` gets what was skipped. `name`
 * names the image in errors; `progress` gets a line to show now and then (a step, a count).
 */
export async function unpackLayers(layers: readonly Layer[], rootfs: string, name: string, warn: (m: string) => void, progress: (line: string) => void = () => undefined): Promise<void> {
  for (const [i, layer] of layers.entries()) {
    const what = `${name}: layer ${i + 1} (${layer.digest})`;
    if (!GZIP.has(layer.mediaType) && !PLAIN.has(layer.mediaType)) throw new ImageError(`${what}: unsupported media type ${layer.mediaType || '(none)'} (gzip or uncompressed tar layers only)`, true);
    const step = `unpacking ${name}: layer ${i + 1}/${layers.length}`;
    progress(`${step}: checking its digest`);
    await checkDigest(layer, what);
    // The layer is applied synchronously: the count is drawn from its entries, ten times a second.
    let next = 0;
    applyLayer(layer.file, rootfs, what, warn, (entries) => {
      if (Date.now() < next) return;
      next = Date.now() + 100;
      progress(`${step}: ${entries} entries`);
    });
  }
}

async function checkDigest(layer: Layer, what: string): Promise<void> {
  const hash = createHash('sha256');
  try {
    const head = await firstBytes(layer.file, 2);
    const gz = layer.of === 'uncompressed' && head[0] === 0x1f && head[1] === 0x8b;
    if (gz) await pipeline(createReadStream(layer.file), createGunzip(), hash);
    else await pipeline(createReadStream(layer.file), hash);
  } catch (e) {
    throw new ImageError(`${what}: cannot be read: ${(e as Error).message}`, true);
  }
  if (`sha256:${hash.digest('hex')}` !== layer.digest) throw new ImageError(`${what}: does not match its digest`, true);
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(file, { start: 0, end: n - 1 })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** One layer, entry by entry, in archive order (synchronous reads and writes: each entry is done before the next). */
function applyLayer(file: string, rootfs: string, what: string, warn: (m: string) => void, counted: (entries: number) => void): void {
  const jail = new Jail(rootfs);
  const asRoot = process.getuid?.() === 0;
  // What this layer made: an opaque whiteout hides only what the layers below left.
  const made = new Set<string>();
  const skipped: string[] = [];
  let failure: string | undefined;
  let open: { fd: number; host: string; entry: tar.ReadEntry } | undefined;

  /** The host path of a parent directory, made (mkdir -p, inside the root) when missing. */
  const parentOf = (rel: string): string => {
    const dir = path.posix.dirname(rel);
    return jail.mkdirpSync(dir === '.' ? '' : dir);
  };
  /** Run `change` in directory `dir`, putting its mtime back (a directory's time is its own entry's, as umoci keeps it). */
  const keepingTimes = (dir: string, change: () => void) => {
    const before = lstatSync(dir, { bigint: true }).mtimeNs;
    change();
    setMtimeSync(dir, before, false);
  };
  /** Remove what is at `host`; the jail forgets the directories it knew, one of which may have been on its way. */
  const remove = (host: string) => {
    rmSync(host, { recursive: true, force: true });
    jail.forget();
  };
  const finish = (host: string, entry: tar.ReadEntry, link: boolean) => {
    made.add(host);
    if (asRoot) lchownSync(host, entry.uid ?? 0, entry.gid ?? 0);
    if (!link) chmodSync(host, (entry.mode ?? 0o644) & 0o7777); // after chown, which clears set-user-ID
    setMtimeSync(host, BigInt(entry.mtime?.getTime() ?? 0) * 1_000_000n, link);
  };
  const clear = (host: string, keepDir: boolean) => {
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st || (keepDir && st.isDirectory())) return;
    remove(host);
  };

  let entries = 0;
  const onEntry = (entry: tar.ReadEntry) => {
    if (failure) return entry.resume();
    counted(++entries);
    try {
      const rel = relPath(entry.path, what);
      if (rel === null) {
        // The root itself ("./"): its metadata, like umoci.
        if (entry.type === 'Directory') finish(rootfs, entry, false);
        return entry.resume();
      }
      const base = path.posix.basename(rel);
      if (base.startsWith('.wh.')) {
        const dir = parentOf(rel);
        if (base === '.wh..wh..opq') {
          keepingTimes(dir, () => {
            for (const name of readdirSync(dir)) if (!made.has(path.join(dir, name))) remove(path.join(dir, name));
          });
        } else {
          const victim = path.join(dir, base.slice('.wh.'.length));
          if (!made.has(victim)) keepingTimes(dir, () => remove(victim));
        }
        return entry.resume();
      }
      const dir = parentOf(rel);
      const host = path.join(dir, base);
      switch (entry.type) {
        case 'Directory':
          keepingTimes(dir, () => {
            clear(host, true);
            mkdirSync(host, { recursive: true });
          });
          finish(host, entry, false);
          return entry.resume();
        case 'File':
        case 'OldFile':
        case 'ContiguousFile': {
          keepingTimes(dir, () => {
            clear(host, false);
            open = { fd: openSync(host, 'wx', 0o600), host, entry };
          });
          entry.on('data', (chunk: Buffer) => {
            if (open) writeSync(open.fd, chunk);
          });
          entry.on('end', () => {
            if (!open) return;
            const { fd, host: h, entry: e } = open;
            open = undefined;
            closeSync(fd);
            finish(h, e, false);
          });
          return;
        }
        case 'SymbolicLink':
          keepingTimes(dir, () => {
            clear(host, false);
            symlinkSync(entry.linkpath ?? '', host);
          });
          finish(host, entry, true);
          return entry.resume();
        case 'Link': {
          const target = relPath(entry.linkpath ?? '', what, 'hard link target');
          if (target === null) throw new ImageError(`${what}: ${entry.path}: a hard link to the root`, true);
          const from = jail.resolveSync(target, false);
          keepingTimes(dir, () => {
            clear(host, false);
            linkSync(from, host);
          });
          made.add(host);
          return entry.resume();
        }
        default:
          skipped.push(`${entry.path} (${entry.type})`);
          return entry.resume();
      }
    } catch (e) {
      failure = e instanceof ImageError ? e.message : `${what}: ${entry.path}: ${(e as Error).message}`;
      return entry.resume();
    }
  };

  try {
    tar.t({
      file,
      sync: true,
      maxReadSize: 1 << 20, // bounded memory: a read and what it inflates to, not 16 MB at a time
      strict: true,
      onReadEntry: onEntry,
      onwarn: (_code: string, message: string) => {
        failure ??= `${what}: ${message}`;
      },
    });
  } catch (e) {
    failure ??= `${what}: ${(e as Error).message}`;
  } finally {
    if (open) closeSync(open.fd);
  }
  if (failure) throw new ImageError(failure.includes('TAR_') || /truncated|unexpected end/i.test(failure) ? `${failure} (a truncated or damaged layer)` : failure, true);
  if (skipped.length > 0) warn(`${what}: skipped ${skipped.length} special file${skipped.length === 1 ? '' : 's'} (devices, FIFOs, sockets): ${skipped.slice(0, 3).join(', ')}${skipped.length > 3 ? ', ...' : ''}`);
}

/** An entry's path relative to the root, `./` and trailing `/` dropped; null for the root itself. `..` and absolute paths are refused. */
function relPath(p: string, what: string, kind = 'path'): string | null {
  if (p.startsWith('/')) throw new ImageError(`${what}: ${kind} ${p} is absolute`, true);
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new ImageError(`${what}: ${kind} ${p} contains ..`, true);
  return parts.length === 0 ? null : parts.join('/');
}
