// The RPM package (occlum-bom-VERSION-1.x86_64.rpm), for Occlum's RPM hosts (Anolis, Alibaba
// Cloud Linux, CentOS): what layout.ts lays out, made by rpmbuild from files already built. RPM
// has no diversions: the scriptlets do what dpkg-divert does for the .deb. %post moves Occlum's
// copy_bom to copy_bom.distrib and puts our link in its place; a trigger on Occlum's package
// ("occlum") does it again when that package (re)installs its copy_bom; %preun on erase puts
// Occlum's back.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LIBC6_NEEDED } from './deb.ts';
import { clampTimes, installedFiles, PACKAGE, stageDir, VERSION, walk, withLinkFunctions } from './layout.ts';

const SCRIPTLETS = `
%post
@occlum-link.sh@
put_ours

%triggerin -- occlum
@occlum-link.sh@
put_ours

%preun
@occlum-link.sh@
if [ "$1" -eq 0 ]; then
  take_ours
  if [ -e "$link.distrib" ] && [ ! -e "$link" ] && [ ! -L "$link" ]; then
    mv "$link.distrib" "$link"
  fi
fi
`;

/** Make the package of `exe` (and `exe`.NOTICES) in `outDir`; its path. `epoch`: SOURCE_DATE_EPOCH. */
export function buildRpm(exe: string, outDir: string, epoch: number): string {
  const { stage, put } = stageDir();
  try {
    installedFiles(stage, put, exe, epoch);
    clampTimes(stage, epoch);
    // Every file, and the directories of our own (not /usr, /usr/bin...: the system's).
    const ours = walk(stage).flatMap((f) => (!lstatSync(path.join(stage, f)).isDirectory() ? [`/${f}`] : f.includes(PACKAGE) ? [`%dir /${f}`] : []));
    return rpmbuild(
      `Name: ${PACKAGE}
Version: ${VERSION}
Release: 1
Summary: Root file systems of Occlum (SGX) images from bills of materials
License: BSD-3-Clause
AutoReqProv: no
Requires: glibc >= ${LIBC6_NEEDED}, libstdc++, libgcc

%description
A drop-in replacement for Occlum's copy_bom (the same command line, BOM format, results and
exit codes) that reads ELF files itself instead of running the dynamic loader, needs no rsync
and never writes outside the image root; with generate_bom and occlum-bom. Installed, it takes
the place of /opt/occlum/build/bin/copy_bom, and gives it back when erased.

%install
cp -a ${stage}/. %{buildroot}/

%files
%defattr(-,root,root,-)
${ours.join('\n')}
${withLinkFunctions(SCRIPTLETS)}`,
      outDir,
      epoch,
    );
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The binary package rpmbuild makes of `spec` (its %install copies files already built), moved into `outDir`. */
export function rpmbuild(spec: string, outDir: string, epoch: number): string {
  const top = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-rpm-'));
  try {
    mkdirSync(path.join(top, 'SPECS'));
    const file = path.join(top, 'SPECS/package.spec');
    const settings = [
      `_topdir ${top}`,
      'debug_package %{nil}',
      '__os_install_post %{nil}', // no stripping, no byte-compiling: the files are as built
      '_build_id_links none',
      '_buildhost reproducible',
      'use_source_date_epoch_as_buildtime 1',
      'clamp_mtime_to_source_date_epoch 1',
      '_binary_payload w6.xzdio', // xz, which every RPM host reads
    ];
    writeFileSync(file, spec);
    const r = spawnSync('rpmbuild', ['-bb', '--quiet', '--target', 'x86_64-linux', ...settings.flatMap((s) => ['--define', s]), file], {
      encoding: 'utf8',
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    });
    if (r.status !== 0) throw new Error(`rpmbuild: ${r.error?.message ?? r.stderr.trim()}`);
    const dir = path.join(top, 'RPMS/x86_64');
    const [rpm] = readdirSync(dir);
    renameSync(path.join(dir, rpm!), path.join(outDir, rpm!));
    return path.join(outDir, rpm!);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}
