// The single executable as users get it (issue 28): copied into a Debian bullseye root (glibc
// 2.31, as Ubuntu 20.04) that has no Node, it runs under chroot as each of its names, builds an
// image that runs, and loads the addon it carries, built for that glibc, from a checked file; the
// suite's copy_bom tests pass against it. And the fallback when an addon cannot be loaded.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildExecutable } from '../packaging/executable.ts';
import { GLIBC_FLOOR } from '../packaging/roots.ts';
import { assertGlibcFloor, bullseyeRoot, cannotRelease, executable, inRoot, VERSION } from './release.ts';
import { inImage, repo, tmp, yaml } from './helpers.ts';

const NAMES = ['copy_bom', 'generate_bom', 'occlum-bom'];

describe('the single executable', { skip: cannotRelease(), timeout: 900_000 }, () => {
  let exe = '';
  let root = '';
  const ADDON = /native addon: (\/root\/\.cache\/occlum-bom\/embedded\/([0-9a-f]{64})\.node)\n/;
  before(async () => {
    exe = await executable();
    root = await bullseyeRoot();
    copyFileSync(exe, path.join(root, 'usr/local/bin/occlum-bom-linux-x64'));
    chmodSync(path.join(root, 'usr/local/bin/occlum-bom-linux-x64'), 0o755);
    for (const name of NAMES) symlinkSync('occlum-bom-linux-x64', path.join(root, 'usr/local/bin', name));
    mkdirSync(path.join(root, 'work'));
    writeFileSync(path.join(root, 'work/demo.yaml'), yaml('includes: [base.yaml]\ntargets:\n  - target: /bin\n    copy:\n      - files: [/bin/ls]\n'));
  });

  it('runs in a bullseye root without Node as each of its names, builds an image there, and the image runs', () => {
    assert.notEqual(inRoot(root, ['sh', '-c', 'command -v node || ls /usr/bin/node*']).code, 0, 'no Node in the root');
    assert.match(readFileSync(path.join(root, 'etc/debian_version'), 'utf8'), /^11\./);
    for (const argv of [...NAMES.map((n) => [n, '--version']), ['occlum-bom-linux-x64', 'copy_bom', '--version'], ['occlum-bom-linux-x64', '--version']]) {
      const r = inRoot(root, argv);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${VERSION}\n`, ''], argv.join(' '));
    }
    const deps = inRoot(root, ['occlum-bom', 'deps', '/bin/ls']);
    assert.equal(deps.code, 0, deps.stderr);
    assert.match(deps.stdout, /\tlibc\.so\.6 => \/lib\/x86_64-linux-gnu\/libc\.so\.6\n/);
    const gen = inRoot(root, ['generate_bom', '-e', '/bin/ls', '-o', '/work/ls.yaml']);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(readFileSync(path.join(root, 'work/ls.yaml'), 'utf8'), /\/bin\/ls/);

    const build = inRoot(root, ['sh', '-c', 'cd /work && copy_bom -f demo.yaml --root image'], { OCCLUM_LOG_LEVEL: 'debug' });
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr, ADDON, 'the embedded addon is loaded');
    assert.doesNotMatch(build.stderr, /not loaded|go through Node/);
    const [cmd, args] = inImage(path.join(root, 'work/image'), ['/bin/ls', '/']);
    const ls = spawnSync(cmd, args, { encoding: 'utf8' });
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /^bin$/m);
  });

  it(`carries the addon built for glibc ${GLIBC_FLOOR}, loaded from a checked file: one tampered with is refused and written again`, () => {
    const first = inRoot(root, ['sh', '-c', 'cd /work && copy_bom -f demo.yaml --root image2'], { OCCLUM_LOG_LEVEL: 'debug' });
    assert.equal(first.code, 0, first.stderr);
    const [, inside, sha] = ADDON.exec(first.stderr)!;
    const file = path.join(root, inside!);
    const bytes = readFileSync(file);
    assert.equal(execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0], sha, 'named by its SHA-256');
    assert.equal(statSync(file).mode & 0o777, 0o400);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assertGlibcFloor(file);

    const tamper: [string, () => void][] = [
      ['other bytes', () => writeFileSync(file, Buffer.concat([bytes, Buffer.from([0])]))],
      ['writable by others', () => chmodSync(file, 0o666)],
    ];
    for (const [why, act] of tamper) {
      act();
      const r = inRoot(root, ['sh', '-c', 'cd /work && copy_bom -f demo.yaml --root image3'], { OCCLUM_LOG_LEVEL: 'debug' });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stderr.includes(`refused ${inside} (${why}): written again\n`), `${why}:\n${r.stderr}`);
      assert.ok(r.stderr.includes(`native addon: ${inside}\n`));
      assert.ok(readFileSync(file).equals(bytes));
      assert.equal(statSync(file).mode & 0o777, 0o400);
    }
  });

  it('passes the copy_bom command-line tests (test/copy_bom.test.ts run against it)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'test/copy_bom.test.ts'], {
      cwd: repo,
      // Not NODE_TEST_CONTEXT: the run reports as a run of its own, not as this one's child.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), OCCLUM_BOM_TEST_EXE: exe },
      encoding: 'utf8',
    });
    const [, pass] = /^# pass (\d+)$/m.exec(r.stdout) ?? [];
    assert.equal(r.status, 0, r.stdout.split('\n').filter((l) => /^not ok|error:/.test(l.trim())).join('\n'));
    assert.ok(Number(pass) >= 40, `${pass} tests passed`);
    assert.match(r.stdout, /^# fail 0$/m);
  });

  it('is the same bytes when built twice from the same checkout without the code cache (deb.test and rpm.test check the packages)', async () => {
    const dirs = [tmp(), tmp()];
    const addon = path.join(path.dirname(exe), 'addon.node');
    for (const d of dirs) await buildExecutable(path.join(d, 'occlum-bom-linux-x64'), addon, { codeCache: false });
    for (const f of ['occlum-bom-linux-x64', 'occlum-bom-linux-x64.NOTICES']) {
      assert.ok(readFileSync(path.join(dirs[0]!, f)).equals(readFileSync(path.join(dirs[1]!, f))), `${f}: the same bytes`);
    }
  });

  it('by its own name, takes the command as its first argument; a wrong one is a one-line usage error', () => {
    const r = spawnSync(exe, ['cp_bom'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^occlum-bom-linux-x64: no command "cp_bom"; usage: occlum-bom-linux-x64 COMMAND \[ARGUMENTS\.\.\.\], COMMAND one of: copy_bom, generate_bom, occlum-bom [^\n]*\n$/);
    const help = spawnSync(exe, ['occlum-bom', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: occlum-bom \[options\] \[command\]/);
  });
});

describe('an addon that cannot be loaded', () => {
  it('is named with the reason in a warning, and the run goes on through Node', () => {
    // A copy of the package run by Node whose local build (build/Release/fs.node) is not an ELF file.
    const pkg = tmp('occlum-bom-badaddon-');
    for (const d of ['bin', 'dist', 'templates']) cpSync(path.join(repo, d), path.join(pkg, d), { recursive: true });
    copyFileSync(path.join(repo, 'package.json'), path.join(pkg, 'package.json'));
    symlinkSync(path.join(repo, 'node_modules'), path.join(pkg, 'node_modules'));
    mkdirSync(path.join(pkg, 'build/Release'), { recursive: true });
    writeFileSync(path.join(pkg, 'build/Release/fs.node'), 'not an ELF file\n');
    const dir = tmp();
    writeFileSync(path.join(dir, 'bom.yaml'), yaml('targets:\n  - target: /bin\n    copy:\n      - files: [/bin/ls]\n'));
    const r = spawnSync(process.execPath, [path.join(pkg, 'bin/copy_bom.js'), '-f', 'bom.yaml', '--root', 'image'], { cwd: dir, encoding: 'utf8', env: { ...process.env, OCCLUM_LOG_LEVEL: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^\\[WARN\\] native addon ${pkg}/build/Release/fs\\.node not loaded \\([^\\n]*(invalid ELF header|too short)[^\\n]*\\): copies go through Node, slower\\n`, 'm'));
    assert.ok(existsSync(path.join(dir, 'image/bin/ls')));
  });
});
