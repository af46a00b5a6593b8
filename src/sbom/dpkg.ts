// Which Debian package owns a host file, from dpkg's own database, read once: what `dpkg -S`
// answers, without a process per file. `info/<package>[:<arch>].list` lists every path a
// package installed, `status` gives each package's version, architecture and section.
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { describeFsError, Exit, UserError } from '../errors.js';
import { SourceRoot } from '../fsops/root.js';

export interface DebPackage {
  name: string;
  /** dpkg's architecture: amd64, arm64, all, ... */
  arch: string;
  version: string;
  /** The Section field without its archive area (`libs`, not `non-free/libs`); null when absent. */
  section: string | null;
}

export interface DpkgOptions {
  /** dpkg's database (dpkg --admindir); default /var/lib/dpkg. */
  admindir?: string;
  /**
   * Top-level directories that are links into /usr on the host (Debian's merged /usr: /lib ->
   * usr/lib, ...). Default: those that are such links here.
   */
  mergedUsr?: readonly string[];
  /**
   * The root the image's files were read from (--source-root): files below it are looked up
   * by their paths inside it, in its own database (`admindir` inside it) and merged /usr.
   */
  root?: SourceRoot;
}

/** The directories merged /usr turns into links (usrmerge, debootstrap --merged-usr). */
const MERGEABLE = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'libo32'];

/** Which of /bin, /lib, ... are links to usr/bin, usr/lib, ... on this host, or inside `root`. */
export function hostMergedUsr(root = new SourceRoot()): string[] {
  return MERGEABLE.filter((d) => {
    try {
      return root.walk(`/${d}`, false).type === 'link' && path.posix.normalize(path.posix.resolve('/', root.readlink(`/${d}`))) === `/usr/${d}`;
    } catch {
      return false;
    }
  });
}

/**
 * The names dpkg may list one file under. On a merged-/usr system /lib/x86_64-linux-gnu/libc.so.6
 * and /usr/lib/x86_64-linux-gnu/libc.so.6 are the same file, and a package lists it under
 * whichever path its .deb has (libc6 says /lib/..., libssl3 says /usr/lib/...).
 */
export function aliases(file: string, merged: readonly string[]): string[] {
  const out = [file];
  const m = /^\/(usr\/)?([^/]+)(\/.*)$/.exec(file);
  if (m && merged.includes(m[2]!)) out.push(m[1] ? `/${m[2]}${m[3]}` : `/usr/${m[2]}${m[3]}`);
  return out;
}

/** The owners of each file (absolute host paths); a file no package lists gets none. */
export function findOwners(files: Iterable<string>, options: DpkgOptions = {}): Map<string, DebPackage[]> {
  const root = options.root && !options.root.isHost ? options.root : undefined;
  const admindir = readDb(() => (root ? root.real(options.admindir ?? '/var/lib/dpkg') : (options.admindir ?? '/var/lib/dpkg')), options.admindir ?? '/var/lib/dpkg');
  const merged = options.mergedUsr ?? hostMergedUsr(root);
  // Each file is looked up by the path it resolves to: the package that installed the bytes
  // the image holds (/usr/bin/python3 is python3-minimal's link to python3.11-minimal's file;
  // /etc/alternatives/java belongs to no package, the JDK's bin/java does). Failing that, by
  // its path as copied (a file gone from the host, or a link whose target no package lists).
  const byPath = new Map<string, string[][]>();
  const wanted = new Set<string>();
  for (const file of files) {
    const copied = path.posix.normalize(root?.inside(file) ?? file);
    let real: string | null = null;
    try {
      real = root ? root.inside(root.reading(file, true)) : realpathSync(file);
    } catch {
      // Gone from the host since the image was built: only its recorded path can be looked up.
    }
    const tries = [...(real !== null && real !== copied ? [aliases(real, merged)] : []), aliases(copied, merged)];
    byPath.set(file, tries);
    for (const p of tries.flat()) wanted.add(p);
  }

  const owners = new Map<string, string[]>();
  const info = path.join(admindir, 'info');
  for (const name of readDb(() => readdirSync(info), info)) {
    if (!name.endsWith('.list')) continue;
    const pkg = name.slice(0, -'.list'.length);
    const list = path.join(info, name);
    for (const line of readDb(() => readFileSync(list, 'utf8'), list).split('\n')) {
      if (!wanted.has(line)) continue;
      const list = owners.get(line);
      if (list) list.push(pkg);
      else owners.set(line, [pkg]);
    }
  }

  const status = readStatus(path.join(admindir, 'status'));
  const lookup = (paths: readonly string[]): DebPackage[] => {
    const found = new Map<string, DebPackage>();
    for (const p of paths) {
      for (const listName of owners.get(p) ?? []) {
        const pkg = status.get(listName);
        if (pkg) found.set(`${pkg.name}:${pkg.arch}`, pkg);
      }
    }
    return [...found.values()].sort((a, b) => cmp(`${a.name}:${a.arch}`, `${b.name}:${b.arch}`));
  };
  const out = new Map<string, DebPackage[]>();
  for (const [file, tries] of byPath) out.set(file, tries.map(lookup).find((found) => found.length > 0) ?? []);
  return out;
}

/**
 * dpkg's status file, keyed by the names a package's .list file can have: `name:arch` (dpkg's
 * name for a Multi-Arch: same package, several architectures of which can be installed side by
 * side) and the bare name (any other package).
 */
export function readStatus(file: string): Map<string, DebPackage> {
  const out = new Map<string, DebPackage>();
  for (const stanza of readDb(() => readFileSync(file, 'utf8'), file).split(/\n\s*\n/)) {
    const fields = parseStanza(stanza);
    const name = fields.get('package');
    const arch = fields.get('architecture');
    const version = fields.get('version');
    const state = fields.get('status')?.split(/\s+/)[2];
    // not-installed and config-files packages have no files on the host.
    if (!name || !arch || !version || state === undefined || state === 'not-installed' || state === 'config-files') continue;
    const section = fields.get('section')?.replace(/^.*\//, '') ?? null;
    const pkg: DebPackage = { name, arch, version, section };
    out.set(`${name}:${arch}`, pkg);
    if (fields.get('multi-arch') !== 'same' || !out.has(name)) out.set(name, pkg);
  }
  return out;
}

/** One deb822 paragraph: field names lower-cased, continuation lines dropped (none of the fields used here has them). */
function parseStanza(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([^\s:][^:]*):\s*(.*)$/.exec(line);
    if (m) out.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return out;
}

/** The distribution, for package URLs: os-release's ID and VERSION_ID. */
export interface Distro {
  /** deb purl namespace: debian, ubuntu, ... */
  vendor: string;
  /** purl `distro` qualifier, e.g. debian-12; null when the version is unknown. */
  release: string | null;
}

export function hostDistro(osRelease = '/etc/os-release', root?: SourceRoot): Distro {
  let text = '';
  try {
    text = readFileSync(root ? root.real(osRelease) : osRelease, 'utf8');
  } catch {
    return { vendor: 'debian', release: null };
  }
  const field = (key: string) => new RegExp(`^${key}=(?:"([^"]*)"|'([^']*)'|(.*))$`, 'm').exec(text)?.slice(1).find((v) => v !== undefined)?.trim();
  const vendor = (field('ID') || 'debian').toLowerCase();
  const version = field('VERSION_ID');
  return { vendor, release: version ? `${vendor}-${version}` : null };
}

function readDb<T>(read: () => T, what: string): T {
  try {
    return read();
  } catch (e) {
    throw new UserError(`cannot read dpkg's database: ${what}: ${describeFsError(e)}`, Exit.fileNotFound);
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
