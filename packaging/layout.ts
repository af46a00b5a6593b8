// What the .deb and the .rpm install, the same in both: the executable in /usr/lib/occlum-bom,
// its three names as links in /usr/bin with their manual pages, and the documents in
// /usr/share/doc/occlum-bom. Each package adds its own metadata and scripts (deb.ts, rpm.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { repo } from './addon.ts';

export const PACKAGE = 'occlum-bom';
export const EXE = 'occlum-bom-linux-x64';
export const DOC = `usr/share/doc/${PACKAGE}`;
export const VERSION = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;

/** The three names, each with the line its manual page starts with. */
const SUMMARIES = {
  copy_bom: "copy an Occlum image's files, and the libraries they need, as BOM files say",
  generate_bom: 'write a BOM file for programs, files and directories',
  'occlum-bom': 'new instances, traces, dependencies, manifests and SBOMs of Occlum images',
};

/** Policy 12.3 (Debian), the same on RPM systems: documents over 4 KB compressed, gzip -9n (no name, no time in the header). */
export const gz = (text: Buffer | string) => gzipSync(text, { level: 9 });

/** A new directory (0755) for a package's files; `put` writes one file into it. */
export function stageDir(): { stage: string; put: (rel: string, bytes: Buffer | string, mode?: number) => void } {
  const stage = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-package-'));
  chmodSync(stage, 0o755); // the package's top directory, made 0700 by mkdtemp
  const put = (rel: string, bytes: Buffer | string, mode = 0o644) => {
    mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
    writeFileSync(path.join(stage, rel), bytes);
    chmodSync(path.join(stage, rel), mode);
  };
  return { stage, put };
}

/** The files both packages install, of `exe` (and `exe`.NOTICES), written by `put`. */
export function installedFiles(stage: string, put: (rel: string, bytes: Buffer | string, mode?: number) => void, exe: string, epoch: number): void {
  put(`usr/lib/${PACKAGE}/${EXE}`, readFileSync(exe), 0o755);
  mkdirSync(path.join(stage, 'usr/bin'));
  for (const [name, summary] of Object.entries(SUMMARIES)) {
    symlinkSync(`../lib/${PACKAGE}/${EXE}`, path.join(stage, 'usr/bin', name));
    put(`usr/share/man/man1/${name}.1.gz`, gz(manPage(exe, name, summary, epoch)));
  }
  put(`${DOC}/copyright`, readFileSync(path.join(repo, 'packaging/debian/copyright')));
  put(`${DOC}/THIRD-PARTY-NOTICES.gz`, gz(readFileSync(`${exe}.NOTICES`)));
  for (const f of ['README.md', 'CHANGELOG.md', 'SECURITY.md', ...readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]) {
    const text = readFileSync(path.join(repo, f));
    put(`${DOC}/${f}${text.length > 4096 ? '.gz' : ''}`, text.length > 4096 ? gz(text) : text);
  }
}

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

/** A maintainer script or scriptlet with the shell functions of occlum-link.sh where it names them. */
export function withLinkFunctions(script: string): string {
  return script.replaceAll('@occlum-link.sh@\n', readFileSync(path.join(repo, 'packaging/occlum-link.sh'), 'utf8'));
}

/** Every path under `dir` (relative), directories before what they hold. */
export function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [p, ...walk(dir, p)] : [p];
  });
}

/** The regular files under `dir` (relative). */
export function regularFiles(dir: string): string[] {
  return walk(dir).filter((f) => lstatSync(path.join(dir, f)).isFile());
}

/** Every time under `dir` set to `epoch`: files, then their directories. */
export function clampTimes(dir: string, epoch: number): void {
  for (const f of [...walk(dir), '.'].sort().reverse()) lutimesSync(path.join(dir, f), epoch, epoch);
}
