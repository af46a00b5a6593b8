// One writer per image: a lock file beside the image root (`<root>.lock`, next to where the
// manifest goes), created with O_EXCL and holding the writer's pid. A second copy_bom waits
// for the first to finish; a lock left by a killed run (its pid is gone) is taken over.
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

export function lockPath(root: string): string {
  return `${path.resolve(root).replace(/\/+$/, '')}.lock`;
}

/** Take the lock (waiting while another live copy_bom holds it); returns its release. */
export async function lockImage(root: string, onWait: (holder: number, file: string) => void): Promise<() => void> {
  const file = lockPath(root);
  mkdirSync(path.dirname(file), { recursive: true });
  let told = false;
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try {
          unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number.parseInt(readFileSync(file, { encoding: 'utf8', flag: 'r' }).trim() || '0', 10);
    if (!(holder > 0) || !alive(holder)) {
      // Stale: move it aside under a name of our own, so that of two runs breaking it at once
      // only one removes it (the other's rename fails), then try again.
      const aside = `${file}.stale.${process.pid}`;
      try {
        renameSync(file, aside);
        unlinkSync(aside);
      } catch {
        // someone else broke it first
      }
      continue;
    }
    if (!told) onWait(holder, file);
    told = true;
    await sleep(100);
  }
}
