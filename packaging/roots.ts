// Debian bullseye roots (glibc 2.31, as Ubuntu 20.04: the oldest Occlum host), made with
// `mmdebstrap --variant=minbase` once per machine and kept: the release builds the addon in one,
// the tests run the executable and install the .deb in copies of another. Needs root (chroot)
// and the Debian archive; OCCLUM_BOM_ROOTS names where they are kept (default: $TMPDIR).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SUITE = 'bullseye';
/** Its glibc: what the shipped addon may need at most. */
export const GLIBC_FLOOR = '2.31';

/** Why the roots cannot be made here, or false. */
export function cannotMakeRoots(): string | false {
  if (process.getuid?.() !== 0) return 'making a Debian root and running chroot need root';
  for (const cmd of ['mmdebstrap', 'chroot']) if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `${cmd} is not installed`;
  return false;
}

/**
 * The root named `name`: minbase and the packages `include`, made once. Never changed once made
 * (copy it to change it); made under another name and renamed, so that a run cut short, or two
 * at once, leave no half-made root.
 */
export function debianRoot(name: string, include: readonly string[]): string {
  const dir = path.join(process.env.OCCLUM_BOM_ROOTS || path.join(os.tmpdir(), 'occlum-bom-roots'), `${SUITE}-${name}`);
  if (existsSync(dir)) return dir;
  mkdirSync(path.dirname(dir), { recursive: true });
  const making = `${dir}.${process.pid}.tmp`;
  rmSync(making, { recursive: true, force: true });
  const args = ['--quiet', '--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), SUITE, making];
  const r = spawnSync('mmdebstrap', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    rmSync(making, { recursive: true, force: true });
    throw new Error(`mmdebstrap ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  }
  try {
    renameSync(making, dir);
  } catch {
    rmSync(making, { recursive: true, force: true }); // another process made it meanwhile
  }
  return dir;
}
