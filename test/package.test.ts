// The npm package (issue 17, point 3): `npm pack` holds what runs and what a user reads, with
// the addon prebuilt for linux-x64 in a bullseye root (glibc 2.31, packaging/addon.ts); installed from the tarball into a prefix, on a
// PATH with no C compiler (only node, npm and sh), its copy_bom builds the demo image with that
// prebuilt addon loaded: node-gyp-build names the file it loads in the debug log.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hasCommand, repo, tmp } from './helpers.ts';
import { assertGlibcFloor, cannotRelease } from './release.ts';

const skip =
  (!hasCommand('git') && 'git is not installed') ||
  (!existsSync(path.join(repo, '.git')) && 'not a git checkout') ||
  (!hasCommand('npm') && 'npm is not on the PATH') ||
  cannotRelease(); // prepack builds the addon in a bullseye root

/**
 * This environment without what `npm test` adds (npm_config_*, npm_lifecycle_*, INIT_CWD), so
 * that the npm run here is a user's; the rest stays (certificates the registry is reached with).
 */
const npmFree = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$)/i.test(k)));

describe('the npm package', { skip, timeout: 300_000 }, () => {
  it('packs the prebuilt addon and no sources of the build; installed on a PATH without a C compiler, copy_bom builds the demo image with the prebuilt addon', () => {
    const work = tmp('occlum-bom-pack-');
    // A copy of the checkout, with its node_modules linked: `npm pack` runs prepack (prebuildify,
    // which rebuilds build/) and prepare (the build) there, not in the tree the other tests use.
    const copy = path.join(work, 'repo');
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of tracked) {
      if (!existsSync(path.join(repo, f))) continue; // removed in the work tree, not yet committed
      mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
      copyFileSync(path.join(repo, f), path.join(copy, f));
    }
    symlinkSync(path.join(repo, 'node_modules'), path.join(copy, 'node_modules'));
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: copy, env: npmFree, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').at(-1)!;
    const tarball = path.join(work, packed);

    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const f of ['prebuilds/linux-x64/occlum-bom.node', 'dist/cli/copy_bom.js', 'dist/vendor.js', 'bin/copy_bom.js', 'templates/base.yaml', 'schema/bom.schema.json', 'README.md', 'SECURITY.md', 'package.json', 'native/fs.c', 'binding.gyp']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    for (const f of files) assert.doesNotMatch(f, /^(src|test|bench|build|node_modules|\.ci)\//, `${f} does not belong in the package`);

    // node, npm and sh alone on the PATH: no cc, gcc, make or python to compile with.
    const bin = path.join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync(realpathSync('/bin/sh'), path.join(bin, 'sh')); // npm runs scripts with it
    symlinkSync(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), path.join(bin, 'npm'));
    const env = { ...npmFree, PATH: bin };
    assert.notEqual(spawnSync('/bin/sh', ['-c', 'command -v cc || command -v gcc || command -v make'], { env }).status, 0, 'no compiler on the PATH');
    const prefix = path.join(work, 'prefix');
    const install = spawnSync(path.join(bin, 'npm'), ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { env, encoding: 'utf8', cwd: work, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    assert.equal(install.status, 0, install.stderr);

    const instance = path.join(work, 'instance');
    mkdirSync(instance);
    const r = spawnSync(path.join(prefix, 'bin/copy_bom'), ['-f', path.join(repo, 'examples/demo.yaml'), '--root', 'image'], { cwd: instance, env: { ...env, OCCLUM_LOG_LEVEL: 'debug' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const addon = path.join(prefix, 'lib/node_modules/occlum-bom/prebuilds/linux-x64/occlum-bom.node');
    assert.ok(r.stderr.includes(`native addon: ${addon}\n`), `the prebuilt addon is loaded:\n${r.stderr.split('\n').filter((l) => l.includes('addon')).join('\n')}`);
    assertGlibcFloor(addon);
    assert.ok(existsSync(path.join(instance, 'image/bin/ls')));
    assert.ok(existsSync(path.join(instance, 'image/lib64/ld-linux-x86-64.so.2')) || existsSync(path.join(instance, 'image/lib/ld-musl-x86_64.so.1')), 'the loader');
  });
});
