// Roots of Debian packages for the tests of --source-root and container images: the packages
// are downloaded once per machine (`apt-get download`) and unpacked with `dpkg-deb -x`; jq (with
// libjq and libonig, the latter moved to a directory only ld.so.conf names, so that only the
// root's ld.so.cache made by `ldconfig -r` finds it) and lua5.4, none of them needed on the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasCommand, tmp } from './helpers.ts';

/** The glibc root's packages; musl's makes a root of its own. */
export const PACKAGES = ['libc6', 'jq', 'libjq1', 'libonig5', 'lua5.4', 'libreadline8', 'libtinfo6'];
const ALL = [...PACKAGES, 'musl'];
export const LIBDIR = 'usr/lib/x86_64-linux-gnu';

/** Why roots of Debian packages cannot be made here, or false. */
export function skipDebianRoots(): string | false {
  const missing = ['apt-get', 'dpkg-deb', 'ldconfig'].find((c) => !hasCommand(c));
  return missing !== undefined && `${missing} is not installed`;
}

/** The packages, downloaded once per machine (apt-get keeps what it fetched in the current directory). */
export function debs(): string[] {
  const dir = path.join(os.tmpdir(), 'occlum-bom-debs');
  const have = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.deb')) : []);
  if (!ALL.every((p) => have().some((f) => f.startsWith(`${p}_`)))) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('apt-get', ['download', ...ALL], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `apt-get download ${ALL.join(' ')}: ${r.stderr}`);
  }
  return have().map((f) => path.join(dir, f));
}

/** The packages of `debs()` with these names. */
export function named(debs: string[], names: readonly string[]): string[] {
  return debs.filter((d) => names.some((n) => path.basename(d).startsWith(`${n}_`)));
}

/** A root of the packages; libonig only in /opt/onig/lib (named by ld.so.conf); with ROOT/etc/ld.so.cache or none. */
export function makeRoot(packages: string[], withCache: boolean): string {
  const root = tmp('occlum-bom-sroot-');
  for (const deb of packages) {
    const r = spawnSync('dpkg-deb', ['-x', deb, root], { encoding: 'utf8' });
    assert.equal(r.status, 0, `dpkg-deb -x ${deb}: ${r.stderr}`);
    register(root, deb);
  }
  // Its own distribution: not the host's.
  writeFileSync(path.join(root, 'etc/os-release'), 'ID=testroot\nVERSION_ID="7"\n');
  mkdirSync(path.join(root, 'opt/onig/lib'), { recursive: true });
  for (const f of readdirSync(path.join(root, LIBDIR)).filter((f) => f.startsWith('libonig.so'))) {
    renameSync(path.join(root, LIBDIR, f), path.join(root, 'opt/onig/lib', f));
  }
  mkdirSync(path.join(root, 'etc/ld.so.conf.d'), { recursive: true });
  writeFileSync(path.join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  writeFileSync(path.join(root, 'etc/ld.so.conf.d/onig.conf'), '/opt/onig/lib\n');
  // The root's own files where the host has some too, and links that name host paths.
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:the root of the source root:/root:/bin/sh\n');
  mkdirSync(path.join(root, 'data'));
  symlinkSync('/etc/passwd', path.join(root, 'data/pw'));
  symlinkSync('/usr/share/zoneinfo', path.join(root, 'data/zones'));
  symlinkSync('/lib/x86_64-linux-gnu', path.join(root, 'libs'));
  if (withCache) {
    const r = spawnSync('ldconfig', ['-r', root], { encoding: 'utf8' });
    assert.equal(r.status, 0, `ldconfig -r: ${r.stderr}`);
    assert.ok(existsSync(path.join(root, 'etc/ld.so.cache')));
  }
  return root;
}

/** What dpkg would record of an installed package: its stanza in var/lib/dpkg/status and the paths in info/<name>[:<arch>].list. */
function register(root: string, deb: string): void {
  const control = spawnSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).stdout.trimEnd();
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(control)?.[1];
  const names = spawnSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -t', 'sh', deb], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const db = path.join(root, 'var/lib/dpkg');
  mkdirSync(path.join(db, 'info'), { recursive: true });
  const list = field('Multi-Arch') === 'same' ? `${field('Package')}:${field('Architecture')}` : field('Package');
  writeFileSync(path.join(db, 'info', `${list}.list`), names.map((n) => (n === './' ? '/.' : n.slice(1).replace(/\/$/, ''))).join('\n') + '\n');
  writeFileSync(path.join(db, 'status'), `${control.replace(/^Package: .*$/m, (l) => `${l}\nStatus: install ok installed`)}\n\n`, { flag: 'a' });
}

/** The root's file at `p`: links resolved by the host's realpath, after an absolute first link re-rooted (the loader's /lib64 link). */
export function rootFile(root: string, p: string): Buffer {
  const at = path.join(root, p);
  const link = lstatSync(at).isSymbolicLink() ? readlinkSync(at) : null;
  return readFileSync(realpathSync(link?.startsWith('/') ? path.join(root, link) : at));
}
