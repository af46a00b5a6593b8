// The tool's own files, read at run time: package.json (name and version), the template BOMs
// and the native addon. Run by Node, they are the package's files beside dist/. In the single
// executable (src/cli/executable.ts) they are assets embedded in it: package.json is read from
// memory; the templates and the addon must be files (include directories are searched on disk,
// an addon is dlopen'ed), so they are written out once, each under a name that carries its
// SHA-256, into a directory only this user can write, and checked at every start before use
// (a regular file, ours, writable by no one else, the same bytes); one that fails the check is
// written again.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from './log.js';

/** What `node:sea` gives the executable: its embedded assets by key. */
export interface Assets {
  getAsset(key: string): ArrayBuffer;
}

/** The asset listing what else is embedded (node:sea cannot list its assets in Node 20). */
export interface AssetIndex {
  /** The template BOMs' names: each is the asset `templates/NAME`. */
  templates: string[];
  /** Whether the asset `addon` (native/fs.c built for the glibc floor) is there. */
  addon: boolean;
}

let assets: Assets | undefined;

/** Called by the executable's entry point before any other module of the tool is loaded. */
export function useAssets(embedded: Assets): void {
  assets = embedded;
}

/** Whether this is the single executable. */
export function isExecutable(): boolean {
  return assets !== undefined;
}

/** `$OCCLUM_BOM_CACHE_DIR` or `$XDG_CACHE_HOME/occlum-bom` or `~/.cache/occlum-bom`; '' (an empty OCCLUM_BOM_CACHE_DIR) is none. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  return env.OCCLUM_BOM_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'occlum-bom');
}

/** A file of the package run by Node (`dist`, `package.json`, ...): dist/ is one level below its top. */
export function packageFile(rel: string): string {
  return fileURLToPath(new URL(`../${rel}`, import.meta.url));
}

function asset(key: string): Buffer {
  return Buffer.from(assets!.getAsset(key));
}

let pkg: { name: string; version: string } | undefined;
export function packageJson(): { name: string; version: string } {
  pkg ??= JSON.parse(assets ? asset('package.json').toString('utf8') : readFileSync(packageFile('package.json'), 'utf8')) as { name: string; version: string };
  return pkg;
}

let index: AssetIndex | undefined;
function assetIndex(): AssetIndex {
  index ??= JSON.parse(asset('index.json').toString('utf8')) as AssetIndex;
  return index;
}

let templates: string | undefined;
/** The directory of the template BOMs shipped with the tool (searched after every --include-dir). */
export function templatesDir(): string {
  if (!assets) return packageFile('templates/');
  if (templates) return templates;
  const files = assetIndex().templates.map((name) => ({ name, bytes: asset(`templates/${name}`) }));
  const all = createHash('sha256');
  for (const f of files) all.update(`${f.name}\0${sha256(f.bytes)}\0`);
  const dir = path.join(writtenOut(), `templates-${all.digest('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!safeDir(dir)) throw new Error(`${dir} is not a directory only this user can write`);
  for (const f of files) writeOnce(path.join(dir, f.name), f.bytes);
  templates = `${dir}/`;
  return templates;
}

/**
 * The native addon's file, or undefined when there is none: the embedded one written out, or
 * (run by Node) what node-gyp-build finds: a local build (`build/Release`, made by `npm ci` from
 * native/fs.c), else the package's prebuilt one (`prebuilds/linux-x64/`, made by `npm pack`).
 */
export function addonFile(): string | undefined {
  if (assets) {
    if (!assetIndex().addon) return undefined;
    const bytes = asset('addon');
    return writeOnce(path.join(writtenOut(), `${sha256(bytes)}.node`), bytes);
  }
  const load = createRequire(import.meta.url);
  try {
    return (load('node-gyp-build') as { resolve(dir: string): string }).resolve(packageFile(''));
  } catch {
    return undefined; // none built for this platform
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let outDir: string | undefined;
/**
 * Where the embedded files are written out: `CACHE/embedded`, made 0700; where that cannot be
 * made or is not this user's alone, a new directory in $TMPDIR, removed when the process ends.
 */
function writtenOut(): string {
  if (outDir) return outDir;
  const cache = cacheDir(process.env);
  if (cache !== '') {
    const dir = path.join(cache, 'embedded');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (safeDir(dir)) return (outDir = dir);
      log.debug(`${dir} is not this user's alone: the embedded files go to a temporary directory`);
    } catch (e) {
      log.debug(`cannot make ${dir} (${(e as Error).message}): the embedded files go to a temporary directory`);
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'occlum-bom-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (outDir = dir);
}

function safeDir(dir: string): boolean {
  const st = lstatSync(dir);
  return st.isDirectory() && st.uid === process.getuid!() && (st.mode & 0o022) === 0;
}

/**
 * `file` holding `bytes`: kept when it passes the check (a regular file of this user's, writable
 * by no one else, the same bytes), else (re)written: a new file renamed into place.
 */
function writeOnce(file: string, bytes: Buffer): string {
  const st = lstatSync(file, { throwIfNoEntry: false });
  if (st) {
    const why = !st.isFile()
      ? 'not a regular file'
      : st.uid !== process.getuid!()
        ? 'not owned by this user'
        : (st.mode & 0o022) !== 0
          ? 'writable by others'
          : st.size !== bytes.length || !readFileSync(file).equals(bytes)
            ? 'other bytes'
            : '';
    if (why === '') return file;
    log.debug(`refused ${file} (${why}): written again`);
    rmSync(file, { recursive: true, force: true });
  }
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // left by a process of this pid that died
  writeFileSync(tmp, bytes, { mode: 0o400, flag: 'wx' });
  renameSync(tmp, file);
  return file;
}
