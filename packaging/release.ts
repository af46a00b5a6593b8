// `npm run release`: into release/, from this checkout, the single executable (with its
// .NOTICES), the Debian and RPM packages and the npm tarball; every shipped addon built for the glibc
// floor (addon.ts). `node --import tsx packaging/release.ts prebuild` (npm's prepack) makes only
// the npm package's prebuilt addon. Needs root and the Debian archive (roots.ts).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { floorAddon, repo } from './addon.ts';
import { buildDeb } from './deb.ts';
import { buildExecutable } from './executable.ts';
import { buildRpm } from './rpm.ts';

/** The addon built once per release, at build/floor/ (git ignores build/). */
const addon = path.join(repo, 'build/floor/occlum-bom.node');
const prebuilt = path.join(repo, 'prebuilds/linux-x64/occlum-bom.node');

/** The time of the commit, the release's SOURCE_DATE_EPOCH (or the one given). */
function epoch(): number {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error('not a git checkout: give SOURCE_DATE_EPOCH');
  return Number(r.stdout.trim());
}

async function prebuild(): Promise<void> {
  await floorAddon(addon);
  mkdirSync(path.dirname(prebuilt), { recursive: true });
  copyFileSync(addon, prebuilt);
}

async function release(): Promise<void> {
  const out = path.join(repo, 'release');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  await prebuild();
  const exe = path.join(out, 'occlum-bom-linux-x64');
  // --no-code-cache: a start about 60 ms slower, and the same commit gives the same bytes (see executable.ts).
  await buildExecutable(exe, addon, { codeCache: !process.argv.includes('--no-code-cache') });
  buildDeb(exe, out, epoch());
  buildRpm(exe, out, epoch());
  const r = spawnSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('npm pack failed');
  for (const f of readdirSync(out)) console.log(`${String(statSync(path.join(out, f)).size).padStart(10)}  release/${f}`);
}

if (process.argv[2] === 'prebuild') await prebuild();
else if (process.argv.slice(2).some((a) => a !== '--no-code-cache')) throw new Error(`usage: release.ts [prebuild | --no-code-cache]`);
else await release();
