// The RPM package (issue 28), installed and erased by rpm (Debian's rpm 4.18, `--root`, which
// runs the scriptlets under chroot) in copies of the bullseye root: it takes the place of
// Occlum's copy_bom and gives it back byte for byte, also when Occlum's package comes after it
// (a trigger). Not tested here: an RPM distribution itself (dnf, its glibc and libstdc++
// packages for the Requires, SELinux).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildRpm, rpmbuild } from '../packaging/rpm.ts';
import { bullseyeRoot, cannotRelease, executable, inRoot, OCCLUM_BIN, OURS, STAND_IN, VERSION } from './release.ts';
import { tmp } from './helpers.ts';


function rpm(root: string, ...args: string[]): string {
  const r = spawnSync('rpm', ['--root', root, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `rpm ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Occlum's package as a stand-in: "occlum", with the stand-in copy_bom. */
function standInRpm(): string {
  const script = Buffer.from(STAND_IN).toString('base64');
  const spec = `Name: occlum\nVersion: 1.0\nRelease: 1\nSummary: Occlum (a stand-in)\nLicense: BSD-3-Clause\nAutoReqProv: no\n\n%description\nA stand-in.\n\n%install\nmkdir -p %{buildroot}${OCCLUM_BIN}\necho ${script} | base64 -d > %{buildroot}${OCCLUM_BIN}/copy_bom\nchmod 755 %{buildroot}${OCCLUM_BIN}/copy_bom\n\n%files\n${OCCLUM_BIN}/copy_bom\n`;
  return rpmbuild(spec, tmp(), 1_800_000_000);
}

describe('the RPM package', { skip: cannotRelease(), timeout: 900_000 }, () => {
  let pkg = '';
  let exe = '';
  before(async () => {
    exe = await executable();
    pkg = buildRpm(exe, tmp('occlum-bom-rpm-'), 1_800_000_000);
  });

  it('is the same bytes when made again of the same executable', () => {
    assert.ok(readFileSync(buildRpm(exe, tmp(), 1_800_000_000)).equals(readFileSync(pkg)));
  });

  it("takes the place of Occlum's copy_bom (rpm -i) and gives it back byte for byte (rpm -e)", async () => {
    const root = await bullseyeRoot();
    mkdirSync(path.join(root, OCCLUM_BIN), { recursive: true });
    writeFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), STAND_IN, { mode: 0o755 });
    rpm(root, '-i', '--nodeps', pkg);
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);
    for (const name of [`${OCCLUM_BIN}/copy_bom`, 'copy_bom', 'generate_bom', 'occlum-bom']) {
      const r = inRoot(root, [name, '--version']);
      assert.deepEqual([r.code, r.stdout], [0, `${VERSION}\n`], name);
    }
    assert.equal(rpm(root, '-qf', '/usr/bin/copy_bom'), `occlum-bom-${VERSION}-1.x86_64\n`);

    rpm(root, '-e', 'occlum-bom');
    const back = lstatSync(path.join(root, OCCLUM_BIN, 'copy_bom'));
    assert.ok(back.isFile());
    assert.equal(back.mode & 0o7777, 0o755);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    assert.ok(!existsSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib')));
    for (const p of ['usr/lib/occlum-bom', 'usr/bin/copy_bom', 'usr/share/doc/occlum-bom', 'usr/share/man/man1/copy_bom.1.gz']) assert.ok(!existsSync(path.join(root, p)), `${p} is gone`);
  });

  it("installed before Occlum: Occlum's package installing its copy_bom sets off a trigger that puts ours in place", async () => {
    const root = await bullseyeRoot();
    copyFileSync(standInRpm(), path.join(root, 'tmp/occlum.rpm'));
    rpm(root, '-i', '--nodeps', pkg);
    assert.ok(!existsSync(path.join(root, 'opt/occlum')), 'nothing made where Occlum is not');
    rpm(root, '-i', path.join(root, 'tmp/occlum.rpm'));
    assert.equal(readlinkSync(path.join(root, OCCLUM_BIN, 'copy_bom')), OURS);
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom.distrib'), 'utf8'), STAND_IN);
    rpm(root, '-e', 'occlum-bom');
    assert.equal(readFileSync(path.join(root, OCCLUM_BIN, 'copy_bom'), 'utf8'), STAND_IN);
    rpm(root, '-V', 'occlum'); // Occlum's file as its package installed it
  });
});
