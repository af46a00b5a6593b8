// Helpers for the ELF tests: running the real ldd (the judge; only tests run it) and the deps
// command, and putting both answers in one comparable form.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resolution } from '../src/elf/index.js';

/** The glibc loader ldd uses on this host (the only one in its RTLDLIST that exists here). */
export const HOST_LOADER = '/lib64/ld-linux-x86-64.so.2';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAX_BUFFER = 1 << 28;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, maxBuffer: MAX_BUFFER, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The real ldd on one file. */
export function ldd(file: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return run('ldd', [file], { env });
}

/**
 * What the ldd script does for each file, without the script's cost (it starts the loader three
 * times and forks subshells: ~35 ms a file on a slow machine): `ld.so --verify FILE`, then, if
 * the loader takes the file (status 0, or 2 for an object without PT_INTERP), the loader in
 * trace mode with ldd's variables and stderr joined to stdout, all from one shell. (ldd also
 * passes --verify's output as LD_LIBRARY_VERSION, which the x86-64 loader does not use.) The
 * agreement test checks on a sample that the ldd script says the same. With `root`, each run
 * of the loader is chrooted into it, as `chroot root ldd` runs it (by a static helper that sets
 * ldd's variables only after the chroot: they would trace a dynamic chroot(1) itself, and a root
 * of packages has no shell of its own).
 */
export async function lddDirect(files: string[], env: NodeJS.ProcessEnv, root?: string): Promise<Map<string, Run>> {
  const script = `
    for f do
      printf '\\036%s\\n' "$f"
      $C "$L" --verify "$f" >/dev/null
      case $? in
        0|2) $C LD_TRACE_LOADED_OBJECTS=1 LD_WARN= LD_BIND_NOW= LD_VERBOSE= "$L" "$f" 2>&1 ;;
        *) printf '\\tnot a dynamic executable\\n' ;;
      esac
    done`;
  const C = root === undefined ? 'env' : `${await chrootEnv()} ${root}`;
  const r = await run('sh', ['-c', script, 'sh', ...files], { env: { ...env, L: HOST_LOADER, C } });
  const out = new Map<string, Run>();
  for (const record of r.stdout.split('\x1e').slice(1)) {
    const nl = record.indexOf('\n');
    out.set(record.slice(0, nl), { code: 0, stdout: record.slice(nl + 1), stderr: '' });
  }
  return out;
}

let helper: Promise<string> | undefined;

/** `chroot-env ROOT [NAME=VALUE...] PROGRAM ARGS...`: a static program, built once with gcc, that chroots, sets the variables and runs PROGRAM. */
function chrootEnv(): Promise<string> {
  helper ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'occlum-bom-chroot-env-'));
    writeFileSync(path.join(dir, 'chroot-env.c'), `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 3 || chroot(argv[1]) != 0 || chdir("/") != 0) { perror("chroot-env"); return 127; }
  int i = 2;
  for (; i < argc && strchr(argv[i], '=') != NULL; i++) putenv(argv[i]);
  execv(argv[i], argv + i);
  perror("chroot-env: execv");
  return 127;
}
`);
    const out = path.join(dir, 'chroot-env');
    const r = await run('gcc', ['-static', '-O2', '-o', out, path.join(dir, 'chroot-env.c')]);
    if (r.code !== 0) throw new Error(`gcc -static chroot-env.c: ${r.stderr}`);
    return out;
  })();
  return helper;
}

/** `occlum-bom deps ARGS`, as built (npm test builds first). */
export function deps(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return run(process.execPath, [`${ROOT}bin/occlum-bom.js`, 'deps', ...args], { cwd: ROOT, ...opts });
}

export interface JsonEntry {
  file: string;
  interpreter: string | null;
  libraries: { name: string; path: string | null }[];
  error?: string;
}

/** One ldd line: a library by name (path null: not found), or a line that shows only a path. */
export type LddEntry = { name: string | null; path: string | null };

/**
 * What ldd said about one file:
 *  - list: the libraries, without the vDSO; a line showing only a path (the loader itself, or a
 *    library named by its path) has name null;
 *  - none: "statically linked" (dynamic, no DT_NEEDED) or "not a dynamic executable";
 *  - fatal: the loader stopped ("error while loading shared libraries: <message>").
 */
export type LddAnswer =
  | { kind: 'list'; entries: LddEntry[] }
  | { kind: 'none' }
  | { kind: 'fatal'; message: string }
  | { kind: 'unparsed'; text: string };

export function parseLdd(r: Run): LddAnswer {
  const text = r.stdout + r.stderr;
  const fatal = /: error while loading shared libraries: (.*)$/m.exec(text);
  if (fatal) return { kind: 'fatal', message: fatal[1]! };
  if (/^\t(statically linked|not a dynamic executable)$/m.test(text)) return { kind: 'none' };
  const entries: LddEntry[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue;
    const m = /^\t(.*?)(?: => (.*?))?(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (!m) return { kind: 'unparsed', text };
    const [, left, right] = m;
    if (left === 'linux-vdso.so.1' && right === undefined) continue;
    if (right === undefined) entries.push({ name: null, path: left! });
    else entries.push({ name: left!, path: right === 'not found' ? null : right });
  }
  return r.stderr === '' ? { kind: 'list', entries } : { kind: 'unparsed', text };
}

/** Differences between ldd's answer and deps --json's entry for a file; empty when they agree. */
export function compare(ldd: LddAnswer, ours: JsonEntry): string[] {
  const show = (e: { name: string | null; path: string | null }) => `${e.name ?? '(path only)'} => ${e.path ?? 'not found'}`;
  switch (ldd.kind) {
    case 'unparsed':
      return [`ldd output not understood:\n${ldd.text}`];
    case 'fatal': {
      const want = `error while loading shared libraries: ${ldd.message}`;
      return ours.error === want ? [] : [`ldd: ${want}; deps: ${ours.error ?? 'no error'}`];
    }
    case 'none':
      return ours.libraries.length === 0 && ours.error === undefined
        ? []
        : [`ldd: no libraries; deps: ${ours.error ?? ours.libraries.map(show).join(', ')}`];
    case 'list': {
      if (ours.error !== undefined) return [`deps: ${ours.error}; ldd listed libraries`];
      const n = Math.max(ldd.entries.length, ours.libraries.length);
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const l = ldd.entries[i];
        const o = ours.libraries[i];
        if (l && o && sameEntry(l, o)) continue;
        out.push(`#${i}: ldd ${l ? show(l) : '(nothing)'}; deps ${o ? show(o) : '(nothing)'}`);
      }
      return out;
    }
  }
}

/**
 * ldd shows the loader itself, and a library named by a path, as a bare path: deps names the
 * first by the DT_NEEDED entry that asked for it and the second by that path.
 */
function sameEntry(l: LddEntry, o: { name: string; path: string | null }): boolean {
  if (l.path !== o.path) return false;
  if (l.name !== null) return l.name === o.name;
  return o.name === o.path || o.path === HOST_LOADER;
}


/** A resolution in the form `deps --json` prints it. */
export function asJson(r: Resolution): JsonEntry {
  const error =
    r.status === 'unreadable'
      ? r.reason
      : r.status === 'dynamic' && r.fatal !== null
        ? `error while loading shared libraries: ${r.fatal}`
        : undefined;
  return {
    file: r.file,
    interpreter: r.status === 'dynamic' ? r.interpreter : null,
    libraries: r.status === 'dynamic' ? r.libraries.map(({ name, path }) => ({ name, path })) : [],
    ...(error === undefined ? {} : { error }),
  };
}
