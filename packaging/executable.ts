// The single executable (occlum-bom-linux-x64): Node's single executable applications. The
// tool is bundled by esbuild into one CommonJS script (src/cli/executable.ts its entry), made
// into a blob with the code cache on and the files the tool reads at run time as assets
// (src/resources.ts: package.json's name and version, the templates, the addon), and the blob
// injected by postject into a copy of the Node running this, stripped of its symbol tables.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import type { AssetIndex } from '../src/resources.ts';
import { repo } from './addon.ts';

/** The name Node looks for the blob under (its sentinel fuse is fixed by Node). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const { inject } = createRequire(import.meta.url)('postject') as {
  inject(file: string, name: string, data: Buffer, options: { sentinelFuse: string }): Promise<void>;
};

/**
 * Build the executable into `out`, with `addon` (a file, see addon.ts) embedded, and beside it
 * `out`.NOTICES: the licences of what it holds besides our code (Node.js, the npm packages
 * bundled, as esbuild's metafile names them). V8's code cache (compiled code, for a faster
 * start) differs from one build to the next; without it (`codeCache: false`) the same inputs
 * give the same bytes.
 */
export async function buildExecutable(out: string, addon: string, opts: { codeCache?: boolean } = {}): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-sea-'));
  try {
    const main = path.join(work, 'main.cjs');
    const { metafile } = await build({
      entryPoints: [path.join(repo, 'src/cli/executable.ts')],
      outfile: main,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      minify: true,
      legalComments: 'eof',
      logLevel: 'warning',
      // import.meta is only read by the code that runs from the package's files (src/resources.ts).
      logOverride: { 'empty-import-meta': 'silent' },
      metafile: true,
      absWorkingDir: repo,
    });
    writeFileSync(`${out}.NOTICES`, notices(Object.keys(metafile.inputs)));
    const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
    const templates = readdirSync(path.join(repo, 'templates')).filter((n) => n.endsWith('.yaml')).sort();
    const index: AssetIndex = { templates, addon: true };
    const files: Record<string, string> = {
      'index.json': write(work, 'index.json', JSON.stringify(index)),
      'package.json': write(work, 'package.json', JSON.stringify({ name: pkg.name, version: pkg.version })),
      addon,
      ...Object.fromEntries(templates.map((n) => [`templates/${n}`, path.join(repo, 'templates', n)])),
    };
    const blob = path.join(work, 'blob');
    // `main` relative: the blob keeps its path, which must not be the random name of `work`.
    const config = { main: 'main.cjs', output: blob, useCodeCache: opts.codeCache ?? true, disableExperimentalSEAWarning: true, assets: files };
    run(process.execPath, ['--experimental-sea-config', write(work, 'sea-config.json', JSON.stringify(config))], work);
    const exe = path.join(work, 'exe');
    copyFileSync(process.execPath, exe);
    run('strip', [exe]); // the symbol tables and debug information: 13 MB; the dynamic symbols the addon links to stay
    // LIEF, inside postject, warns of each of Node's notes without a section name: harmless, and hundreds of lines.
    const warn = console.warn;
    console.warn = (...args: unknown[]) => !/^warning: Can't find string offset for section name/.test(String(args[0])) && warn(...args);
    try {
      await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: FUSE });
    } finally {
      console.warn = warn;
    }
    chmodSync(exe, 0o755);
    renameSync(exe, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The runtime's licence, then each bundled npm package's. */
function notices(inputs: string[]): string {
  const nodeLicence = ['../../share/doc/nodejs/LICENSE', '../LICENSE', '../../LICENSE'].map((p) => path.resolve(process.execPath, p)).find((p) => existsSync(p));
  if (!nodeLicence) throw new Error(`the licence of the Node.js at ${process.execPath} is not found: it must ship with the executable`);
  const parts = [`Node.js ${process.version} (the runtime)\n\n${readFileSync(nodeLicence, 'utf8')}`];
  const packages = new Set(inputs.map((i) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1]).filter((d): d is string => d !== undefined));
  for (const dir of [...packages].sort()) {
    const { name, version } = JSON.parse(readFileSync(path.join(repo, dir, 'package.json'), 'utf8')) as { name: string; version: string };
    const licence = readdirSync(path.join(repo, dir)).find((f) => /^(licen[cs]e|copying)/i.test(f));
    if (!licence) throw new Error(`${dir} has no licence file`);
    parts.push(`${name} ${version} (npm)\n\n${readFileSync(path.join(repo, dir, licence), 'utf8')}`);
  }
  return parts.join(`\n${'-'.repeat(72)}\n\n`);
}

function write(dir: string, name: string, text: string): string {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
}

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
}
