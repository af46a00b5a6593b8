import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { native } from './native.js';

const buffer = Buffer.allocUnsafe(1 << 20);

/**
 * SHA-256 of a file's content, lower-case hex: on the thread pool through the addon, else a
 * synchronous read loop (from the page cache several times faster than a read stream).
 */
export async function hashFile(file: string): Promise<string> {
  if (native) return native.sha256(file);
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) h.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
