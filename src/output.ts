// Writing a result: to stdout, or to a file through a temporary name beside it and a rename,
// so that a failed run never leaves half a document where the previous one was.
import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describeFsError, Exit, UserError } from './errors.js';

/** `.<name>.<pid>.tmp` beside the file. */
function tempFor(file: string, pid: number | string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
}

/** Remove what a killed writer of `file` left (call only while no other writer can exist). */
export function removeStaleTemps(file: string): void {
  const name = new RegExp(`^\\.${path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+\\.tmp$`);
  for (const entry of readdirSync(path.dirname(file))) if (name.test(entry)) unlinkSync(path.join(path.dirname(file), entry));
}

/**
 * Whether `writeOutput(text, file)` will be able to write `file`, found out before the work
 * that makes the text (a command run, say): its temporary name is made and removed again.
 */
export function checkWritable(file: string | undefined): void {
  if (file === undefined || file === '-') return;
  const tmp = tempFor(file, process.pid);
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    closeSync(openSync(tmp, 'wx'));
    unlinkSync(tmp);
  } catch (e) {
    throw new UserError(`cannot write ${file}: ${describeFsError(e)}`, Exit.copyFile);
  }
}

/** Write `file` whole or not at all; several pieces are written one after the other (no copy of them joined). */
export function writeAtomically(file: string, text: string | Uint8Array | readonly Uint8Array[], mode?: number): void {
  const tmp = tempFor(file, process.pid);
  try {
    if (Array.isArray(text)) {
      const fd = openSync(tmp, 'w', mode ?? 0o666);
      try {
        for (const piece of text as readonly Uint8Array[]) writeAll(fd, piece);
      } finally {
        closeSync(fd);
      }
    } else writeFileSync(tmp, text as string | Uint8Array, mode === undefined ? {} : { mode });
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
    throw new UserError(`cannot write ${file}: ${describeFsError(e)}`, Exit.copyFile);
  }
}

/** All of `bytes` at the descriptor's position (writeSync may write less); returns their length. */
export function writeAll(fd: number, bytes: Uint8Array): number {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
  return bytes.length;
}

/** `undefined` or `-` is stdout. */
export function writeOutput(text: string, file: string | undefined): void {
  if (file === undefined || file === '-') process.stdout.write(text);
  else writeAtomically(file, text);
}

/**
 * Text or bytes in, bytes out to `flush` a megabyte at a time (null: the rest; bytes larger
 * than the room left go out as they are, after what came before them). Pieces of text are
 * joined into a string of about 16 KB before each encoding into the buffer: one encoding a
 * piece (a call into C++ and the flattening of a concatenated string each) costs three times
 * as much, and one string of everything four times.
 */
export function sink(flush: (bytes: Buffer) => void): (text: string | Buffer | null) => void {
  const buf = Buffer.allocUnsafe(1 << 20);
  let at = 0;
  let pending = '';
  const encode = () => {
    if (at + 3 * pending.length > buf.length) {
      if (at > 0) flush(buf.subarray(0, at));
      at = 0;
    }
    if (3 * pending.length > buf.length) flush(Buffer.from(pending));
    else at += buf.write(pending, at);
    pending = '';
  };
  return (text) => {
    if (typeof text === 'string') {
      pending += text;
      if (pending.length > 1 << 14) encode();
      return;
    }
    encode();
    if (text && at + text.length <= buf.length) {
      buf.set(text, at); // small bytes join the text's
      at += text.length;
      return;
    }
    if (at > 0) flush(buf.subarray(0, at));
    at = 0;
    if (text) flush(text);
  };
}

/** Text appended into buffers, joined at the end (`bytes`). */
export function collector(): { add: (text: string | null) => void; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const add = sink((bytes) => chunks.push(Buffer.from(bytes)));
  return { add, bytes: () => (add(null), Buffer.concat(chunks)) };
}
