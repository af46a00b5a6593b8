// Debian bullseye roots (glibc 2.31, as Ubuntu 20.04: the oldest Occlum host), made with
// `mmdebstrap --variant=minbase` once per machine and kept: the release builds the addon in one,
// the tests run the executable and install the .deb in copies of another. Needs root (chroot)
// and the Debian archive; OCCLUM_BOM_ROOTS names where they are kept (default: $TMPDIR).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** The root named `name`: minbase and the packages `include`, made once. Never changed once made: copy it to change it. */
export function debianRoot(name: string, include: readonly string[]): Promise<string> {
  const dir = path.join(process.env.OCCLUM_BOM_ROOTS || path.join(os.tmpdir(), 'occlum-bom-roots'), `${SUITE}-${name}`);
  return madeOnce(dir, (into) => {
    const args = ['--quiet', '--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), SUITE, into];
    const r = spawnSync('mmdebstrap', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`mmdebstrap ${args.join(' ')} failed: ${(r.error?.message ?? r.stderr).trim().split('\n').slice(-3).join(' / ')}`);
  });
}

/**
 * `dir`, made by `make` unless it is there: made under another name and renamed, so that a run
 * cut short leaves no half-made one, by one process while the others wait for it (`dir`.lock
 * holds the maker's pid; a dead maker's lock is taken over).
 */
export async function madeOnce(dir: string, make: (into: string) => void | Promise<void>): Promise<string> {
  mkdirSync(path.dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  while (!existsSync(dir)) {
    const owner = lockedBy(lock);
    if (owner === undefined) continue; // gone meanwhile: look again
    if (owner !== process.pid) {
      if (owner > 0 && !alive(owner)) rmSync(lock, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, 200)); // until the maker is done
      continue;
    }
    const into = `${dir}.${process.pid}.tmp`;
    try {
      rmSync(into, { recursive: true, force: true });
      if (!existsSync(dir)) {
        await make(into);
        renameSync(into, dir);
      }
    } finally {
      rmSync(into, { recursive: true, force: true });
      rmSync(lock, { force: true });
    }
  }
  return dir;
}

/** The pid holding `lock` (this one's when it was free: taken now; 0 while its maker writes it), or undefined when it went away. */
function lockedBy(lock: string): number | undefined {
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return process.pid;
  } catch {
    try {
      return Number(readFileSync(lock, 'utf8').trim() || 0);
    } catch {
      return undefined;
    }
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
