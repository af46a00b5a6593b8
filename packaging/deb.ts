// The Debian package (occlum-bom_VERSION_amd64.deb), made with dpkg-deb alone: what layout.ts
// lays out, Debian's changelog and lintian overrides, and the maintainer scripts of
// packaging/debian, which divert Occlum's copy_bom to put ours in its place. Every file's time
// is SOURCE_DATE_EPOCH, owners root: the same input, the same bytes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repo } from './addon.ts';
import { clampTimes, DOC, gz, installedFiles, PACKAGE, regularFiles, stageDir, VERSION, withLinkFunctions } from './layout.ts';

/** The newest GLIBC_ symbol version the executable needs (the tests check it against the executable). */
export const LIBC6_NEEDED = '2.28';
export const MAINTAINER = 'occlum-bom maintainers <maintainers@occlum-bom.example>';
const DESCRIPTION = `Description: root file systems of Occlum (SGX) images from bills of materials
 A drop-in replacement for Occlum's copy_bom (the same command line, BOM
 format, results and exit codes) that reads ELF files itself instead of
 running the dynamic loader, needs no rsync and never writes outside the
 image root; with generate_bom and occlum-bom (new, trace, deps, tree,
 verify, why, sbom, schema).
 .
 Installed, it takes the place of /opt/occlum/build/bin/copy_bom (a dpkg
 diversion, undone when the package is removed).
`;

/** Make the package of `exe` (and `exe`.NOTICES) in `outDir`; its path. `epoch`: SOURCE_DATE_EPOCH; `version`: package.json's unless given. */
export function buildDeb(exe: string, outDir: string, epoch: number, version = VERSION): string {
  const { stage, put } = stageDir();
  try {
    installedFiles(stage, put, exe, epoch);
    put(`${DOC}/changelog.gz`, gz(changelog(version, epoch)));
    put(`usr/share/lintian/overrides/${PACKAGE}`, readFileSync(path.join(repo, 'packaging/debian/lintian-overrides')));
    for (const script of ['preinst', 'postinst', 'postrm']) put(`DEBIAN/${script}`, withLinkFunctions(readFileSync(path.join(repo, 'packaging/debian', script), 'utf8')), 0o755);
    put('DEBIAN/triggers', readFileSync(path.join(repo, 'packaging/debian/triggers')));
    const files = regularFiles(stage).filter((f) => !f.startsWith('DEBIAN/'));
    const sizeKb = files.reduce((n, f) => n + Math.ceil(lstatSync(path.join(stage, f)).size / 1024), 0);
    put('DEBIAN/md5sums', files.map((f) => `${createHash('md5').update(readFileSync(path.join(stage, f))).digest('hex')}  ${f}\n`).join(''));
    put('DEBIAN/control', control(version, sizeKb));
    clampTimes(stage, epoch);
    const deb = path.join(outDir, `${PACKAGE}_${version}_amd64.deb`);
    const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
    if (r.status !== 0) throw new Error(`dpkg-deb --build: ${r.error?.message ?? r.stderr.trim()}`);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function control(version: string, sizeKb: number): string {
  // What the executable (Node.js) links to, from the newest symbol versions it uses: GLIBC_2.28,
  // GCC_3.4, GLIBCXX_3.4.21 (gcc 5.2). dpkg-shlibdeps on a host with glibc 2.34 or later asks
  // libc6 2.34 (it links to libdl and libpthread, merged into libc there); it runs on 2.28.
  const depends = `libc6 (>= ${LIBC6_NEEDED}), libgcc-s1 (>= 3.4), libstdc++6 (>= 5.2)`;
  return `Package: ${PACKAGE}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: ${MAINTAINER}\nInstalled-Size: ${sizeKb}\nDepends: ${depends}\nSection: devel\nPriority: optional\n${DESCRIPTION}`;
}

/** debian/changelog of a native package: one entry for this version, dated by the release's epoch. */
function changelog(version: string, epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  return `${PACKAGE} (${version}) unstable; urgency=medium\n\n  * Release ${version}: see CHANGELOG.md.gz.\n\n -- ${MAINTAINER}  ${date}\n`;
}
