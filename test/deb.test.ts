// The Debian package as users get it (issue 28), installed and removed by dpkg in copies of a
// bullseye root: it takes the place of Occlum's copy_bom through a diversion and gives it back
// byte for byte, with Occlum there before it, installed after it by dpkg (a trigger) or by hand
// (dpkg-reconfigure); lintian finds no error in it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildDeb, LIBC6_NEEDED } from '../packaging/deb.ts';
import { bullseyeRoot, cannotRelease, executable, inRoot, newestGlibc, OCCLUM_BIN, OURS, STAND_IN, VERSION } from './release.ts';
import { hasCommand, inImage, repo, tmp, yaml } from './helpers.ts';


function sh(root: string, script: string, env: Record<string, string> = {}): string {
  const r = inRoot(root, ['sh', '-c', script], env);
  assert.equal(r.code, 0, `${script}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const diversions = (root: string) => sh(root, 'dpkg-divert --list');

/** A package of Occlum's copy_bom as the stand-in script, for the roots where Occlum comes after us. */
function standInDeb(dir: string): string {
  const stage = path.join(dir, 'occlum-standin');
  mkdirSync(path.join(stage, 'DEBIAN'), { recursive: true });
  mkdirSync(path.join(stage, OCCLUM_BIN), { recursive: true });
  writeFileSync(path.join(stage, 'DEBIAN/control'), 'Package: occlum-standin\nVersion: 1.0\nArchitecture: all\nMaintainer: tests <tests@example.org>\nDescription: Occlum stand-in\n');
  writeFileSync(path.join(stage, OCCLUM_BIN, 'copy_bom'), STAND_IN, { mode: 0o755 });
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', stage, path.join(dir, 'occlum-standin.deb')]);
  return path.join(dir, 'occlum-standin.deb');
}

describe('the Debian package', { skip: cannotRelease() || (!hasCommand('lintian') && 'lintian is not installed'), timeout: 900_000 }, () => {
  let deb = '';
  let exe = '';
  before(async () => {
    exe = await executable();
    deb = buildDeb(exe, tmp('occlum-bom-deb-'), 1_800_000_000);
  });

  it('is the same bytes when made again of the same executable', () => {
    assert.ok(readFileSync(buildDeb(exe, tmp(), 1_800_000_000)).equals(readFileSync(deb)));
  });

  it('has no lintian error; the tags it overrides are there, each with its reason', () => {
    // Its exit status counts the overridden errors it shows (2): the findings are read instead.
    const r = spawnSync('lintian', ['--display-info', '--show-overrides', deb], { encoding: 'utf8' });
    assert.match(r.stdout, /^O: occlum-bom: /m);
    assert.doesNotMatch(r.stdout, /^E: /m, 'an error lintian finds and the package does not override');
    assert.doesNotMatch(r.stdout, /unused-override|mismatched-override|malformed-override/);
    const overrides = readFileSync(path.join(repo, 'packaging/debian/lintian-overrides'), 'utf8').split('\n');
    overrides.forEach((line, i) => {
      if (!line.startsWith('occlum-bom: ')) return;
      assert.match(r.stdout, new RegExp(`^O: ${line.replace(/[[\]./]/g, '\\$&')}$`, 'm'), `${line} is a finding lintian makes`);
      assert.ok(overrides.slice(0, i).some((l) => l.startsWith('# ')), `${line} has a reason above it`);
    });
  });

  it(`depends on a glibc as old as the executable needs (${LIBC6_NEEDED}) and lays out the three names and the documents`, () => {
    assert.equal(newestGlibc(exe).join('.'), LIBC6_NEEDED);
    const control = execFileSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' });
    assert.match(control, new RegExp(`^Depends: libc6 \\(>= ${LIBC6_NEEDED.replace('.', '\\.')}\\), `, 'm'));
    const names = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
    for (const name of ['copy_bom', 'generate_bom', 'occlum-bom']) {
      assert.match(names, new RegExp(`\\./usr/bin/${name} -> \\.\\./lib/occlum-bom/occlum-bom-linux-x64\\n`));
      assert.match(names, new RegExp(`\\./usr/share/man/man1/${name}\\.1\\.gz\\n`));
    }
    for (const doc of ['copyright', 'changelog.gz', 'THIRD-PARTY-NOTICES.gz', 'README.md', 'docs/install.md']) {
      assert.match(names, new RegExp(`\\./usr/share/doc/occlum-bom/${doc.replace(/\./g, '\\.')}(\\.gz)?\\n`), doc);
    }
    assert.match(names, /^drwxr-xr-x root\/root +0 [^\n]* \.\/\n/, 'the top directory as every other');
  });

  it("takes the place of Occlum's copy_bom (dpkg -i), keeps it through an upgrade, gives it back byte for byte (dpkg -r), and leaves nothing after dpkg -P", async () => {
    const root = await bullseyeRoot();
    mkdirSync(path.join(root, OCCLUM_BIN), { recursive: true });
    writeFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), STAND_IN, { mode: 0o755 });
    // Occlum's template directory, and an instance built as Occlum's scripts do.
    mkdirSync(path.join(root, 'opt/occlum/etc/template'), { recursive: true });
    copyFileSync(path.join(repo, 'templates/base.yaml'), path.join(root, 'opt/occlum/etc/template/base.yaml'));
    mkdirSync(path.join(root, 'work'));
    writeFileSync(path.join(root, 'work/app.yaml'), yaml('includes: [base.yaml]\ntargets:\n  - target: /bin\n    copy:\n      - files: [/bin/ls]\n'));
    copyFileSync(deb, path.join(root, 'tmp/occlum-bom.deb'));

    sh(root, 'dpkg -i /tmp/occlum-bom.deb');
    assert.match(diversions(root), /^diversion of \/opt\/occlum\/build\/bin\/copy_bom to \/opt\/occlum\/build\/bin\/copy_bom\.distrib by occlum-bom$/m);
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);
    assert.equal(sh(root, `${OCCLUM_BIN}/copy_bom --version`), `${VERSION}\n`);
    sh(root, `cd /work && PATH=${OCCLUM_BIN}:$PATH copy_bom -f app.yaml --root image --include-dir /opt/occlum/etc/template`);
    const [cmd, args] = inImage(path.join(root, 'work/image'), ['/bin/ls', '/']);
    assert.equal(spawnSync(cmd, args).status, 0, 'the image runs');
    for (const name of ['copy_bom', 'generate_bom', 'occlum-bom']) assert.equal(sh(root, `/usr/bin/${name} --version`), `${VERSION}\n`);

    // An upgrade keeps the diversion, the link and Occlum's file aside.
    copyFileSync(buildDeb(exe, tmp(), 1_800_000_000, `${VERSION}+1`), path.join(root, 'tmp/upgrade.deb'));
    sh(root, 'dpkg -i /tmp/upgrade.deb');
    assert.match(sh(root, "dpkg-query -W -f '${Version}' occlum-bom"), /\+1$/);
    assert.match(diversions(root), /copy_bom\.distrib by occlum-bom$/m);
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);

    sh(root, 'dpkg -r occlum-bom');
    const back = lstatSync(path.join(root, OCCLUM_BIN, 'copy_bom'));
    assert.ok(back.isFile());
    assert.equal(back.mode & 0o7777, 0o755);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    assert.ok(!existsSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib')));
    assert.doesNotMatch(diversions(root), /occlum-bom/);
    assert.match(sh(root, `${OCCLUM_BIN}/copy_bom --version`), /a stand-in/);

    sh(root, 'dpkg -i /tmp/occlum-bom.deb && dpkg -P occlum-bom');
    assert.doesNotMatch(diversions(root), /occlum-bom/);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    for (const p of ['usr/lib/occlum-bom', 'usr/bin/copy_bom', 'usr/bin/generate_bom', 'usr/bin/occlum-bom', 'usr/share/doc/occlum-bom', 'usr/share/lintian/overrides/occlum-bom']) {
      assert.ok(!existsSync(path.join(root, p)), `${p} is gone`);
    }
    assert.equal(sh(root, 'ls /var/lib/dpkg/info | grep -c occlum-bom || true'), '0\n');
  });

  it('installed before Occlum: by dpkg, Occlum goes beside ours (a trigger puts ours in place); by hand, dpkg-reconfigure does', async () => {
    const root = await bullseyeRoot();
    copyFileSync(deb, path.join(root, 'tmp/occlum-bom.deb'));
    copyFileSync(standInDeb(tmp()), path.join(root, 'tmp/occlum-standin.deb'));
    sh(root, 'dpkg -i /tmp/occlum-bom.deb');
    assert.ok(!existsSync(path.join(root, 'opt/occlum')), 'nothing made where Occlum is not');
    assert.match(diversions(root), /copy_bom\.distrib by occlum-bom/);

    sh(root, 'dpkg -i /tmp/occlum-standin.deb');
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);
    // dpkg wrote the package's file to the diverted name: it knows the file by its own name.
    assert.match(sh(root, `dpkg -S ${OCCLUM_BIN}/copy_bom`), /^occlum-standin: \/opt\/occlum\/build\/bin\/copy_bom$/m);
    sh(root, 'dpkg -r occlum-bom');
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    assert.equal(sh(root, `dpkg -S ${OCCLUM_BIN}/copy_bom`), `occlum-standin: ${OCCLUM_BIN}/copy_bom\n`);
    sh(root, 'dpkg -P occlum-standin');

    // Occlum put there by something other than dpkg (a Docker image's `make install`), after us.
    sh(root, 'dpkg -i /tmp/occlum-bom.deb');
    mkdirSync(path.join(root, OCCLUM_BIN), { recursive: true });
    writeFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), STAND_IN, { mode: 0o755 });
    sh(root, 'dpkg-reconfigure occlum-bom', { DEBIAN_FRONTEND: 'noninteractive' });
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);
    sh(root, 'dpkg -P occlum-bom');
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    assert.doesNotMatch(diversions(root), /occlum-bom/);
  });
});
