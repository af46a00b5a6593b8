// Modification times to the nanosecond (rsync -t keeps them exactly) through a small
// N-API addon; without it (no compiler at install time), Node's utimes, which is
// within about a microsecond, and the quick check allows for that.
import { lutimes, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';

type Utimens = (path: string, sec: number, nsec: number, followLast: boolean) => void;

const native: Utimens | undefined = (() => {
  try {
    return (createRequire(import.meta.url)('../../build/Release/utimens.node') as { utimens: Utimens }).utimens;
  } catch {
    return undefined;
  }
})();

/** Whether times are set exactly; if not, the quick check tolerates the rounding. */
export const exactTimes = native !== undefined;

const NS = 1_000_000_000n;

export async function setMtime(path: string, mtimeNs: bigint, isLink: boolean): Promise<void> {
  if (native) {
    native(path, Number(mtimeNs / NS), Number(mtimeNs % NS), !isLink);
    return;
  }
  const seconds = Number(mtimeNs) / 1e9;
  // Access time is not copied (rsync leaves it too); utimes needs one, so "now".
  const now = Date.now() / 1000;
  await (isLink ? lutimes(path, now, seconds) : utimes(path, now, seconds));
}

/** rsync's quick check on mtimes: equal, or equal within Node's rounding when times are not exact. */
export function sameMtime(a: bigint, b: bigint): boolean {
  if (exactTimes) return a === b;
  const d = a > b ? a - b : b - a;
  return d < 2000n;
}
