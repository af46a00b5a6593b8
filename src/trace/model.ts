// What a traced BOM holds, and its text. From the events of a run (strace.ts) and a walk of each
// path (paths.ts): the files executed, read, mapped and looked at, the directories listed, every
// link on the way to any of them, and the directories kept whole (--keep). Left out: what lies
// under /proc, /sys, /dev and /run (the enclave has its own; what was used there is named in the
// header) and what the run wrote (/tmp is no exception: what was there before and only read is
// an input like any other).
// The text is a function of the model alone (sorted, grouped by directory), so that two traces
// of the same run diff cleanly and a merge (`fromText` of an earlier trace, then `add`) is
// idempotent.
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, parseYaml } from '../vendor.js';
import { readElfFile, ET_DYN } from '../elf/index.js';
import { readHead } from './shebang.js';
import { SourceRoot } from '../fsops/root.js';
import type { Event } from './strace.js';

/** How an entry was seen; the order is the order they are written in. */
export const HOWS = ['exec', 'interp', 'open', 'dlopen', 'stat', 'dir', 'link', 'keep'] as const;
export type How = (typeof HOWS)[number];

/** The roots a trace leaves out: the enclave's own /proc, /sys and /dev, and run-time state. */
export const LEFT_OUT = ['/proc', '/sys', '/dev', '/run'];

export interface Item {
  kind: 'file' | 'dir' | 'link' | 'keep';
  how: Set<How>;
  /** A link's target, as readlink gives it. */
  target?: string;
}

export interface Traced {
  /** The command lines traced, in order. */
  commands: string[][];
  includes: string[];
  /** By absolute path in the image (the same as on the host). */
  items: Map<string, Item>;
  /** What the commands wrote (their outputs): left out. */
  outputs: Set<string>;
  /** Files used under /run: left out, and named in the header (and warned of) so that nobody wonders. */
  leftOut: Set<string>;
  /** What was used under /dev: Occlum provides its own, a chroot needs these bound. */
  devices: Set<string>;
}

export const emptyTrace = (): Traced => ({ commands: [], includes: [], items: new Map(), outputs: new Set(), leftOut: new Set(), devices: new Set() });

const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
export const isLeftOut = (p: string) => LEFT_OUT.some((d) => under(p, d));

/**
 * Add a run to `t`: its command line, its events, the directories to keep whole. Warnings go
 * to `warn` (a path copy_bom cannot name, a --keep that is no directory, a file left out under
 * /run, a file from `home`).
 */
export async function addRun(t: Traced, command: string[], events: readonly Event[], keep: readonly string[], warn: (m: string) => void, home?: string): Promise<void> {
  const walker = new SourceRoot(); // the host
  const seen = new Map<string, Item>();
  const outputs = new Set<string>();
  const gone = new Set<string>();
  /** Whether the run made `p` (as named, or where its directory is now) before using it. */
  const madeHere = (p: string) => {
    const dir = walker.walk(path.posix.dirname(p), true).real;
    return outputs.has(p) || (dir !== null && outputs.has(path.posix.join(dir, path.posix.basename(p))));
  };
  const item = (p: string, kind: Item['kind'], how: How, target?: string) => {
    let it = seen.get(p);
    if (!it || it.kind !== kind) seen.set(p, (it = { kind, how: new Set(), ...(target === undefined ? {} : { target }) }));
    it.how.add(how);
  };
  /** A path under a root left out: a device (or anything else under /dev) and a file under /run are named. */
  const leftOut = (p: string, follow: boolean) => {
    if (!p.startsWith('/dev/') && !p.startsWith('/run/')) return;
    const w = walker.walk(p, follow);
    if (w.real === null || w.type === 'dir') return;
    if (under(w.real, '/dev')) t.devices.add(w.real);
    else if (w.type === 'file' && under(w.real, '/run') && !t.leftOut.has(w.real)) {
      t.leftOut.add(w.real);
      warn(`${w.real}: used by the command, left out: /run is run-time state the image does not hold (copy it with a BOM entry of your own if it must be there)`);
    }
  };
  /** Record the walk of `p` and what it ends at; the real path, or null. */
  const use = (p: string, follow: boolean, how: (type: 'file' | 'dir' | 'link') => How | null) => {
    if (isLeftOut(p)) {
      leftOut(p, follow);
      return null;
    }
    const w = walker.walk(p, follow);
    for (const l of w.links) if (!isLeftOut(l.path)) item(l.path, 'link', 'link', l.target);
    for (const d of w.through) if (!isLeftOut(d)) item(d, 'dir', 'dir');
    if (w.real === null && !gone.has(p) && !madeHere(p)) {
      gone.add(p);
      warn(`${p}: used by the command, and gone after it (removed or renamed): not in the BOM`);
    }
    if (w.real === null || w.type === null || w.type === 'other' || isLeftOut(w.real)) return null;
    const h = how(w.type);
    if (h === null) return null;
    if (w.type === 'link') item(w.real, 'link', 'link', walker.readlink(w.real));
    else item(w.real, w.type, h);
    return w.real;
  };
  for (const e of events) {
    if (e.use === 'write') {
      if (isLeftOut(e.path)) {
        if (e.path.startsWith('/dev/')) leftOut(e.path, e.follow);
        continue;
      }
      const w = walker.walk(e.path, e.follow);
      if (w.real !== null) outputs.add(w.real);
      else {
        // Made and removed again (a temporary file), or its directory gone: where it was.
        const dir = walker.walk(path.posix.dirname(e.path), true).real;
        if (dir !== null) outputs.add(path.posix.join(dir, path.posix.basename(e.path)));
      }
      continue;
    }
    const file = e.use === 'exec' ? 'exec' : e.use === 'read' ? 'open' : e.use === 'stat' ? 'stat' : null;
    const real = use(e.path, e.follow, (type) => (type === 'dir' ? 'dir' : type === 'file' ? file : 'link'));
    if (real !== null && e.use === 'exec') for (const interp of await interpreters(real)) use(interp, true, (type) => (type === 'file' ? 'interp' : type === 'dir' ? null : 'link'));
  }
  // Opened shared objects: mapped by the dynamic loader (DT_NEEDED, dlopen).
  for (const [p, it] of seen) if (it.kind === 'file' && it.how.has('open') && (await isSharedObject(p))) it.how.add('dlopen');
  for (const k of keep) {
    const there = walker.walk(k, true);
    const real = there.real === null ? null : use(k, true, (type) => (type === 'dir' ? 'keep' : null));
    if (real === null) warn(`--keep ${k}: ${there.real === null ? 'not there' : 'not a directory, or left out'}; the files used under it are listed one by one`);
    else seen.set(real, { kind: 'keep', how: new Set(['keep']) });
  }
  // What the run made is no input, nor anything under what it made.
  const made = [...outputs].sort();
  const isOutput = (p: string) => outputs.has(p) || made.some((o) => p.startsWith(`${o}/`));
  for (const [p, it] of seen) {
    if (isOutput(p)) continue;
    if (p.includes('$') || it.target?.includes('$')) {
      warn(`${p}${it.target === undefined ? '' : ` -> ${it.target}`}: left out: copy_bom would read the $ in it as an environment variable`);
      continue;
    }
    if (home !== undefined && it.kind !== 'dir' && under(p, home)) warn(`${p}: from your home directory ${home}: it goes into the image (is that meant?)`);
    merge(t.items, p, it);
  }
  // Named once: what lies under a directory the run made is that directory's.
  for (const o of made) if (!made.some((d) => o.startsWith(`${d}/`))) t.outputs.add(o);
  t.commands.push(command);
  dropUnderKept(t);
}

/** `it` added at `p`: hows joined when it is the same entry; a directory kept whole stays kept; else the later one wins. */
function merge(items: Map<string, Item>, p: string, it: Item): void {
  const was = items.get(p);
  if (was && was.kind === it.kind && was.target === it.target) for (const h of it.how) was.how.add(h);
  else if (!(was?.kind === 'keep' && it.kind === 'dir')) items.set(p, { ...it, how: new Set(it.how) });
}

/** Nothing under a directory kept whole is listed again (the copy of the directory brings it). */
function dropUnderKept(t: Traced): void {
  const kept = [...t.items].filter(([, it]) => it.kind === 'keep').map(([p]) => p);
  for (const p of [...t.items.keys()]) if (kept.some((k) => p.startsWith(`${k}/`))) t.items.delete(p);
}

/** The interpreters an executed file names: `#!` lines (a script's, and its interpreter's), PT_INTERP. */
async function interpreters(file: string): Promise<string[]> {
  const found: string[] = [];
  let at = file;
  for (let depth = 0; depth < 4; depth++) {
    const head = readHead(at);
    if (head.shebang !== null) {
      found.push(head.shebang);
      at = head.shebang;
      continue;
    }
    if (head.elf) {
      const r = await readElfFile(at);
      if (r.ok && r.elf.interpreter) found.push(r.elf.interpreter);
    }
    break;
  }
  return found;
}

async function isSharedObject(p: string): Promise<boolean> {
  const r = await readElfFile(p); // not ELF: not ok
  return r.ok && r.elf.header.type === ET_DYN;
}

// ---------------------------------------------------------------------------------------------
// The text.

/** A path as a `files`/`dirs` entry: glob characters escaped (copy_bom expands `*?[`). */
const sourceText = (p: string) => yamlText(p.replace(/[\\*?[]/g, (c) => `\\${c}`));
/** Plain when YAML reads it back as the same string (not `1.0`, `true`, `null`), else double-quoted (JSON's escapes are YAML's). */
const yamlText = (s: string) => (/^[\w./+-][\w./+@,=-]*$/.test(s) && parseYaml(s) === s ? s : JSON.stringify(s));
const howText = (h: Set<How>) => `# ${HOWS.filter((x) => h.has(x)).join(', ')}`;

const HEADER = [
  '# Written by occlum-bom trace: what the commands below used, as strace saw them. Each entry says',
  '# how: exec (executed), interp (a #! interpreter or an ELF loader), open (read), dlopen (a shared',
  '# object the dynamic loader mapped), stat (looked at), dir (listed or used), link (a symlink on the',
  '# way to any of them), keep (copied whole: --keep). autodep stays on: copy_bom adds the libraries',
  '# of every ELF file too, loaded in these runs or not.',
  `# Left out: ${LEFT_OUT.join(', ')} (the enclave has its own), and what the commands wrote (outputs).`,
];

/** The BOM text of a trace. */
export function toText(t: Traced): string {
  const out = [...HEADER];
  for (const c of t.commands) out.push(`# command: ${JSON.stringify(c)}`);
  for (const p of [...t.outputs].sort(byBytes)) out.push(`# output: ${JSON.stringify(p)}`);
  for (const p of [...t.leftOut].sort(byBytes)) out.push(`# left out: ${JSON.stringify(p)}`);
  if (t.devices.size) out.push('# Used under /dev (Occlum provides its own /dev; to run the image in a chroot, bind these from the host):');
  for (const p of [...t.devices].sort(byBytes)) out.push(`# device: ${JSON.stringify(p)}`);
  if (t.includes.length) out.push('includes:', ...t.includes.map((i) => `  - ${yamlText(i)}`));
  // One target a directory: the directory's own entry, the links, files and kept directories in it.
  const groups = new Map<string, { self?: Item; links: [string, Item][]; files: [string, Item][]; keeps: [string, Item][] }>();
  const group = (d: string) => {
    let g = groups.get(d);
    if (!g) groups.set(d, (g = { links: [], files: [], keeps: [] }));
    return g;
  };
  for (const [p, it] of t.items) {
    if (it.kind === 'dir') group(p).self = it;
    else {
      const g = group(path.posix.dirname(p));
      (it.kind === 'link' ? g.links : it.kind === 'file' ? g.files : g.keeps).push([p, it]);
    }
  }
  out.push('targets:');
  for (const d of [...groups.keys()].sort(byBytes)) {
    const g = groups.get(d)!;
    out.push(`  - target: ${yamlText(d)}${g.self ? `  ${howText(g.self.how)}` : ''}`);
    if (g.links.length) {
      out.push('    createlinks:');
      for (const [p, it] of g.links.sort(first)) out.push(`      - src: ${yamlText(it.target!)}  ${howText(it.how)}`, `        linkname: ${yamlText(path.posix.basename(p))}`);
    }
    if (g.files.length || g.keeps.length) out.push('    copy:');
    if (g.files.length) out.push('      - files:', ...g.files.sort(first).map(([p, it]) => `          - ${sourceText(p)}  ${howText(it.how)}`));
    if (g.keeps.length) out.push('      - dirs:', ...g.keeps.sort(first).map(([p, it]) => `          - ${sourceText(p)}  ${howText(it.how)}`));
  }
  return `${out.join('\n')}\n`;
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const first = (a: [string, Item], b: [string, Item]) => byBytes(a[0], b[0]);

/**
 * A trace written earlier (for --merge), read back: its commands, outputs, includes and
 * entries. Null (with the reason) when the text is not one `toText` wrote.
 */
export function fromText(text: string): Traced | string {
  const t = emptyTrace();
  for (const line of text.split('\n')) {
    const m = /^# (command|output|left out|device): (.*)$/.exec(line);
    if (!m) continue;
    try {
      const v = JSON.parse(m[2]!) as unknown;
      if (m[1] === 'command' && Array.isArray(v) && v.every((a) => typeof a === 'string')) t.commands.push(v);
      else if (m[1] === 'output' && typeof v === 'string') t.outputs.add(v);
      else if (m[1] === 'left out' && typeof v === 'string') t.leftOut.add(v);
      else if (m[1] === 'device' && typeof v === 'string') t.devices.add(v);
    } catch {
      return `a header line is damaged: ${line}`;
    }
  }
  const doc = parseDocument(text);
  if (doc.errors.length) return doc.errors[0]!.message.split('\n')[0]!;
  const how = (comment: string | null | undefined, fallback: How): Set<How> => {
    const named = (comment ?? '').split(',').map((w) => w.trim()).filter((w): w is How => (HOWS as readonly string[]).includes(w));
    return new Set(named.length ? named : [fallback]);
  };
  const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
  const includes = doc.get('includes');
  if (isSeq(includes)) for (const i of includes.items) if (isScalar(i)) t.includes.push(String(i.value));
  const targets = doc.get('targets');
  if (!isSeq(targets)) return 'it has no targets list';
  for (const target of targets.items) {
    if (!isMap(target)) return 'a target is not a map';
    const dir = target.get('target', true);
    if (!isScalar(dir) || typeof dir.value !== 'string') return 'a target has no path';
    const d = dir.value;
    if (dir.comment) t.items.set(d, { kind: 'dir', how: how(dir.comment, 'dir') });
    const links = target.get('createlinks');
    if (isSeq(links)) {
      for (const l of links.items) {
        if (!isMap(l)) continue;
        const src = l.get('src', true);
        const name = l.get('linkname');
        if (!isScalar(src) || typeof name !== 'string') continue;
        t.items.set(path.posix.join(d, name), { kind: 'link', how: how(src.comment, 'link'), target: String(src.value) });
      }
    }
    const copy = target.get('copy');
    if (!isSeq(copy)) continue;
    for (const source of copy.items) {
      if (!isMap(source)) continue;
      for (const [key, kind] of [['files', 'file'], ['dirs', 'keep']] as const) {
        const list = source.get(key);
        if (!isSeq(list)) continue;
        for (const f of list.items) {
          if (!isScalar(f) || typeof f.value !== 'string') continue;
          t.items.set(unescape(f.value), { kind, how: how(f.comment, kind === 'file' ? 'open' : 'keep') });
        }
      }
    }
  }
  return t;
}

/** `b` added to `a`: commands appended (a command already there is not repeated), every set a union. */
export function union(a: Traced, b: Traced): Traced {
  const t = emptyTrace();
  const seen = new Set<string>();
  for (const c of [...a.commands, ...b.commands]) {
    const key = JSON.stringify(c);
    if (seen.has(key)) continue;
    seen.add(key);
    t.commands.push(c);
  }
  t.includes = [...new Set([...a.includes, ...b.includes])];
  for (const s of [a, b]) {
    for (const [p, it] of s.items) merge(t.items, p, it);
    for (const o of s.outputs) t.outputs.add(o);
    for (const o of s.leftOut) t.leftOut.add(o);
    for (const d of s.devices) t.devices.add(d);
  }
  // What one run wrote and another read is an input of the image.
  for (const p of t.items.keys()) t.outputs.delete(p);
  dropUnderKept(t);
  return t;
}
