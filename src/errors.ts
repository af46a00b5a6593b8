// Exit codes of upstream copy_bom (negative numbers seen by the shell modulo 256),
// kept so that scripts written for it keep working.
export const Exit = {
  ok: 0,
  /** Bad command line (clap's code, kept for copy_bom). */
  usage: 1,
  /** A command that is not there yet. */
  notImplemented: 2,
  /** A program a command needs is not installed (strace, for trace). */
  toolMissing: 3,
  fileNotFound: 255,
  copyFile: 254,
  invalidBom: 253,
  createDir: 252,
  createSymlink: 251,
  copyDir: 250,
  wrongHash: 249,
  missingLibrary: 248,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** A place in a BOM file; line and col are 1-based. */
export interface Where {
  file: string;
  line: number;
  col: number;
}

export function formatWhere(w: Where): string {
  return `${w.file}:${w.line}:${w.col}`;
}

/** An error the user can act on: printed as one line, never with a stack. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly where?: Where,
  ) {
    super(oneLine(where ? `${formatWhere(where)}: ${message}` : message));
    this.name = 'UserError';
  }
}

/**
 * Several errors found in one pass (every missing source of every BOM), each printed on its own
 * line; the exit code is the first one's.
 */
export class UserErrors extends UserError {
  constructor(readonly all: readonly UserError[]) {
    super(all[0]!.message, all[0]!.exitCode);
    this.name = 'UserErrors';
  }
}

/** A value quoted in a message (JSON), its middle cut out when it is long: one line stays readable. */
export function quote(value: string, max = 80): string {
  if (value.length <= max) return JSON.stringify(value);
  const keep = Math.floor((max - 20) / 2);
  return `${JSON.stringify(value.slice(0, keep)).slice(0, -1)}...(${Buffer.byteLength(value)} bytes)...${JSON.stringify(value.slice(-keep)).slice(1)}`;
}

/** The text after `errno` code names, for one-line messages (`ENOENT: no such file`). */
export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    const text: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      ENOTDIR: 'not a directory',
      EISDIR: 'is a directory',
      EEXIST: 'file exists',
      ENOTEMPTY: 'directory not empty',
      ELOOP: 'too many levels of symbolic links',
      ENOSPC: 'no space left on device',
      EROFS: 'read-only file system',
      ENAMETOOLONG: 'file name too long',
      EXDEV: 'cross-device link',
    };
    return text[err.code] ?? `${err.code}`;
  }
  return err instanceof Error ? err.message : String(e);
}

/** A message as one printable line: control characters (a newline in a file name) are escaped. */
export function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
