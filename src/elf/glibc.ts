// glibc's dynamic loader, as `ld.so --list` (what ldd runs) loads an object: the breadth-first
// walk of _dl_map_object_deps, the name lookup and search order of _dl_map_object, the checks
// of open_verify and _dl_map_object_from_fd, and the order in which the list is printed.
// Nothing is executed; files are only read.
//
// Not modelled, as they do not arise for the programs of an image: LD_PRELOAD and LD_AUDIT,
// DT_FILTER and DT_AUXILIARY filtees, secure (setuid) mode, the kernel version check of the
// .note.ABI-tag, the vDSO as a DT_NEEDED name, and Debian's /etc/ld.so.nohwcap. $ORIGIN of the
// program is that of the path it was given, as under ldd (a program started by the kernel
// gets the directory of its real path instead).
import type { FileCache, Probe } from './files.js';
import { fromOrigin } from './origin.js';
import { lookupLdCache, type LdCache } from './ldcache.js';
import type { GlibcModel } from './platform.js';
import {
  DF_1_NODEFLIB,
  DF_1_PIE,
  ET_DYN,
  ET_EXEC,
  ehdrSize,
  hasElfMagic,
  parseHeader,
  phdrSize,
  type ElfInfo,
} from './read.js';
import type { FoundBy, Library, LoadResult } from './types.js';

export interface GlibcContext {
  files: FileCache;
  /** The analysed process's working directory: relative paths and $ORIGIN of relative names. */
  cwd: string;
  ldCache(path: string): Promise<LdCache | null>;
  /** LD_LIBRARY_PATH of the analysed process, if any. */
  ldLibraryPath: string | undefined;
}

/** One object in the loader's list (struct link_map). */
interface LinkMap {
  /** Names it answers to besides realName (l_libname); the first is the one it was loaded by. */
  names: string[];
  /** The path it was opened by, as the loader reports it (l_name). */
  realName: string;
  elf: ElfInfo | null;
  /** Device and inode: a second path to the same file gives the same object. */
  fileId: string | null;
  /** The object that loaded it (l_loader): the DT_RPATH chain follows these. */
  loader: LinkMap | null;
  /** A "not found" placeholder, as the loader creates when tracing. */
  faked: boolean;
  foundBy: FoundBy | null;
  /** Set when it joins the search list: the name it was needed by, and by whom. */
  listedAs?: string;
  neededBy?: LinkMap;
  rpathDirs?: string[] | null;
  /** Which of rpathDirs came from elements that start with $ORIGIN. */
  rpathOrigins?: Set<string>;
  /** Found through an element of `object`'s search path that starts with $ORIGIN (Library.origin). */
  origin?: { object: LinkMap; rel: string };
}

/** Whose search path is being tried, and which of its directories came from $ORIGIN elements. */
type Owner = { object: LinkMap; origins: Set<string> };

type Verdict = { use: true } | { use: false; code: string } | { fatal: string };
type Found = { path: string; probe: Probe & { kind: 'file' }; foundBy: FoundBy; origin?: LinkMap['origin'] };
type SearchResult = Found | { fatal: string } | null;

/** glibc's LIBC_ABI_MAX: EI_ABIVERSION values below it are valid with ELFOSABI_GNU. */
const LIBC_ABI_MAX = 4;
const ELFOSABI_SYSV = 0;
const ELFOSABI_GNU = 3;

/**
 * Whether the loader would use a file found while searching (open_verify): use it, skip it
 * and search on (another class or machine: `code` is the errno the search sees), or stop.
 */
export function openVerify(probe: Probe, m: GlibcModel): Verdict {
  if (probe.kind === 'absent') return { use: false, code: probe.code };
  if (probe.kind === 'directory') return { fatal: 'cannot read file data: Is a directory' };
  const b = probe.head;
  if (probe.size < ehdrSize(m.bits)) return { fatal: 'file too short' };
  if (!hasElfMagic(b)) return { fatal: 'invalid ELF header' };
  if (b[4] !== (m.bits === 64 ? 2 : 1)) return { use: false, code: 'ENOENT' };
  if (b[5] !== (m.littleEndian ? 1 : 2)) {
    return { fatal: `ELF file data encoding not ${m.littleEndian ? 'little' : 'big'}-endian` };
  }
  if (b[6] !== 1) return { fatal: 'ELF file version ident does not match current one' };
  const osabi = b[7]!;
  if (osabi !== ELFOSABI_SYSV && osabi !== ELFOSABI_GNU) return { fatal: 'ELF file OS ABI invalid' };
  const abiVersion = b[8]!;
  if (abiVersion !== 0 && !(osabi === ELFOSABI_GNU && abiVersion < LIBC_ABI_MAX)) {
    return { fatal: 'ELF file ABI version invalid' };
  }
  if (b.subarray(9, 16).some((x) => x !== 0)) return { fatal: 'nonzero padding in e_ident' };
  const parsed = parseHeader(b);
  if (!parsed.ok) return { fatal: parsed.reason };
  const h = parsed.header;
  if (h.version !== 1) return { fatal: 'ELF file version does not match current one' };
  if (h.machine !== m.machine) return { use: false, code: 'ENOENT' };
  if (h.type !== ET_DYN && h.type !== ET_EXEC) return { fatal: 'only ET_DYN and ET_EXEC can be loaded' };
  if (h.phentsize !== phdrSize(m.bits)) return { fatal: "ELF file's phentsize not the expected size" };
  if (h.phoff + h.phnum * h.phentsize > probe.size) return { fatal: 'cannot read file data' };
  return { use: true };
}

/**
 * The checks of _dl_map_object_from_fd once a file was accepted: the message the loader
 * stops with, or null. The program itself may be an executable (`asProgram`).
 */
export function mapCheck(probe: Probe & { kind: 'file' }, m: GlibcModel, asProgram: boolean): string | null {
  if (!probe.elf.ok) return probe.elf.reason;
  const e = probe.elf.elf;
  const pageMask = BigInt(m.pageSize - 1);
  if (e.loads.some((l) => ((l.vaddr - l.offset) & pageMask) !== 0n)) {
    return 'ELF load command address/offset not page-aligned';
  }
  if (e.loads.length === 0) return 'object file has no loadable segments';
  if (!asProgram && e.header.type !== ET_DYN) return 'cannot dynamically load executable';
  if (e.dynamic === null && e.header.type === ET_DYN) return 'object file has no dynamic section';
  if (!asProgram && e.dynamic !== null && (e.dynamic.flags1 & DF_1_PIE) !== 0) {
    return 'cannot dynamically load position-independent executable';
  }
  return null;
}

/**
 * The libraries glibc's loader `m` loads for the program `file` (already checked with
 * openVerify and mapCheck, and dynamic), in ldd's order.
 */
export async function loadGlibc(
  ctx: GlibcContext,
  m: GlibcModel,
  file: string,
  program: Probe & { kind: 'file' },
  elf: ElfInfo,
): Promise<LoadResult> {
  return new GlibcLoad(ctx, m, file, program, elf).run();
}

class GlibcLoad {
  private readonly main: LinkMap;
  private readonly rtld: LinkMap;
  /** Every object in load order (the l_next chain), not-found placeholders included. */
  private readonly chain: LinkMap[];
  /** The breadth-first search list of _dl_map_object_deps. */
  private readonly searchList: LinkMap[];
  /** Whether a search directory (with hwcaps subdirectory) exists, once tried: a missing one is skipped from then on. */
  private readonly dirExists = new Map<string, boolean>();
  private envDirs: string[] = [];

  constructor(
    private readonly ctx: GlibcContext,
    private readonly m: GlibcModel,
    private readonly file: string,
    program: Probe & { kind: 'file' },
    elf: ElfInfo,
  ) {
    // ldd runs "ld.so FILE", prefixing "./" to a bare name so that it is not searched for.
    const name = file.includes('/') ? file : `./${file}`;
    this.main = { names: [name], realName: name, elf, fileId: program.id, loader: null, faked: false, foundBy: null };
    // The loader answers to its path and the PT_INTERP that named it; it is never matched by
    // inode (ld.so does not record its own), so naming it by another path loads a second copy.
    this.rtld = {
      names: [elf.interpreter ?? m.interpreter],
      realName: m.interpreter,
      elf: null,
      fileId: null,
      loader: null,
      faked: false,
      foundBy: 'interpreter',
    };
    this.chain = [this.main, this.rtld];
    this.searchList = [this.main];
  }

  async run(): Promise<LoadResult> {
    await this.setUpLoader();
    const llp = this.ctx.ldLibraryPath;
    if (llp) {
      // DSTs in LD_LIBRARY_PATH are relative to the program; one without a value voids the
      // whole variable, which then means the current directory (glibc's _dl_init_paths).
      this.envDirs = decompose(this.expand(llp, this.main) ?? '', /[:;]/, (s) => this.expand(s, this.main));
    }
    for (let i = 0; i < this.searchList.length; i++) {
      const l = this.searchList[i]!;
      for (const needed of l.elf?.dynamic?.needed ?? []) {
        const name = this.expand(needed, l);
        if (name === null) return this.result(`${needed}: empty dynamic string token substitution`);
        const dep = await this.mapObject(l, name);
        if ('fatal' in dep) return this.result(dep.fatal);
        if (!this.searchList.includes(dep)) {
          dep.listedAs = name;
          dep.neededBy = l;
          this.searchList.push(dep);
        }
      }
    }
    return this.result(null);
  }

  /** The loader's own names: its SONAME (or, if it cannot be read, its file name) besides its paths. */
  private async setUpLoader(): Promise<void> {
    const probe = await this.ctx.files.probe(this.m.interpreter);
    const elf = probe.kind === 'file' && probe.elf.ok ? probe.elf.elf : null;
    this.rtld.elf = elf;
    const soname = elf?.dynamic?.soname ?? this.m.interpreter.slice(this.m.interpreter.lastIndexOf('/') + 1);
    if (!this.rtld.names.includes(soname)) this.rtld.names.push(soname);
  }

  /** _dl_map_object: an already loaded object answering to the name, a newly found one, or a placeholder. */
  private async mapObject(loader: LinkMap, name: string): Promise<LinkMap | { fatal: string }> {
    for (const l of this.chain) {
      if (l.faked) continue;
      if (l.realName === name || l.names.includes(name)) return l;
      if (l.elf?.dynamic?.soname === name) {
        l.names.push(name);
        return l;
      }
    }
    let found: SearchResult;
    if (name.includes('/')) {
      const probe = await this.ctx.files.probe(name);
      const v = openVerify(probe, this.m);
      if ('fatal' in v) return { fatal: `${name}: ${v.fatal}` };
      found = v.use && probe.kind === 'file' ? { path: name, probe, foundBy: 'direct' } : null;
    } else {
      found = await this.search(loader, name);
    }
    if (found && 'fatal' in found) return found;
    if (!found) {
      const placeholder: LinkMap = { names: [name], realName: name, elf: null, fileId: null, loader, faked: true, foundBy: null };
      this.chain.push(placeholder);
      return placeholder;
    }
    const same = this.chain.find((l) => l.fileId === found.probe.id);
    if (same) {
      if (!same.names.includes(name)) same.names.push(name);
      return same;
    }
    const problem = mapCheck(found.probe, this.m, false);
    if (problem) return { fatal: `${name}: ${problem}` };
    const map: LinkMap = {
      names: [name],
      realName: found.path,
      elf: found.probe.elf.ok ? found.probe.elf.elf : null,
      fileId: found.probe.id,
      loader,
      faked: false,
      foundBy: found.foundBy,
      ...(found.origin ? { origin: found.origin } : {}),
    };
    this.chain.push(map);
    return map;
  }

  /** The search for a name without '/': RPATHs, LD_LIBRARY_PATH, RUNPATH, the cache, the system dirs. */
  private async search(loader: LinkMap, name: string): Promise<SearchResult> {
    const dyn = loader.elf?.dynamic;
    // An object with DT_RUNPATH uses no DT_RPATH at all, not even its loaders'.
    if (!dyn || dyn.runpath === null) {
      let didMain = false;
      for (let l: LinkMap | null = loader; l; l = l.loader) {
        const dirs = this.rpathDirs(l);
        if (!dirs) continue;
        const r = await this.openPath(name, dirs, 'rpath', { object: l, origins: l.rpathOrigins! });
        if (r) return r;
        didMain ||= l === this.main;
      }
      const mainDirs = didMain ? null : this.rpathDirs(this.main);
      if (mainDirs) {
        const r = await this.openPath(name, mainDirs, 'rpath', { object: this.main, origins: this.main.rpathOrigins! });
        if (r) return r;
      }
    }
    if (this.envDirs.length > 0) {
      const r = await this.openPath(name, this.envDirs, 'ld_library_path');
      if (r) return r;
    }
    if (dyn && dyn.runpath !== null) {
      const dirs = decompose(dyn.runpath, /:/, (s) => this.expand(s, loader));
      if (dirs.length > 0) {
        const r = await this.openPath(name, dirs, 'runpath', { object: loader, origins: this.originDirs(dyn.runpath, loader) });
        if (r) return r;
      }
    }
    const nodeflib = !!dyn && (dyn.flags1 & DF_1_NODEFLIB) !== 0;
    const cache = this.m.cache === null ? null : await this.ctx.ldCache(this.m.cache);
    const cached = cache ? lookupLdCache(cache, name, this.m.cacheMatch) : null;
    // DF_1_NODEFLIB also refuses cache entries that lie in a system directory.
    if (cached !== null && !(nodeflib && this.m.systemDirs.some((d) => cached.startsWith(d)))) {
      const probe = await this.ctx.files.probe(cached);
      const v = openVerify(probe, this.m);
      if ('fatal' in v) return { fatal: `${cached}: ${v.fatal}` };
      if (v.use && probe.kind === 'file') return { path: cached, probe, foundBy: 'cache' };
    }
    return nodeflib ? null : this.openPath(name, this.m.systemDirs, 'default');
  }

  /** The object's DT_RPATH directories (none if it has DT_RUNPATH), decomposed once. */
  private rpathDirs(l: LinkMap): string[] | null {
    if (l.rpathDirs === undefined) {
      const dyn = l.elf?.dynamic;
      const rpath = dyn && dyn.runpath === null ? dyn.rpath : null;
      const dirs = rpath === null ? [] : decompose(rpath, /:/, (s) => this.expand(s, l));
      l.rpathDirs = dirs.length > 0 ? dirs : null;
      l.rpathOrigins = rpath === null ? new Set() : this.originDirs(rpath, l);
    }
    return l.rpathDirs;
  }

  /** The directories of `l`'s search path `text` that come from elements starting with $ORIGIN. */
  private originDirs(text: string, l: LinkMap): Set<string> {
    if (!text.includes('ORIGIN')) return new Set();
    // An element that starts with the token expandDst reads as $ORIGIN ($ORIGINAL is no token).
    const leadsWithOrigin = (s: string) => s.startsWith('$') && matchDst(s, 1)?.name === 'ORIGIN';
    return new Set(decompose(text, /:/, (s) => (leadsWithOrigin(s) ? this.expand(s, l) : null)).filter((d) => d !== ''));
  }

  /**
   * open_path: each directory, with each hwcaps subdirectory, joined to the name as written.
   * An error other than "no such file" or "permission denied" abandons the list, and a
   * directory seen missing is skipped from then on (relative ones never are).
   */
  private async openPath(name: string, dirs: string[], foundBy: FoundBy, owner?: Owner): Promise<SearchResult> {
    for (const dir of dirs) {
      for (const sub of this.m.subdirs) {
        const key = dir + sub;
        const tracked = dir.startsWith('/');
        if (tracked && this.dirExists.get(key) === false) continue;
        const path = key + name;
        const state = await this.ctx.files.dirState(key);
        const probe: Probe = state === 'dir' ? await this.ctx.files.probe(path) : { kind: 'absent', code: state };
        const v = openVerify(probe, this.m);
        if (tracked && !this.dirExists.has(key)) this.dirExists.set(key, state === 'dir');
        if ('fatal' in v) return { fatal: `${path}: ${v.fatal}` };
        if (v.use && probe.kind === 'file') {
          if (!owner?.origins.has(dir)) return { path, probe, foundBy };
          return { path, probe, foundBy, origin: { object: owner.object, rel: fromOrigin(path, origin(owner.object.realName, this.ctx.cwd)) } };
        }
        if (!v.use && v.code !== 'ENOENT' && v.code !== 'EACCES') return null;
      }
    }
    return null;
  }

  /** $ORIGIN, $PLATFORM and $LIB (also as ${...}); null when one has no value (glibc then drops the string). */
  private expand(s: string, l: LinkMap): string | null {
    return expandDst(s, { ORIGIN: origin(l.realName, this.ctx.cwd), PLATFORM: this.m.platform, LIB: this.m.lib });
  }

  /** The list as ld.so --list prints it: load order, with the loader itself placed after its predecessor in the search list. */
  private result(fatal: string | null): LoadResult {
    const listed = this.chain.filter((l) => l !== this.main && l !== this.rtld);
    const at = this.searchList.indexOf(this.rtld);
    if (at > 0) {
      const before = this.searchList.slice(0, at).filter((l) => !l.faked).at(-1);
      listed.splice(before === this.main ? 0 : listed.indexOf(before!) + 1, 0, this.rtld);
    }
    // Every listed object joined the search list, which set listedAs and neededBy.
    const named = (l: LinkMap) => (l === this.main ? this.file : l.realName);
    const libraries: Library[] = listed.map((l) => ({
      name: l.listedAs!,
      path: l.faked ? null : l.realName,
      foundBy: l.foundBy,
      neededBy: named(l.neededBy!),
      ...(l.origin ? { origin: { object: named(l.origin.object), rel: l.origin.rel } } : {}),
    }));
    return { libraries, fatal };
  }
}

/**
 * Splits a search path as fillin_rpath does: DSTs expanded per element, elements without a
 * value dropped, trailing slashes made one, duplicates dropped; an empty element stays ''
 * (the current directory).
 */
export function decompose(path: string, sep: RegExp, expand: (s: string) => string | null): string[] {
  const out: string[] = [];
  for (const element of path.split(sep)) {
    let dir = '';
    if (element !== '') {
      const x = expand(element);
      if (!x) continue;
      dir = x.length > 1 ? x.replace(/\/+$/, '') : x;
      if (dir === '') dir = '/';
      if (!dir.endsWith('/')) dir += '/';
    }
    if (!out.includes(dir)) out.push(dir);
  }
  return out;
}

/**
 * glibc's _dl_dst_substitute: $NAME or ${NAME} for the known names; other '$' stay. A known
 * name whose value is null voids the whole string.
 */
export function expandDst(s: string, values: Record<'ORIGIN' | 'PLATFORM' | 'LIB', string | null>): string | null {
  let out = '';
  for (let i = 0; i < s.length; ) {
    if (s[i] !== '$') {
      out += s[i++];
      continue;
    }
    const dst = matchDst(s, i + 1);
    if (!dst) {
      out += '$';
      i++;
      continue;
    }
    const value = values[dst.name];
    if (value === null) return null;
    out += value;
    i += 1 + dst.length;
  }
  return out;
}

function matchDst(s: string, at: number): { name: 'ORIGIN' | 'PLATFORM' | 'LIB'; length: number } | null {
  for (const name of ['ORIGIN', 'PLATFORM', 'LIB'] as const) {
    if (s.startsWith(`{${name}}`, at)) return { name, length: name.length + 2 };
    // Without braces the name must not run on into an identifier ($LIBRARY is not $LIB).
    if (s.startsWith(name, at) && !/[A-Za-z0-9_]/.test(s[at + name.length] ?? '')) return { name, length: name.length };
  }
  return null;
}

/** The loader's l_origin: the directory of the path an object was opened by, made absolute with the cwd but not normalised. */
export function origin(path: string, cwd: string): string {
  const full = path.startsWith('/') ? path : `${cwd.endsWith('/') ? cwd : `${cwd}/`}${path}`;
  const slash = full.lastIndexOf('/');
  return slash === 0 ? '/' : full.slice(0, slash);
}
