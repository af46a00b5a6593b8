// What a run reads: every path it looked at with what it found there, and the environment
// variables its BOMs read. Low in the house: any stage records here, and the run record
// (src/record.ts) and the ELF cache above them read it.
import type { BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';

/** S: stat (links followed), L: lstat, D: the names in a directory, C: a file's content. */
export type Kind = 'S' | 'L' | 'D' | 'C';

/** A path as a run found it: its device and inode, or 'missing'. */
export type Found = string;
export const found = (st: { dev: bigint | number; ino: bigint | number } | null): Found => (st ? `${st.dev}:${st.ino}` : 'missing');

/** Paths looked at in bulk (a scanned tree), each with the device and inode found there. */
export interface InputSet {
  readonly inputCount: number;
  forEachInput(fn: (kind: Kind, path: string, dev: number, ino: number) => void): void;
}

/** The paths and variables a run read, each path with what it was then (null: two different things). */
export class Inputs {
  private readonly paths = new Map<string, Found | null>();
  private readonly sets: InputSet[] = [];
  readonly env = new Map<string, string | null>();

  /** `st`: what stat (S) or lstat (L) said of `p`, null if it failed. */
  add(kind: 'S' | 'L', p: string, st: { dev: bigint | number; ino: bigint | number } | null): void {
    const key = `${kind}${p}`;
    const now = found(st);
    const before = this.paths.get(key);
    this.paths.set(key, before === undefined || before === now ? now : null);
  }

  /**
   * A file read whole (a BOM): what counts is its content, not its times, so a BOM touched
   * but not changed leaves the run's record standing. `was` is the line the record's check
   * gives for it (src/record.ts): its device, inode, size and the SHA-256 of the bytes read.
   */
  addContent(p: string, st: { dev: bigint | number; ino: bigint | number }, bytes: Buffer): void {
    const was = `content:${st.dev}:${st.ino}:${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`;
    const before = this.paths.get(`C${p}`);
    this.paths.set(`C${p}`, before === undefined || before === was ? was : null);
  }

  /** A tree scanned in one go: its entries are listed by the tree itself, not copied here. */
  addSet(set: InputSet): void {
    this.sets.push(set);
  }

  /** The environment as the BOM loader reads it, each variable read remembered. */
  reader(env: NodeJS.ProcessEnv): Readonly<Record<string, string | undefined>> {
    return new Proxy(env, {
      get: (target, name) => {
        const value = typeof name === 'string' ? target[name] : undefined;
        if (typeof name === 'string') this.env.set(name, value ?? null);
        return value;
      },
    });
  }

  /** How many paths forEach gives. */
  get size(): number {
    let n = this.paths.size;
    for (const set of this.sets) n += set.inputCount;
    return n;
  }

  /** Every path read, in the same order each time: those added one at a time, then the sets' (with the device and inode found). */
  forEach(each: (kind: Kind, path: string, was: Found | null) => void, inSets: (kind: Kind, path: string, dev: number, ino: number) => void): void {
    for (const [key, was] of this.paths) each(key[0] as Kind, key.slice(1), was);
    for (const set of this.sets) set.forEachInput(inSets);
  }
}

/** stat(p), or null when it fails; what it said is recorded in `inputs` when there are any. */
export async function statSeen(p: string, inputs?: Inputs): Promise<BigIntStats | null> {
  const st = await stat(p, { bigint: true }).catch(() => null);
  inputs?.add('S', p, st);
  return st;
}

/** Device, inode, size, mtime and ctime: what must all be unchanged for a file's content to be. */
export function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
