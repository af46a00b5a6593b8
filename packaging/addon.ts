// The addon every shipped build carries (the executable, the .deb, the npm package's
// prebuilds): native/fs.c compiled in a bullseye root, so that it needs no glibc newer than
// 2.31 (a build on this host would need the host's). It is N-API: one build serves every Node
// from 20 on. The headers are those of the Node running this (uv.h and OpenSSL's come with
// Node's, whose own copies the addon calls), copied into the root.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianRoot } from './roots.ts';

export const repo = fileURLToPath(new URL('..', import.meta.url));

/** node-gyp's flags for this addon (binding.gyp), stripped of what would make two builds differ. */
const CFLAGS = ['-shared', '-fPIC', '-pthread', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-m64', '-D_FILE_OFFSET_BITS=64', '-D_LARGEFILE_SOURCE', '-DBUILDING_NODE_EXTENSION', '-DOPENSSL_THREADS'];

/** Build the addon into `out` (a file). */
export async function floorAddon(out: string): Promise<void> {
  const headers = path.resolve(process.execPath, '../../include/node');
  if (!existsSync(path.join(headers, 'node_api.h'))) throw new Error(`Node's headers are not in ${headers}`);
  const root = await debianRoot('build', ['gcc', 'libc6-dev']);
  const work = `/build-${process.pid}`; // in the root; one per process
  rmSync(path.join(root, work), { recursive: true, force: true });
  try {
    mkdirSync(path.join(root, work, 'include'), { recursive: true });
    cpSync(headers, path.join(root, work, 'include/node'), { recursive: true });
    copyFileSync(path.join(repo, 'native/fs.c'), path.join(root, work, 'fs.c'));
    const script = `cd ${work} && gcc ${CFLAGS.join(' ')} -I include/node -o fs.node fs.c && strip --strip-unneeded fs.node`;
    const r = spawnSync('chroot', [root, 'sh', '-c', script], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
    if (r.status !== 0) throw new Error(`the addon did not build in the ${path.basename(root)} root: ${r.error?.message ?? r.stderr.trim()}`);
    mkdirSync(path.dirname(out), { recursive: true });
    copyFileSync(path.join(root, work, 'fs.node'), out);
  } finally {
    rmSync(path.join(root, work), { recursive: true, force: true });
  }
}
