// Modification times to the nanosecond (rsync -t keeps them exactly) through the addon;
// without it (no compiler at install time), Node's utimes, which is within about a
// microsecond, and the quick check allows for that.
import { lutimesSync, utimesSync } from 'node:fs';
import { lutimes, utimes } from 'node:fs/promises';
import { native } from './native.js';

/** Whether times are set exactly; if not, the quick check tolerates the rounding. */
export const exactTimes = native !== undefined;

const NS = 1_000_000_000n;

/** Seconds and nanoseconds (0 to 999,999,999, as in a timespec) of a time in ns, before 1970 too. */
export function splitNs(ns: bigint): [number, number] {
  const sec = ns >= 0n ? ns / NS : -((-ns + NS - 1n) / NS);
  return [Number(sec), Number(ns - sec * NS)];
}

/**
 * A test of whether a time is before `limitNs`, exact, for a time whose whole seconds `sec`
 * (within a second of it) are at hand and whose nanoseconds `exact()` cost a BigInt: runs
 * compare thousands of ctimes with their start, nearly all of them days before it.
 */
export function earlierThan(limitNs: bigint): (sec: number, exact: () => bigint) => boolean {
  const limitSec = Number(limitNs / NS);
  return (sec, exact) => (sec < limitSec - 2 ? true : sec > limitSec + 2 ? false : exact() < limitNs);
}

/** Nanoseconds as `seconds.nanoseconds`, exactly, before 1970 too (-1 ns is "-0.000000001"). */
export function decimalSeconds(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  return `${ns < 0n ? '-' : ''}${abs / NS}.${(abs % NS).toString().padStart(9, '0')}`;
}

export async function setMtime(path: string, mtimeNs: bigint, isLink: boolean): Promise<void> {
  if (native) {
    native.utimens(path, ...splitNs(mtimeNs), !isLink);
    return;
  }
  const seconds = Number(mtimeNs) / 1e9;
  // Access time is not copied (rsync leaves it too); utimes needs one, so "now".
  const now = Date.now() / 1000;
  await (isLink ? lutimes(path, now, seconds) : utimes(path, now, seconds));
}

/** setMtime, synchronously. */
export function setMtimeSync(path: string, mtimeNs: bigint, isLink: boolean): void {
  if (native) return native.utimens(path, ...splitNs(mtimeNs), !isLink);
  const seconds = Number(mtimeNs) / 1e9;
  const now = Date.now() / 1000;
  (isLink ? lutimesSync : utimesSync)(path, now, seconds);
}

/** rsync's quick check on mtimes: equal, or equal within Node's rounding when times are not exact. */
export function sameMtime(a: bigint, b: bigint): boolean {
  if (exactTimes) return a === b;
  const d = a > b ? a - b : b - a;
  return d < 2000n;
}
