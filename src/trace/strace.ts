// What a traced run did to the file system, read from the output of
// `strace -f -y -xx -o FILE -e trace=...` (the options in STRACE_ARGS): one event per system
// call that succeeded and names a path, with that path made absolute as the kernel resolved it
// (a relative name against the process's working directory or the *at() call's directory), in
// the order the calls started. Nothing here touches the file system: `paths.ts` resolves the
// links on the way, `model.ts` decides what goes into the BOM.
//
// The output format, as strace 5.x and 6.x write it with those options:
//   1234  openat(AT_FDCWD<\x2f\x72>, "\x2e\x2f\x61", O_RDONLY|O_CLOEXEC) = 3<\x2f\x72\x2f\x61>
//   1234  vfork( <unfinished ...>
//   1235  execve("\x2f\x62\x69\x6e\x2f\x6c\x73", [...], 0x7ff... /* 20 vars */) = 0
//   1234  <... vfork resumed>)              = 1235
// -xx writes every byte of every string as \xHH, so a path can hold any byte (quotes, commas,
// newlines) and still be read back exactly; -y decorates each file descriptor, and AT_FDCWD,
// with the path it stands for.

/** The system calls traced: those that name a path, change the working directory, list a directory, or start a process. */
export const TRACED = '%file,%process,fchdir,getdents,getdents64';

/** strace's options before `-o FILE -- CMD...`. */
// --seccomp-bpf stops the command only at the calls traced: a traced Python start-up costs 0.20 s instead of 0.31 (0.15 untraced).
export const STRACE_ARGS = ['-f', '--seccomp-bpf', '-qq', '-y', '-xx', '-e', `trace=${TRACED}`, '-e', 'signal=none'];

/** How a path was used. */
export type Use =
  | 'exec' // executed (execve)
  | 'read' // opened for reading (or O_PATH)
  | 'stat' // looked at: stat, access, readlink, statx
  | 'list' // a directory listed (getdents), or made the working directory
  | 'write'; // created or written: an output of the run

export interface Event {
  use: Use;
  /** Absolute, as named (links on the way not resolved; `.` and `..` kept). */
  path: string;
  /** Whether the last component is followed when it is a symbolic link. */
  follow: boolean;
  pid: number;
}

/** One finished system call: its name, argument text, return text. */
interface Call {
  pid: number;
  name: string;
  args: string[];
  ret: string;
}

const O_WRITE = /\bO_(WRONLY|RDWR|CREAT|TRUNC|APPEND|TMPFILE)\b/;

/**
 * Where each call that names a path names it: the argument holding the path, the directory
 * argument it is relative to (an *at() call), the flags argument (AT_SYMLINK_NOFOLLOW and
 * O_NOFOLLOW: the last link not followed; for `open`, the O_ flags say read or write);
 * `follow: false` when the call never follows the last link; `emptyPath` when an empty path
 * with AT_EMPTY_PATH means the descriptor itself (fstat).
 */
interface PathArg {
  use: Use | 'open';
  path: number;
  at?: number;
  flags?: number;
  follow?: false;
  emptyPath?: true;
}
const STAT_AT: PathArg = { use: 'stat', path: 1, at: 0, flags: 3, emptyPath: true };
const ACCESS_AT: PathArg = { use: 'stat', path: 1, at: 0, flags: 3 };
const OPEN_AT: PathArg = { use: 'open', path: 1, at: 0, flags: 2 };
const MADE: PathArg = { use: 'write', path: 0, follow: false };
const MADE_AT: PathArg = { use: 'write', path: 1, at: 0, follow: false };
const NEW_NAME: PathArg = { use: 'write', path: 1, follow: false };
const NEW_NAME_AT: PathArg = { use: 'write', path: 3, at: 2, follow: false };
const PATHS: Record<string, PathArg> = {
  execve: { use: 'exec', path: 0 },
  execveat: { use: 'exec', path: 1, at: 0, flags: 4 },
  open: { use: 'open', path: 0, flags: 1 },
  creat: { use: 'write', path: 0 },
  openat: OPEN_AT,
  openat2: OPEN_AT,
  stat: { use: 'stat', path: 0 },
  access: { use: 'stat', path: 0 },
  lstat: { use: 'stat', path: 0, follow: false },
  readlink: { use: 'stat', path: 0, follow: false },
  newfstatat: STAT_AT,
  fstatat64: STAT_AT,
  statx: { use: 'stat', path: 1, at: 0, flags: 2, emptyPath: true },
  faccessat: ACCESS_AT,
  faccessat2: ACCESS_AT,
  readlinkat: { use: 'stat', path: 1, at: 0, follow: false },
  mkdir: MADE,
  mknod: MADE,
  truncate: MADE,
  mkdirat: MADE_AT,
  mknodat: MADE_AT,
  rename: NEW_NAME,
  link: NEW_NAME,
  symlink: NEW_NAME,
  renameat: NEW_NAME_AT,
  renameat2: NEW_NAME_AT,
  linkat: NEW_NAME_AT,
  symlinkat: { use: 'write', path: 2, at: 1, follow: false },
};

/**
 * The events of a trace, in the order the calls started. `cwd` is the working directory of the
 * first process (strace's own): every other process's is learned from its parent at fork, from
 * chdir and fchdir, and from the AT_FDCWD decorations of its *at() calls.
 */
export function eventsOf(text: string, cwd: string): Event[] {
  const calls = callsOf(text);
  // A working directory a process shares (CLONE_FS: threads) or copies (fork) from its parent.
  const dirs = new Map<number, { cwd: string }>();
  const dirOf = (pid: number) => {
    let d = dirs.get(pid);
    if (!d) dirs.set(pid, (d = { cwd }));
    return d;
  };
  const events: Event[] = [];
  for (const c of calls) {
    const dir = dirOf(c.pid);
    const ok = !c.ret.startsWith('-') && !c.ret.startsWith('?');
    // Every AT_FDCWD<dir> says where the process is.
    for (const a of c.args) {
      if (a.startsWith('AT_FDCWD<')) {
        const at = decorated(a);
        if (at !== null) dir.cwd = at;
      }
    }
    if (['clone', 'clone3', 'fork', 'vfork'].includes(c.name)) {
      const child = Number(c.ret);
      if (Number.isInteger(child) && child > 0) dirs.set(child, c.args.some((a) => /\bCLONE_FS\b/.test(a)) ? dir : { cwd: dir.cwd });
      continue;
    }
    if (!ok) continue;
    const add = (use: Use, p: string | null, follow = true) => {
      if (p !== null && p !== '') events.push({ use, path: p, follow, pid: c.pid });
    };
    /** The path argument `i`, absolute: against the directory argument `at` (an *at() call), else the working directory. */
    const named = (i: number, at = -1): string | null => {
      const p = quoted(c.args[i]);
      if (p === null) return null;
      if (p.startsWith('/')) return p;
      const base = at < 0 ? dir.cwd : decorated(c.args[at]);
      if (base === null || !base.startsWith('/')) return null;
      return p === '' ? base : `${base === '/' ? '' : base}/${p}`;
    };
    const spec = PATHS[c.name];
    if (spec) {
      const flags = spec.flags === undefined ? '' : (c.args[spec.flags] ?? '');
      if (spec.emptyPath && /\bAT_EMPTY_PATH\b/.test(flags) && quoted(c.args[spec.path]) === '') continue; // fstat of the descriptor
      const use = spec.use === 'open' ? (O_WRITE.test(flags) ? 'write' : 'read') : spec.use;
      add(use, named(spec.path, spec.at), spec.follow !== false && !/\bAT_SYMLINK_NOFOLLOW\b|\bO_NOFOLLOW\b/.test(flags));
    } else if (c.name === 'chdir') {
      const to = named(0);
      if (to !== null) {
        add('list', to);
        dir.cwd = to; // as named; the AT_FDCWD of the next *at() call gives the kernel's own name
      }
    } else if (c.name === 'fchdir' || c.name === 'getdents' || c.name === 'getdents64') {
      const at = decorated(c.args[0]);
      if (at !== null && at.startsWith('/')) {
        add('list', at);
        if (c.name === 'fchdir') dir.cwd = at;
      }
    }
  }
  return events;
}

/**
 * The finished calls, in the order they started: an `<unfinished ...>` call is joined with its
 * `<... NAME resumed>` rest. Lines that are no call (signals, exits) are passed over.
 */
export function callsOf(text: string): Call[] {
  const calls: (Call | null)[] = [];
  const pending = new Map<number, { head: string; at: number }>();
  for (const line of text.split('\n')) {
    const m = /^(\d+) +(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    let body = m[2]!;
    if (body.endsWith(' <unfinished ...>')) {
      pending.set(pid, { head: body.slice(0, -' <unfinished ...>'.length), at: calls.length });
      calls.push(null); // its place in the order
      continue;
    }
    let at = calls.length;
    const resumed = /^<\.\.\. [\w?]+ resumed>/.exec(body);
    if (resumed) {
      const head = pending.get(pid);
      if (!head) continue;
      pending.delete(pid);
      body = head.head + body.slice(resumed[0].length);
      at = head.at;
    }
    const call = parseCall(pid, body);
    if (at === calls.length) calls.push(call);
    else calls[at] = call;
  }
  return calls.filter((c): c is Call => c !== null);
}

function parseCall(pid: number, body: string): Call | null {
  // `name(args) = ret`, where strace pads before `=` to line results up (the last `) =` ends the arguments).
  const m = /^(\w+)\((.*)\) +=(?: (.*))?$/s.exec(body);
  return m ? { pid, name: m[1]!, args: splitArgs(m[2]!), ret: (m[3] ?? '').trim() } : null;
}

/** The top-level arguments of a call's argument text (commas inside {}, [] and () belong to their argument). */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  let quote = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === '"') quote = false;
    } else if (ch === '"') quote = true;
    else if (ch === '{' || ch === '[' || ch === '(') depth++;
    else if (ch === '}' || ch === ']' || ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (text.trim() !== '') args.push(text.slice(start).trim());
  return args;
}

/** A string argument as -xx writes it ("\x2f\x61"), decoded; null when the argument is no string (NULL, an address). */
export function quoted(arg: string | undefined): string | null {
  const m = arg === undefined ? null : /^"((?:\\x[0-9a-f]{2})*)"$/.exec(arg);
  return m ? hexText(m[1]!) : null;
}

/** The path a -y decoration gives a descriptor (`3<\x2f\x61>`, `AT_FDCWD<\x2f>`); null without one, or for a pipe or socket. */
export function decorated(arg: string | undefined): string | null {
  const m = arg === undefined ? null : /^[\w-]+<((?:\\x[0-9a-f]{2})*)>$/.exec(arg);
  if (!m) return null;
  const p = hexText(m[1]!);
  return p.startsWith('/') && !p.endsWith(' (deleted)') ? p : null;
}

/** `\x2f\x61` as text (the bytes as UTF-8; a name that is not UTF-8 comes out with U+FFFD and is found nowhere). */
function hexText(escaped: string): string {
  return Buffer.from(escaped.replace(/\\x/g, ''), 'hex').toString('utf8');
}
