// The example BOMs of examples/ end to end: each image is built with copy_bom exactly as the
// Occlum docs do (from a fresh instance directory: `copy_bom -f ../app.yaml --root image
// --include-dir <templates>`), then the application is run inside the image as its root:
// `unshare -m sh -c 'mount -t proc proc image/proc && exec chroot image /bin/app ...'` (the
// proc mount lives and dies with that private mount namespace; the image has no shell, so the
// program is exec'd directly). Each app is built twice: with the host's own loader, and with
// a loader config (as on an Occlum host: a private glibc loader and libc in their own
// directory, the system library directories listed), where every library goes next to the
// configured loader.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { CLEAN_ENV, cannotRunImages, copyBom, hasCommand, inImage, repo, tmp, type Run } from './helpers.ts';

const examples = path.join(repo, 'examples');
const templates = path.join(repo, 'templates');
const PYTHON = '/usr/bin/python3.11';
const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const MUSL_LOADER = '/lib/ld-musl-x86_64.so.1';
const DEFAULT_LOADER_CONFIG = '/opt/occlum/etc/template/occlum_elf_loader.config';
const noRun = cannotRunImages(['ldd']);
const skipUnless = (ok: boolean, what: string) => noRun || (!ok && `${what} is not installed`);

// ---------------------------------------------------------------------------------------------
// Layouts: how libraries are placed in the image.

interface Layout {
  /** Extra copy_bom arguments. */
  args: string[];
  /** Extra environment for copy_bom. */
  env: NodeJS.ProcessEnv;
  /** Environment the program needs inside the image. */
  runEnv: Record<string, string>;
  /** Where a library the host loader finds at `hostPath` must be in the image. */
  expectedLib(hostPath: string): string;
  /** The configured loader, whose copy must be at the ELF's PT_INTERP path. */
  configuredLoader?(interp: string): string | undefined;
}

/** The host's loader, as the Occlum docs' Redis flow on a machine without Occlum. */
function hostLayout(): Layout {
  return {
    args: [],
    // On an Occlum host (or with $OCCLUM_ELF_LOADER_CONFIG set) a loader config would apply:
    // name an empty one instead, so the command line stays the docs' one.
    env: existsSync(DEFAULT_LOADER_CONFIG) || process.env.OCCLUM_ELF_LOADER_CONFIG ? { OCCLUM_ELF_LOADER_CONFIG: '/dev/null' } : {},
    runEnv: {},
    expectedLib: (hostPath) => hostPath,
  };
}

/**
 * As on an Occlum host: `<dir>/occlum/glibc/lib` holds a copy of the host's glibc loader,
 * libc and libm (Occlum's own glibc), and the config lists the system library directories
 * after it (Occlum's occlum_elf_loader.config does the same); a musl loader likewise. Every
 * library found in those directories goes next to the configured loader in the image.
 * Occlum's glibc loader looks there by default; the host's loader copied here needs
 * LD_LIBRARY_PATH to do the same.
 */
function loaderConfigLayout(dir: string): Layout {
  const libc = lddLibs('/bin/sh').get('libc.so.6');
  assert.ok(libc, 'ldd /bin/sh names libc.so.6');
  const multiarch = path.dirname(libc); // /lib/x86_64-linux-gnu
  const systemDirs = [path.join('/usr', multiarch), multiarch];
  const glibc = path.join(dir, 'occlum/glibc/lib');
  mkdirSync(glibc, { recursive: true });
  copyFileSync('/lib64/ld-linux-x86-64.so.2', path.join(glibc, 'ld-linux-x86-64.so.2'));
  for (const lib of ['libc.so.6', 'libm.so.6']) copyFileSync(path.join(multiarch, lib), path.join(glibc, lib));
  const loaders = new Map([['/lib64/ld-linux-x86-64.so.2', path.join(glibc, 'ld-linux-x86-64.so.2')]]);
  let config = `${glibc}/ld-linux-x86-64.so.2 ${systemDirs.join(':')}\n`;
  if (existsSync(MUSL_LOADER)) {
    const musl = path.join(dir, 'occlum/musl/lib');
    mkdirSync(musl, { recursive: true });
    copyFileSync(MUSL_LOADER, path.join(musl, 'ld-musl-x86_64.so.1'));
    loaders.set(MUSL_LOADER, path.join(musl, 'ld-musl-x86_64.so.1'));
    config += `${musl}/ld-musl-x86_64.so.1 ${musl}\n`;
  }
  const file = path.join(dir, 'occlum_elf_loader.config');
  writeFileSync(file, config);
  const relocated = new Set([glibc, ...systemDirs]);
  return {
    args: ['--loader-config', file],
    env: {},
    runEnv: { LD_LIBRARY_PATH: glibc },
    expectedLib: (hostPath) => (relocated.has(path.dirname(hostPath)) ? path.join(glibc, path.basename(hostPath)) : hostPath),
    configuredLoader: (interp) => loaders.get(interp),
  };
}

const layouts: Array<[string, (dir: string) => Layout]> = [
  ["the host's loader", hostLayout],
  ['a loader config', loaderConfigLayout],
];

// ---------------------------------------------------------------------------------------------
// Building and running.

/** `name => path` of every library ldd finds for `file` (on the host; ldd is the judge here). */
function lddLibs(file: string): Map<string, string> {
  const out = execFileSync('ldd', [file], { encoding: 'utf8', env: CLEAN_ENV });
  return new Map([...out.matchAll(/^\s*(\S+) => (\/\S+) \(/gm)].map((m) => [m[1]!, m[2]!]));
}

interface Instance {
  /** The directory holding the BOM (and the app's files) and the instance directory. */
  work: string;
  instance: string;
  image: string;
  layout: Layout;
}

/**
 * A fresh work directory with `copies` (paths relative to examples/) in it, and an empty
 * instance directory `<app>_instance` next to them: the layout the Occlum docs use.
 */
function prepare(app: string, copies: string[], makeLayout: (dir: string) => Layout): Instance {
  const work = tmp(`occlum-bom-${app}-`);
  for (const c of copies) cpSync(path.join(examples, c), path.join(work, c), { recursive: true });
  const instance = path.join(work, `${app}_instance`);
  mkdirSync(instance);
  return { work, instance, image: path.join(instance, 'image'), layout: makeLayout(work) };
}

/** `copy_bom -f <bom> --root image --include-dir <templates>` from the instance directory. */
function build(inst: Instance, bom: string): Run {
  const r = copyBom(inst.instance, ['-f', bom, '--root', 'image', '--include-dir', templates, ...inst.layout.args], { ...process.env, ...inst.layout.env });
  assert.equal(r.code, 0, `copy_bom exited ${r.code}:\n${r.stderr}`);
  return r;
}

/** The plan as --dry-run prints it (from the same instance directory, into another root). */
function dryRun(inst: Instance, bom: string): string {
  const r = copyBom(inst.instance, ['-f', bom, '--root', 'plan', '--include-dir', templates, '--dry-run', ...inst.layout.args], { ...process.env, ...inst.layout.env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(path.join(inst.instance, 'plan')), '--dry-run writes nothing');
  return r.stdout;
}

/**
 * The loader at PT_INTERP and every library ldd finds for `elfs` on the host are in the image
 * where the layout puts them; with a loader config, nothing lands in the system directories.
 */
function assertLibraries(inst: Instance, bom: string, elfs: string[], interp = '/lib64/ld-linux-x86-64.so.2'): void {
  assert.ok(isFile(path.join(inst.image, interp)), `the loader at ${interp}`);
  for (const elf of elfs) {
    for (const [name, hostPath] of lddLibs(elf)) {
      const want = inst.layout.expectedLib(hostPath);
      assert.ok(isFile(path.join(inst.image, want)), `${name} (needed by ${elf}) at ${want} in the image`);
    }
  }
  const loader = inst.layout.configuredLoader?.(interp);
  if (loader) {
    // Same bytes as the host's loader, so the plan shows where the copy comes from.
    assert.match(dryRun(inst, bom), new RegExp(`^copy lib ${escape(loader)} plan${escape(interp)} `, 'm'), 'the configured loader is copied to PT_INTERP');
    for (const dir of ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu']) {
      assert.ok(!existsSync(path.join(inst.image, dir)), `no library at its host path /${dir}: all go next to the configured loader`);
    }
  }
}

/** A regular file (not a link the host would follow out of the image). */
function isFile(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function runInImage(inst: Instance, argv: string[], env: Record<string, string> = inst.layout.runEnv): Run {
  const [cmd, args] = inImage(inst.image, argv);
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...CLEAN_ENV, ...env }, timeout: 30_000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr + (r.error ? `\n${r.error.message}` : '') };
}

/** Without the layout's LD_LIBRARY_PATH the image's loader finds no library: the copies next to the configured loader are the ones used. */
function assertNeedsRelocatedLibraries(inst: Instance, argv: string[]): void {
  if (Object.keys(inst.layout.runEnv).length === 0) return;
  const r = runInImage(inst, argv, {});
  assert.equal(r.code, 127, r.stdout + r.stderr);
  assert.match(r.stderr, /error while loading shared libraries/);
}

function done(inst: Instance): void {
  rmSync(inst.work, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

describe('Redis (examples/redis.yaml, the seed document\'s flow)', { skip: skipUnless(existsSync('/usr/bin/redis-server') && hasCommand('redis-cli'), 'redis-server or redis-cli') }, () => {
  for (const [name, layout] of layouts) {
    it(`answers PING on a loopback port, built with ${name}`, async () => {
      const inst = prepare('redis', ['redis.yaml'], layout);
      try {
        build(inst, '../redis.yaml');
        assertLibraries(inst, '../redis.yaml', ['/usr/bin/redis-server']);
        assertNeedsRelocatedLibraries(inst, ['/bin/redis-server', '--version']);
        const port = await freePort();
        const [cmd, args] = inImage(inst.image, ['/bin/redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
        const server = spawn(cmd, args, { env: { ...CLEAN_ENV, ...inst.layout.runEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = new Promise<number | null | Error>((resolve) => {
          server.once('exit', (code) => resolve(code));
          server.once('error', (e) => resolve(e)); // could not be started
        });
        let log = '';
        server.stdout!.on('data', (d) => (log += d));
        server.stderr!.on('data', (d) => (log += d));
        try {
          const pong = await until(() => cli(port, 'ping'), (r) => r.stdout === 'PONG\n', exited, 15_000);
          assert.equal(pong?.stdout, 'PONG\n', `redis-server did not answer PING:\n${log}`);
          // The server that answered is the one started in the image (unshare and chroot exec it).
          const info = cli(port, 'info', 'server').stdout;
          assert.match(info, new RegExp(`^process_id:${server.pid}\\r?$`, 'm'), info);
          assert.match(info, /^executable:\/bin\/redis-server\r?$/m, info);
          cli(port, 'shutdown', 'nosave');
          const code = await Promise.race([exited, sleep(10_000, 'timeout' as const)]);
          assert.equal(code, 0, `redis-server did not stop after SHUTDOWN:\n${log}`);
        } finally {
          await stop(server, exited);
        }
      } finally {
        done(inst);
      }
    });
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function cli(port: number, ...args: string[]): Run {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', env: CLEAN_ENV, timeout: 5_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Try `attempt` every 100 ms until `ok`, the process exits, or `ms` pass. */
async function until<T>(attempt: () => T, ok: (t: T) => boolean, exited: Promise<unknown>, ms: number): Promise<T | undefined> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !gone) {
    const t = attempt();
    if (ok(t)) return t;
    await sleep(100);
  }
  return undefined;
}

/** Never leave the server behind: SIGKILL it if it is still running, and wait for it. */
async function stop(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
}

describe('Python with its C extensions (examples/python.yaml)', { skip: skipUnless(existsSync(PYTHON) && existsSync('/usr/lib/python3.11/os.py'), PYTHON) }, () => {
  const script = path.join(examples, 'python/demo.py');
  for (const [name, layout] of layouts) {
    it(`runs the script using ssl, sqlite3, zlib and ctypes, built with ${name}`, () => {
      const host = spawnSync(PYTHON, ['-I', script], { encoding: 'utf8', env: CLEAN_ENV });
      assert.equal(host.status, 0, host.stderr);
      assert.match(host.stdout, /^python 3\.11: OpenSSL \S+ .* sum=5050 zlib=\S+ 7000->\d+ ctypes strlen=13\n$/);
      const inst = prepare('python', ['python.yaml', 'python'], layout);
      try {
        build(inst, '../python.yaml');
        const stdlib = path.join(inst.image, 'usr/lib/python3.11');
        assert.ok(existsSync(path.join(stdlib, 'os.py')) && existsSync(path.join(stdlib, 'lib-dynload')), 'the standard library is in the image');
        assert.deepEqual(findNamed(stdlib, '__pycache__'), [], '__pycache__ is excluded');
        const dynload = '/usr/lib/python3.11/lib-dynload';
        const extensions = ['_ssl', '_hashlib', '_sqlite3', '_ctypes'].map((m) => path.join(dynload, `${m}.cpython-311-x86_64-linux-gnu.so`));
        assertLibraries(inst, '../python.yaml', [PYTHON, ...extensions]);
        assertNeedsRelocatedLibraries(inst, ['/bin/python3', '-I', '-c', 'pass']);
        const r = runInImage(inst, ['/bin/python3', '-I', '/root/demo.py']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, host.stdout, 'the same result line as on the host');
      } finally {
        done(inst);
      }
    });
  }
});

function findNamed(dir: string, name: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => path.basename(p) === name);
}

describe('OpenJDK 17 (examples/java.yaml)', { skip: skipUnless(existsSync(path.join(JDK, 'bin/java')), JDK) }, () => {
  for (const [name, layout] of layouts) {
    it(`java -version prints the version, built with ${name}`, () => {
      const host = spawnSync(path.join(JDK, 'bin/java'), ['-version'], { encoding: 'utf8', env: CLEAN_ENV });
      assert.equal(host.status, 0, host.stderr);
      assert.match(host.stderr, /^openjdk version "17\./);
      const inst = prepare('java', ['java.yaml'], layout);
      try {
        build(inst, '../java.yaml');
        assertLibraries(inst, '../java.yaml', [path.join(JDK, 'bin/java'), path.join(JDK, 'lib/server/libjvm.so')]);
        assertNeedsRelocatedLibraries(inst, ['/bin/java', '-version']);
        const r = runInImage(inst, ['/bin/java', '-version']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, host.stderr, 'the same version text as on the host');
      } finally {
        done(inst);
      }
    });
  }
});

describe('a musl-built C program (examples/musl/)', { skip: skipUnless(hasCommand('musl-gcc') && existsSync(MUSL_LOADER), 'musl-gcc (musl-tools)') }, () => {
  for (const [name, layout] of layouts) {
    it(`prints its line, built with ${name}`, () => {
      const inst = prepare('musl', ['musl'], layout);
      try {
        execFileSync('musl-gcc', ['-O2', '-o', path.join(inst.work, 'musl/hello'), path.join(inst.work, 'musl/hello.c')], { stdio: 'pipe' });
        build(inst, '../musl/hello.yaml');
        assertLibraries(inst, '../musl/hello.yaml', [], MUSL_LOADER);
        const r = runInImage(inst, ['/bin/hello', 'occlum']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'hello, occlum, from musl on Linux\n');
      } finally {
        done(inst);
      }
    });
  }
});
