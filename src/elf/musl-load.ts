// musl's dynamic loader, as its ldd mode loads a program (ldso/dynlink.c, load_library and
// load_deps): LD_LIBRARY_PATH first, then the DT_RUNPATH or DT_RPATH of the requesting
// object and of every object up the chain that loaded it, then the system path; no cache, no
// hwcaps subdirectories, and names of libc's parts resolve to the loader itself.
//
// Not modelled: LD_PRELOAD, and musl's swapping itself in for a library that turns out to be
// a libc (it looks for __libc_start_main and stdin among its symbols), which only a DT_NEEDED
// path or an oddly named libc can reach.
import type { FileCache, Probe } from './files.js';
import { splitMuslPath } from './musl.js';
import { fromOrigin } from './origin.js';
import { ET_DYN, ET_EXEC, type ElfInfo } from './read.js';
import type { FoundBy, Library, LoadResult } from './types.js';

export interface MuslContext {
  files: FileCache;
  /** The system path for a path file (see readMuslPath), read once. */
  muslPath(pathFile: string): Promise<string[]>;
  ldLibraryPath: string | undefined;
}

export interface MuslLoader {
  /** The loader's path: PT_INTERP, and the name libc's parts resolve to. */
  path: string;
  /** Its path file (…/etc/ld-musl-<arch>.path). */
  pathFile: string;
  bits: 32 | 64;
  machine: number;
}

interface Dso {
  /** The path it was loaded by. */
  name: string;
  /** Set when it was found by a search: its file name, by which later requests find it. */
  shortname: string | null;
  elf: ElfInfo | null;
  fileId: string | null;
  neededBy: Dso | null;
}

type Opened = { path: string; probe: Probe; foundBy: FoundBy; origin?: Library['origin'] };

/** Names musl's libc.so provides itself: lib<part>.<anything>. */
const LIBC_PARTS = ['c', 'pthread', 'rt', 'm', 'dl', 'util', 'xnet'];
const NAME_MAX = 255;
/** musl builds candidate paths in a buffer of this size and skips those that do not fit. */
const PATH_BUF = 2 * NAME_MAX + 2;
/** Errors after which musl tries the next directory; any other ends the search. */
const SEARCH_ON = ['ENOENT', 'ENOTDIR', 'EACCES', 'ENAMETOOLONG'];

/**
 * The libraries musl's loader loads for `file` (ET_EXEC or ET_DYN, dynamic), in the order its
 * ldd prints them; a library it cannot load appears with a null path (musl reports it on
 * stderr and goes on).
 */
export async function loadMusl(
  ctx: MuslContext,
  loader: MuslLoader,
  file: string,
  program: Probe & { kind: 'file' },
  elf: ElfInfo,
): Promise<LoadResult> {
  return new MuslLoad(ctx, loader, file, program, elf).run();
}

class MuslLoad {
  private readonly app: Dso;
  private readonly ldso: Dso;
  /** The loaded objects in load order, the program first. */
  private readonly chain: Dso[];
  /** musl's ldd reports each part of libc once, under the first name it was asked for by. */
  private readonly reported = new Set<string>();
  private readonly libraries: Library[] = [];

  constructor(
    private readonly ctx: MuslContext,
    private readonly loader: MuslLoader,
    private readonly file: string,
    program: Probe & { kind: 'file' },
    elf: ElfInfo,
  ) {
    this.app = { name: file, shortname: null, elf, fileId: program.id, neededBy: null };
    this.ldso = { name: loader.path, shortname: 'libc.so', elf: null, fileId: null, neededBy: null };
    this.chain = [this.app];
  }

  async run(): Promise<LoadResult> {
    // load_deps: the dependencies of each object of the growing list in turn; the loader's own are done.
    for (let i = 0; i < this.chain.length; i++) {
      const p = this.chain[i]!;
      if (p === this.ldso) continue;
      for (const name of p.elf?.dynamic?.needed ?? []) await this.loadLibrary(name, p);
    }
    return { libraries: this.libraries, fatal: null };
  }

  private async loadLibrary(name: string, neededBy: Dso): Promise<void> {
    if (name === '') return this.list(name, null, null, neededBy);
    const part = libcPart(name);
    if (part !== null && !this.reported.has(part)) {
      this.reported.add(part);
      this.list(name, this.ldso.name, 'interpreter', neededBy);
    }
    if (part !== null || name === this.ldso.name) {
      if (!this.chain.includes(this.ldso)) this.chain.push(this.ldso);
      return;
    }

    let opened: Opened | null;
    if (name.includes('/')) {
      const probe = await this.ctx.files.probe(name);
      opened = probe.kind === 'absent' ? null : { path: name, probe, foundBy: 'direct' };
    } else {
      if (this.chain.some((p) => p !== this.app && p.shortname === name)) return;
      opened = Buffer.byteLength(name) > NAME_MAX ? null : await this.search(name, neededBy);
    }
    if (!opened) return this.list(name, null, null, neededBy);

    const { path, probe } = opened;
    const searched = path !== name;
    if (probe.kind === 'file') {
      // The same file under another path is the same object; musl leaves the program out of this.
      const same = this.chain.find((p) => p !== this.app && p.fileId === probe.id);
      if (same) {
        if (!same.shortname && searched) same.shortname = basename(same.name);
        return;
      }
    }
    const elf = probe.kind === 'file' && probe.elf.ok ? probe.elf.elf : null;
    if (!elf || !this.loadable(elf)) return this.list(name, null, null, neededBy);
    const fileId = probe.kind === 'file' ? probe.id : null;
    this.chain.push({ name: path, shortname: searched ? basename(path) : null, elf, fileId, neededBy });
    this.list(name, path, opened.foundBy, neededBy, opened.origin);
  }

  /**
   * musl's map_library accepts ET_EXEC and ET_DYN with a PT_DYNAMIC; it reads the headers as
   * its own class and does not check the machine, so another class or machine is taken as a
   * file it cannot map.
   */
  private loadable(elf: ElfInfo): boolean {
    const h = elf.header;
    return (
      h.bits === this.loader.bits &&
      h.machine === this.loader.machine &&
      (h.type === ET_DYN || h.type === ET_EXEC) &&
      elf.dynamic !== null
    );
  }

  private async search(name: string, neededBy: Dso): Promise<Opened | null> {
    const llp = this.ctx.ldLibraryPath;
    if (llp) {
      const r = await this.pathOpen(name, splitMuslPath(llp), 'ld_library_path');
      if (r !== 'none') return r === 'stop' ? null : r;
    }
    for (let p: Dso | null = neededBy; p; p = p.neededBy) {
      const found = this.rpath(p);
      if (!found) continue;
      const r = await this.pathOpen(name, found.dirs, p.elf?.dynamic?.runpath != null ? 'runpath' : 'rpath');
      if (r === 'stop') return null;
      if (r === 'none') continue;
      const dir = r.path.slice(0, r.path.lastIndexOf('/'));
      return found.origins.has(dir) ? { ...r, origin: { object: p === this.app ? this.file : p.name, rel: fromOrigin(r.path, found.origin) } } : r;
    }
    const sys = await this.ctx.muslPath(this.loader.pathFile);
    const r = await this.pathOpen(name, sys, 'default');
    return r === 'none' || r === 'stop' ? null : r;
  }

  /** The first directory where dir/name opens; 'stop' on an error that ends musl's search. */
  private async pathOpen(name: string, dirs: string[], foundBy: FoundBy): Promise<Opened | 'none' | 'stop'> {
    for (const dir of dirs) {
      const path = `${dir}/${name}`;
      if (Buffer.byteLength(path) >= PATH_BUF) continue;
      const probe = await this.ctx.files.probe(path);
      if (probe.kind !== 'absent') return { path, probe, foundBy };
      if (!SEARCH_ON.includes(probe.code)) return 'stop';
    }
    return 'none';
  }

  /**
   * fixup_rpath: DT_RUNPATH, else DT_RPATH, with $ORIGIN (or ${ORIGIN}) replaced by the
   * directory of the object's path as loaded; a path with any other '$' is not used at all.
   */
  private rpath(p: Dso): { dirs: string[]; origin: string; origins: Set<string> } | null {
    const dyn = p.elf?.dynamic;
    const raw = dyn ? (dyn.runpath ?? dyn.rpath) : null;
    if (raw === null) return null;
    const slash = p.name.lastIndexOf('/');
    const origin = slash < 0 ? '.' : p.name.slice(0, slash);
    if (!raw.includes('$')) return { dirs: splitMuslPath(raw), origin, origins: new Set() };
    const expand = (text: string): string | null => {
      let out = '';
      let i = 0;
      for (let t = text.indexOf('$'); t >= 0; t = text.indexOf('$', i)) {
        const braced = text.startsWith('${ORIGIN}', t);
        if (!braced && !text.startsWith('$ORIGIN', t)) return null;
        out += text.slice(i, t) + origin;
        i = t + (braced ? 9 : 7);
      }
      return out + text.slice(i);
    };
    const all = expand(raw);
    if (all === null) return null;
    // Each element as musl's path_open joins it: the directory a library found there is in. An
    // element leads with $ORIGIN by musl's rule, the one `expand` applies ($ORIGINAL is $ORIGIN + AL).
    const origins = new Set(splitMuslPath(raw).filter((e) => e.startsWith('$ORIGIN') || e.startsWith('${ORIGIN}')).map((e) => expand(e)!));
    return { dirs: splitMuslPath(all), origin, origins };
  }

  private list(name: string, path: string | null, foundBy: FoundBy | null, neededBy: Dso, origin?: Library['origin']): void {
    const library: Library = { name, path, foundBy, neededBy: neededBy === this.app ? this.file : neededBy.name };
    this.libraries.push(origin ? { ...library, origin } : library);
  }
}

function libcPart(name: string): string | null {
  if (!name.startsWith('lib')) return null;
  return LIBC_PARTS.find((part) => name.startsWith(`${part}.`, 3)) ?? null;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
