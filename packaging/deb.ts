// The Debian package (occlum-bom_VERSION_amd64.deb), made with dpkg-deb alone: the executable in
// /usr/lib/occlum-bom, its three names in /usr/bin, the documents in /usr/share/doc/occlum-bom,
// and the maintainer scripts of packaging/debian, which divert Occlum's copy_bom to put ours in
// its place. Every file's time is SOURCE_DATE_EPOCH, owners root: the same input, the same bytes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { repo } from './addon.ts';

export const PACKAGE = 'occlum-bom';
const EXE = 'occlum-bom-linux-x64';
/** The newest GLIBC_ symbol version the executable needs (the tests check it against the executable). */
export const LIBC6_NEEDED = '2.28';
const MAINTAINER = 'occlum-bom maintainers <maintainers@occlum-bom.example>';
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

/** Make the package of `exe` (and `exe`.NOTICES) in `outDir`; its path. `epoch`: SOURCE_DATE_EPOCH. */
export function buildDeb(exe: string, outDir: string, epoch: number): string {
  const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
  const stage = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-deb-'));
  try {
    chmodSync(stage, 0o755); // the package's ./, made 0700 by mkdtemp
    const put = (rel: string, bytes: Buffer | string, mode = 0o644) => {
      mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
      writeFileSync(path.join(stage, rel), bytes);
      chmodSync(path.join(stage, rel), mode);
    };
    const doc = `usr/share/doc/${PACKAGE}`;
    put(`usr/lib/${PACKAGE}/${EXE}`, readFileSync(exe), 0o755);
    mkdirSync(path.join(stage, 'usr/bin'));
    for (const name of Object.keys(SUMMARIES)) symlinkSync(`../lib/${PACKAGE}/${EXE}`, path.join(stage, 'usr/bin', name));
    put(`${doc}/copyright`, readFileSync(path.join(repo, 'packaging/debian/copyright')));
    // Policy 12.3: documents over 4 KB compressed (gzip -9n: no name, no time in the header).
    const gz = (text: Buffer | string) => gzipSync(text, { level: 9 });
    for (const [name, summary] of Object.entries(SUMMARIES)) put(`usr/share/man/man1/${name}.1.gz`, gz(manPage(exe, name, summary, epoch)));
    put(`${doc}/changelog.gz`, gz(changelog(version, epoch)));
    put(`${doc}/THIRD-PARTY-NOTICES.gz`, gz(readFileSync(`${exe}.NOTICES`)));
    for (const f of ['README.md', 'CHANGELOG.md', 'SECURITY.md', ...readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]) {
      const text = readFileSync(path.join(repo, f));
      put(`${doc}/${f}${text.length > 4096 ? '.gz' : ''}`, text.length > 4096 ? gz(text) : text);
    }
    put(`usr/share/lintian/overrides/${PACKAGE}`, readFileSync(path.join(repo, 'packaging/debian/lintian-overrides')));
    for (const script of ['preinst', 'postinst', 'postrm']) put(`DEBIAN/${script}`, readFileSync(path.join(repo, 'packaging/debian', script)), 0o755);
    put('DEBIAN/triggers', readFileSync(path.join(repo, 'packaging/debian/triggers')));
    const files = walk(stage).filter((f) => !f.startsWith('DEBIAN/') && lstatSync(path.join(stage, f)).isFile());
    const sizeKb = files.reduce((n, f) => n + Math.ceil(lstatSync(path.join(stage, f)).size / 1024), 0);
    put('DEBIAN/md5sums', files.map((f) => `${createHash('md5').update(readFileSync(path.join(stage, f))).digest('hex')}  ${f}\n`).join(''));
    put('DEBIAN/control', control(version, sizeKb));
    for (const f of [...walk(stage), '.'].sort().reverse()) lutimesSync(path.join(stage, f), epoch, epoch); // files, then their directories
    const deb = path.join(outDir, `${PACKAGE}_${version}_amd64.deb`);
    const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
    if (r.status !== 0) throw new Error(`dpkg-deb --build: ${r.error?.message ?? r.stderr.trim()}`);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The three names, each with the line its manual page starts with. */
const SUMMARIES = {
  copy_bom: "copy an Occlum image's files, and the libraries they need, as BOM files say",
  generate_bom: 'write a BOM file for programs, files and directories',
  'occlum-bom': 'new instances, traces, dependencies, manifests and SBOMs of Occlum images',
};

/** NAME's manual page, made by help2man from its --help (run by that name: a link to `exe`). */
function manPage(exe: string, name: string, summary: string, epoch: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-man-'));
  try {
    symlinkSync(path.resolve(exe), path.join(dir, name));
    const r = spawnSync('help2man', ['--no-info', '--name', summary, path.join(dir, name)], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
    if (r.status !== 0) throw new Error(`help2man ${name}: ${r.error?.message ?? r.stderr.trim()}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
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

function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [p, ...walk(dir, p)] : [p];
  });
}

