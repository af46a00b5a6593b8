// Shared by the tests: temporary trees, running the built commands, reading a tree back.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, lstatSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const shared = path.resolve(repo, '..', 'shared');

const made: string[] = [];
export function tmp(prefix = 'occlum-bom-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(d);
  return d;
}
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
// The ELF cache of the commands the tests run: one per test file, thrown away with it.
process.env.OCCLUM_BOM_CACHE_DIR ??= tmp('occlum-bom-cache-');

/** The tool's own files, which the record of every run depends on (src/record.ts codeFiles). */
const CODE = ['dist', 'build/Release', 'package.json'].map((p) => path.join(repo, p));
/** How long before a run a path must have last changed for the run to keep it (src/elf/cache.ts RACY_NS), and a tick more. */
const SETTLED_MS = 2000 + 20;

/**
 * Waits until everything under `paths`, and the tool's own code, last changed (by ctime, as
 * the ELF cache and the run record judge it) more than two seconds ago: a run started then
 * keeps its record and its analysis. The condition, not the clock: a file changed since (a
 * rebuild of dist/, say) is waited for too.
 */
export async function settled(paths: readonly string[]): Promise<void> {
  for (;;) {
    let newest = 0;
    const walk = (p: string) => {
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) return;
      newest = Math.max(newest, st.ctimeMs);
      if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
    };
    for (const p of [...paths, ...CODE]) walk(p);
    const wait = newest + SETTLED_MS - Date.now();
    if (wait <= 0) return;
    await new Promise((r) => setTimeout(r, Math.ceil(wait)));
  }
}

/** Write files: a string is content, { link } a symlink, { mode } sets permission bits, null a directory. */
export type Spec = Record<string, string | null | { link: string } | { content: string; mode: number }>;
export function writeTree(base: string, spec: Spec): void {
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(base, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    if (v === null) mkdirSync(p, { recursive: true });
    else if (typeof v === 'string') writeFileSync(p, v);
    else if ('link' in v) symlinkSync(v.link, p);
    else writeFileSync(p, v.content, { mode: v.mode });
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A command as users run it: `node bin/COMMAND.js`, or with OCCLUM_BOM_TEST_EXE set, that single
 * executable as `EXE COMMAND` (test/executable.test.ts runs the copy_bom tests so).
 */
export function run(command: 'copy_bom' | 'generate_bom' | 'occlum-bom', args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const exe = process.env.OCCLUM_BOM_TEST_EXE;
  const [file, first] = exe ? [exe, command] : [process.execPath, path.join(repo, 'bin', `${command}.js`)];
  const r = spawnSync(file, [first, ...args], {
    cwd: opts.cwd ?? repo,
    env: { ...process.env, OCCLUM_LOG_LEVEL: '', ...opts.env },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function runAsync(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export function copyBom(cwd: string, args: string[], env?: NodeJS.ProcessEnv): Run {
  return run('copy_bom', args, { cwd, ...(env ? { env } : {}) });
}

export interface Node {
  type: 'dir' | 'file' | 'link';
  mode: number;
  mtimeNs?: bigint;
  target?: string;
  sha?: string;
}

/** Everything under `dir`, keyed by relative path: type, permission bits, file mtimes, contents, link targets. */
export function readTree(dir: string, opts: { dirMtimes?: boolean } = {}): Record<string, Node> {
  const out: Record<string, Node> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = lstatSync(p, { bigint: true });
      const mode = Number(st.mode) & 0o7777;
      if (st.isSymbolicLink()) out[r] = { type: 'link', mode: 0, target: readlinkSync(p) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode, ...(opts.dirMtimes ? { mtimeNs: st.mtimeNs } : {}) };
        walk(r);
      } else out[r] = { type: 'file', mode, mtimeNs: st.mtimeNs, sha: createHash('sha256').update(readFileSync(p)).digest('hex') };
    }
  };
  walk('');
  return out;
}

export function yaml(lines: string): string {
  return lines.replace(/^\n/, '');
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** A run of a built command with a wall-clock limit (killed when over it) and a heap limit. */
export interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export function runLimited(
  command: 'copy_bom' | 'generate_bom' | 'occlum-bom',
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; ms: number; heapMb: number },
): Promise<Child> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(process.execPath, [`--max-old-space-size=${opts.heapMb}`, path.join(repo, 'bin', `${command}.js`), ...args], {
      cwd: opts.cwd,
      env: { ...process.env, OCCLUM_LOG_LEVEL: '', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    // A runaway stdout is summarised, so that a bomb cannot fill the test's memory.
    child.stdout.on('data', (d: Buffer) => (stdout += stdout.length < 1 << 24 ? d : ''));
    child.stderr.on('data', (d: Buffer) => (stderr += stderr.length < 1 << 24 ? d : ''));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start, timedOut });
    });
  });
}

/** A clean environment for programs run on the host and in images (no JAVA_TOOL_OPTIONS, PYTHONHOME...). */
export const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

/** Why a built image cannot be run here with `inImage` (root, unshare, mount, chroot, and the commands in `also`), or false. */
export function cannotRunImages(also: readonly string[] = []): string | false {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the images are x86-64 Linux images';
  if (process.getuid?.() !== 0) return 'running an image needs root (unshare -m, mount, chroot)';
  for (const cmd of ['unshare', 'chroot', 'mount', ...also]) if (!hasCommand(cmd)) return `${cmd} is not available`;
  return false;
}

/**
 * `unshare -m sh -c 'mount -t proc proc IMAGE/proc && exec chroot IMAGE ARGV...'`: the program run
 * with the image as its root, /proc mounted in a private mount namespace that dies with it.
 */
export function inImage(image: string, argv: readonly string[]): [string, string[]] {
  return ['unshare', ['-m', 'sh', '-c', 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"', image, ...argv]];
}
