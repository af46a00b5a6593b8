// The first bytes of an executed file: the ELF magic, or the `#!` line whose interpreter the
// kernel starts (execve never shows that interpreter being opened: the trace names only the script).
import { closeSync, openSync, readSync } from 'node:fs';
import { hasElfMagic } from '../elf/index.js';

/** The kernel reads at most this much of a `#!` line (BINPRM_BUF_SIZE). */
const HEAD = 256;

export function readHead(p: string): { elf: boolean; shebang: string | null } {
  const buf = Buffer.alloc(HEAD);
  let n = 0;
  let fd: number | undefined;
  try {
    fd = openSync(p, 'r');
    n = readSync(fd, buf, 0, HEAD, 0);
  } catch {
    return { elf: false, shebang: null };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const head = buf.subarray(0, n);
  if (hasElfMagic(head)) return { elf: true, shebang: null };
  if (head.toString('latin1', 0, 2) !== '#!') return { elf: false, shebang: null };
  const line = head.toString('utf8', 2, head.indexOf(10) < 0 ? n : head.indexOf(10));
  const interpreter = /^[ \t]*(\S+)/.exec(line)?.[1] ?? null;
  return { elf: false, shebang: interpreter?.startsWith('/') ? interpreter : null };
}
