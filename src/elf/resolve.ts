// The resolver: which loader an ELF file gets, and what that loader would load for it.
import { describeFsError } from '../errors.js';
import { statNow, type ElfCache } from './cache.js';
import type { SourceRoot } from '../fsops/root.js';
import { FileCache } from './files.js';
import { loadGlibc, mapCheck, openVerify } from './glibc.js';
import { loadLdCache } from './ldcache.js';
import { loadMusl } from './musl-load.js';
import { muslArch, muslPathFile, readMuslPath } from './musl.js';
import { defaultInterpreter, glibcModel, machineName, type GlibcOptions } from './platform.js';
import { ET_DYN, ET_EXEC, type ElfInfo } from './read.js';
import type { LoadResult } from './types.js';

export interface ResolverOptions {
  /** LD_LIBRARY_PATH of the analysed programs. The environment is not read. */
  ldLibraryPath?: string;
  /** Working directory of the analysed programs, for relative paths (default: process.cwd()). */
  cwd?: string;
  /** The glibc loader model: system directories, cache, $LIB, $PLATFORM, hwcaps. */
  glibc?: GlibcOptions;
  /** musl's path file, instead of the one next to the loader (<prefix>/etc/ld-musl-<arch>.path). */
  muslPathFile?: string;
  /** What files said in earlier runs (src/elf/cache.ts). */
  cache?: ElfCache;
  /** The root the analysed programs run in (--source-root): every path is looked up inside it. */
  root?: SourceRoot;
}

export interface ResolveOptions {
  /** The loader for a file without PT_INTERP (default: glibc's for the file's class and machine). */
  interpreter?: string;
  /** With a source root: the file is a host path outside it, read there; what it loads is looked up inside the root. */
  outside?: boolean;
}

export interface LoaderInfo {
  /** The loader whose rules were applied: PT_INTERP, the `interpreter` option or the default. */
  path: string;
  flavor: 'glibc' | 'musl';
}

export type Resolution =
  /** The file cannot be opened or read (the reason is errno's text). */
  | { file: string; status: 'unreadable'; reason: string }
  /** Not an ELF file, or one too damaged to analyse. */
  | { file: string; status: 'not-elf'; reason: string }
  /** An ELF file the loader would not run dynamically: static, relocatable, or refused. */
  | { file: string; status: 'not-dynamic'; elf: ElfInfo; reason: string }
  /** A dynamic ELF file for a machine whose loader this module does not model. */
  | { file: string; status: 'unsupported'; elf: ElfInfo; reason: string }
  | ({
      file: string;
      status: 'dynamic';
      elf: ElfInfo;
      /** PT_INTERP as written, null for a shared object without one. */
      interpreter: string | null;
      loader: LoaderInfo;
    } & LoadResult);

export interface Resolver {
  /** What the loader would load for `file`; answers are remembered per file and options. */
  resolve(file: string, options?: ResolveOptions): Promise<Resolution>;
  /** Every path the answers so far depend on, with what `stat` said of it before it was read (src/elf/cache.ts). */
  seen(): ReadonlyMap<string, string>;
  /** The ELF file at a path the loader found (inside the source root, if any), as read once; null if it is none. */
  elf(path: string): Promise<ElfInfo | null>;
}

/** A resolver for one loader context; it reads each file once, however many files need it. */
export function createResolver(options: ResolverOptions = {}): Resolver {
  const cwd = options.cwd ?? process.cwd();
  const files = new FileCache(cwd, options.cache, options.root);
  const read = (path: string) => files.read(path);
  // Stat before reading: a file changed in between reads as changed next time, never the reverse.
  const noted = <T>(load: (path: string, readFile: typeof read) => Promise<T>) => (path: string) => {
    const host = files.host(path);
    if (typeof host === 'string') files.seen.set(host, statNow(host));
    return load(path, read);
  };
  const ldCaches = memo(noted(loadLdCache));
  const muslPaths = memo(noted(readMuslPath));
  const ctx = { files, cwd, ldLibraryPath: options.ldLibraryPath, ldCache: ldCaches, muslPath: muslPaths };
  const answers = new Map<string, Promise<Resolution>>();

  async function analyse(file: string, interpreterOption: string | undefined, outside: boolean): Promise<Resolution> {
    const probe = await files.probe(file, outside);
    if (probe.kind === 'absent') return { file, status: 'unreadable', reason: describeFsError({ code: probe.code }) };
    if (probe.kind === 'directory') return { file, status: 'unreadable', reason: 'is a directory' };
    if (!probe.elf.ok) return { file, status: 'not-elf', reason: probe.elf.reason };
    const elf = probe.elf.elf;
    const { bits, machine, type } = elf.header;
    if (type !== ET_EXEC && type !== ET_DYN) {
      return { file, status: 'not-dynamic', elf, reason: `ELF type ${type} is neither ET_EXEC nor ET_DYN` };
    }
    const interpreter = elf.interpreter ?? interpreterOption ?? defaultInterpreter(bits, machine);
    if (interpreter === null) {
      return { file, status: 'unsupported', elf, reason: `no known loader for ${machineName(bits, machine)}` };
    }

    const arch = muslArch(interpreter);
    if (arch !== null) {
      if (!elf.dynamic) return { file, status: 'not-dynamic', elf, reason: 'no dynamic section' };
      const pathFile = options.muslPathFile ?? muslPathFile(interpreter, arch);
      const loaded = await loadMusl(ctx, { path: interpreter, pathFile, bits, machine }, file, probe, elf);
      return dynamic(file, elf, { path: interpreter, flavor: 'musl' }, loaded);
    }

    const model = glibcModel(bits, machine, elf.header.littleEndian, interpreter, options.glibc);
    if (!model) return { file, status: 'unsupported', elf, reason: `no glibc model for ${machineName(bits, machine)}` };
    // ldd first asks the loader whether it would run the file at all (ld.so --verify).
    const v = openVerify(probe, model);
    const refusal = 'fatal' in v ? v.fatal : mapCheck(probe, model, true);
    if (refusal) return { file, status: 'not-dynamic', elf, reason: refusal };
    if (!elf.dynamic) return { file, status: 'not-dynamic', elf, reason: 'no dynamic section' };
    const loaded = await loadGlibc(ctx, model, file, probe, elf);
    return dynamic(file, elf, { path: interpreter, flavor: 'glibc' }, loaded);
  }

  return {
    seen: () => files.seen,
    elf: async (path) => {
      const probe = await files.probe(path);
      return probe.kind === 'file' && probe.elf.ok ? probe.elf.elf : null;
    },
    resolve(file, opts = {}) {
      const key = `${file}\0${opts.interpreter ?? ''}\0${opts.outside ?? false}`;
      let answer = answers.get(key);
      if (!answer) {
        answer = analyse(file, opts.interpreter, opts.outside ?? false);
        answers.set(key, answer);
      }
      return answer;
    },
  };
}

function dynamic(file: string, elf: ElfInfo, loader: LoaderInfo, loaded: LoadResult): Resolution {
  return { file, status: 'dynamic', elf, interpreter: elf.interpreter, loader, ...loaded };
}

function memo<T>(load: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const seen = new Map<string, Promise<T>>();
  return (key) => {
    let p = seen.get(key);
    if (!p) {
      p = load(key);
      seen.set(key, p);
    }
    return p;
  };
}

