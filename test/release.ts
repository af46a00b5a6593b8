// The release artifacts, for the tests of what users get (executable.test.ts, deb.test.ts): the
// single executable is built once per machine and per content of what goes into it, and kept
// in $TMPDIR; the bullseye root it runs in is made once (packaging/roots.ts).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { floorAddon } from '../packaging/addon.ts';
import { buildExecutable } from '../packaging/executable.ts';
import { EXE, PACKAGE, VERSION } from '../packaging/layout.ts';
import { cannotMakeRoots, debianRoot, GLIBC_FLOOR, madeOnce } from '../packaging/roots.ts';
import { hasCommand, inImage, repo, tmp } from './helpers.ts';

export { VERSION };
/** Where Occlum keeps its copy_bom, what the packages put there, and what stands in for Occlum's in the tests. */
export const OCCLUM_BIN = '/opt/occlum/build/bin';
export const OURS = `/usr/lib/${PACKAGE}/${EXE}`;
export const STAND_IN = '#!/bin/sh\necho "Occlum\'s copy_bom (a stand-in)" "$@"\n';

/** Why the artifacts cannot be made and run here, or false. */
export function cannotRelease(): string | false {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the executable is built for linux-x64';
  for (const cmd of ['strip', 'objdump', 'dpkg-deb', 'help2man', 'rpmbuild', 'unshare', 'mount']) if (!hasCommand(cmd)) return `${cmd} is not installed`;
  return cannotMakeRoots();
}

/** What the executable is made of: the sources, templates, addon, packaging and the Node running this. */
function inputsKey(): string {
  const h = createHash('sha256').update(process.version);
  const files = ['src', 'templates', 'native', 'packaging'].flatMap((d) =>
    readdirSync(path.join(repo, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(repo, path.join(e.parentPath, e.name))),
  );
  for (const f of ['package.json', 'package-lock.json', ...files.sort()]) h.update(`${f}\0`).update(readFileSync(path.join(repo, f)));
  return h.digest('hex').slice(0, 16);
}

/** The executable of this checkout (and its .NOTICES and the addon it carries beside it). */
export async function executable(): Promise<string> {
  const dir = await madeOnce(path.join(os.tmpdir(), `occlum-bom-exe-${inputsKey()}`), async (into) => {
    mkdirSync(into);
    await floorAddon(path.join(into, 'addon.node'));
    await buildExecutable(path.join(into, 'occlum-bom-linux-x64'), path.join(into, 'addon.node'));
  });
  return path.join(dir, 'occlum-bom-linux-x64');
}

/** A copy of the bullseye root Occlum-like hosts are modelled on: minbase and libstdc++6 (which Ubuntu always has), no Node. */
export async function bullseyeRoot(): Promise<string> {
  const made = await debianRoot('run', ['libstdc++6']);
  const copy = path.join(tmp('occlum-bom-bullseye-'), 'root');
  execFileSync('cp', ['-a', made, copy]);
  return copy;
}

/** ARGV run in `root` as in an image (inImage: chroot, /proc mounted, as an Occlum host has it), HOME=/root. */
export function inRoot(root: string, argv: readonly string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const [cmd, args] = inImage(root, argv);
  const r = spawnSync(cmd, args, {
    env: { PATH: '/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', HOME: '/root', ...env },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** That `file` needs no glibc newer than the floor (GLIBC_FLOOR: bullseye's, Ubuntu 20.04's). */
export function assertGlibcFloor(file: string): void {
  const [major, minor] = newestGlibc(file);
  const [floorMajor, floorMinor] = GLIBC_FLOOR.split('.').map(Number);
  assert.ok(major! < floorMajor! || (major === floorMajor && minor! <= floorMinor!), `${file} needs GLIBC_${major}.${minor}, at most ${GLIBC_FLOOR}`);
}

/** The newest GLIBC_ symbol version an ELF file needs, as [major, minor]. */
export function newestGlibc(file: string): number[] {
  const versions = [...execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  return versions.reduce((a, b) => (b[0]! > a[0]! || (b[0] === a[0] && b[1]! > a[1]!) ? b : a), [0, 0]);
}
