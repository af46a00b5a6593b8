// The resolver on small programs and libraries built here with gcc and musl-gcc, each compared
// with what the real ldd (or musl's) prints for it, plus which rule found each library.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile, copyFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { createResolver, type Resolution, type ResolverOptions } from '../src/elf/index.js';
import { asJson, compare, ldd, parseLdd, run } from './elf-ldd.js';

let root: string;

const SOURCES = {
  'b.c': 'int b(void) { return 2; }\n',
  'a.c': 'int b(void);\nint a(void) { return b() + 1; }\n',
  'main.c': 'int a(void);\nint main(void) { return a() == 3 ? 0 : 1; }\n',
  'mainb.c': 'int b(void);\nint main(void) { return b() == 2 ? 0 : 1; }\n',
  'nd.c': 'int nd(void) { return 1; }\n',
  'mainnd.c': 'int nd(void);\nint main(void) { return nd() == 1 ? 0 : 1; }\n',
  'pie.c': 'int main(void) { return 0; }\n',
};

async function cc(compiler: string, args: string[]): Promise<void> {
  const r = await run(compiler, args);
  if (r.code !== 0) throw new Error(`${compiler} ${args.join(' ')}: ${r.stderr}`);
}
const src = (name: keyof typeof SOURCES) => `${root}/src/${name}`;
const lib = (out: string, source: keyof typeof SOURCES, ...args: string[]) =>
  cc('gcc', ['-shared', '-fPIC', '-o', `${root}/${out}`, src(source), ...args]);
const exe = (out: string, source: keyof typeof SOURCES, ...args: string[]) =>
  cc('gcc', ['-o', `${root}/${out}`, src(source), ...args]);

/** The first bytes of a 32-bit i386 shared object: enough for the loader to see its class. */
function elf32(): Buffer {
  const b = Buffer.alloc(200);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(3, 18); // EM_386
  b.writeUInt32LE(1, 20);
  return b;
}

before(async () => {
  root = await mkdtemp(`${tmpdir()}/elf-fixtures-`);
  for (const d of ['src', 'origin/lib', 'origin/bin', 'rpath/libs', 'runpath/libs', 'missing', 'llp/dir',
    'fatal/junk', 'fatal/good', 'skip/other', 'skip/good', 'dst/lib/x86_64-linux-gnu', 'dst/x86_64',
    'nodeflib', 'pie', 'byname', 'cwd', 'musl/llp']) {
    await mkdir(`${root}/${d}`, { recursive: true });
  }
  for (const [name, text] of Object.entries(SOURCES)) await writeFile(`${root}/src/${name}`, text);
  const L = (d: string) => `-L${root}/${d}`;

  // $ORIGIN in a program's and a library's DT_RUNPATH.
  await lib('origin/lib/libb.so', 'b.c');
  await lib('origin/lib/liba.so', 'a.c', L('origin/lib'), '-lb', '-Wl,-rpath,$ORIGIN');
  await exe('origin/bin/app', 'main.c', L('origin/lib'), '-la', '-Wl,-rpath,$ORIGIN/../lib');

  // A DT_RPATH serves the libraries of the libraries too; a DT_RUNPATH does not.
  for (const [d, tags] of [['rpath', '--disable-new-dtags'], ['runpath', '--enable-new-dtags']]) {
    await lib(`${d}/libs/libb.so`, 'b.c');
    await lib(`${d}/libs/liba.so`, 'a.c', L(`${d}/libs`), '-lb');
    await exe(`${d}/app`, 'main.c', L(`${d}/libs`), '-la', `-Wl,${tags}`, `-Wl,-rpath,${root}/${d}/libs`);
  }

  // A library that is gone, needed by the program and by one of its libraries.
  await lib('missing/libb.so', 'b.c');
  await lib('missing/liba.so', 'a.c', L('missing'), '-lb');
  await exe('missing/app', 'main.c', L('missing'), '-Wl,--no-as-needed', '-la', '-lb', `-Wl,-rpath,${root}/missing`);
  await unlink(`${root}/missing/libb.so`);

  // Only LD_LIBRARY_PATH finds it.
  await lib('llp/dir/libb.so', 'b.c');
  await exe('llp/app', 'mainb.c', L('llp/dir'), '-lb');

  // A non-ELF file where the loader looks first stops it; another class is passed over.
  await writeFile(`${root}/fatal/junk/libb.so`, 'not a library\n'.repeat(10));
  await lib('fatal/good/libb.so', 'b.c');
  await exe('fatal/app', 'mainb.c', L('fatal/good'), '-lb', `-Wl,-rpath,${root}/fatal/junk:${root}/fatal/good`);
  await writeFile(`${root}/skip/other/libb.so`, elf32());
  await lib('skip/good/libb.so', 'b.c');
  await exe('skip/app', 'mainb.c', L('skip/good'), '-lb', `-Wl,-rpath,${root}/skip/other:${root}/skip/good`);

  // ${ORIGIN}, $LIB and ${PLATFORM} in a DT_RPATH, which also serves the library's dependency.
  await lib('dst/lib/x86_64-linux-gnu/libb.so', 'b.c');
  await lib('dst/x86_64/liba.so', 'a.c', L('dst/lib/x86_64-linux-gnu'), '-lb');
  await exe('dst/app', 'main.c', L('dst/x86_64'), '-la', `-Wl,-rpath-link,${root}/dst/lib/x86_64-linux-gnu`,
    '-Wl,--disable-new-dtags', '-Wl,-rpath,${ORIGIN}/$LIB:$ORIGIN/${PLATFORM}');

  // DF_1_NODEFLIB: neither the cache nor the system directories for that library's needs.
  await lib('nodeflib/libnd.so', 'nd.c', '-Wl,-z,nodefaultlib', '-Wl,--no-as-needed', '-lz');
  await exe('nodeflib/app', 'mainnd.c', L('nodeflib'), '-lnd', `-Wl,-rpath,${root}/nodeflib`);

  // A position-independent executable where a library should be.
  await lib('pie/libb.so', 'b.c');
  await exe('pie/app', 'mainb.c', L('pie'), '-lb', `-Wl,-rpath,${root}/pie`);
  await exe('pie/libb.so', 'pie.c', '-pie');

  // One file under two names is one object; a DT_NEEDED that is a path is opened as such.
  await lib('byname/libb.so', 'b.c');
  await lib('byname/libb-other.so', 'b.c', '-Wl,-soname,libb-other.so');
  await lib('byname/liba.so', 'a.c', L('byname'), '-l:libb-other.so');
  await unlink(`${root}/byname/libb-other.so`);
  await symlink('libb.so', `${root}/byname/libb-other.so`);
  await exe('byname/app', 'main.c', L('byname'), '-Wl,--no-as-needed', '-la', '-lb', '-Wl,--disable-new-dtags',
    `-Wl,-rpath,${root}/byname`);
  await lib('byname/libabs.so', 'b.c', `-Wl,-soname,${root}/byname/libabs.so`);
  await exe('byname/app-abs', 'mainb.c', `${root}/byname/libabs.so`);

  // An empty DT_RUNPATH element is the current directory.
  await lib('cwd/libb.so', 'b.c');
  await exe('cwd/app', 'mainb.c', L('cwd'), '-lb', '-Wl,-rpath,/nonexistent:');

  // musl: $ORIGIN, a library gone, LD_LIBRARY_PATH before DT_RUNPATH.
  await cc('musl-gcc', ['-shared', '-fPIC', '-o', `${root}/musl/libb.so`, src('b.c')]);
  await copyFile(`${root}/musl/libb.so`, `${root}/musl/llp/libb.so`);
  await cc('musl-gcc', ['-shared', '-fPIC', '-o', `${root}/musl/liba.so`, src('a.c'), `-L${root}/musl`, '-lb']);
  await exe('musl/gone.so', 'pie.c', '-shared', '-fPIC', '-Wl,-soname,libgone.so');
  await cc('musl-gcc', ['-o', `${root}/musl/app`, src('main.c'), `-L${root}/musl`, '-la', '-lm',
    '-Wl,--no-as-needed', `${root}/musl/gone.so`, '-Wl,-rpath,$ORIGIN']);
  await unlink(`${root}/musl/gone.so`);
});

after(() => rm(root, { recursive: true, force: true }));

/** Resolves `file` and checks it against ldd run the same way (same cwd and LD_LIBRARY_PATH). */
async function agree(file: string, opts: ResolverOptions = {}): Promise<Resolution & { status: 'dynamic' }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LC_ALL: 'C' };
  if (opts.ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = opts.ldLibraryPath;
  const r = await createResolver(opts).resolve(file);
  const judged = parseLdd(await run('ldd', [file], { env, cwd: opts.cwd }));
  assert.deepEqual(compare(judged, asJson(r)), [], `ldd disagrees on ${file}`);
  assert.equal(r.status, 'dynamic');
  return r as Resolution & { status: 'dynamic' };
}

/** name => path (found by), in load order. */
const listing = (r: Resolution & { status: 'dynamic' }) =>
  r.libraries.map((l) => `${l.name} => ${l.path ?? 'not found'}${l.foundBy ? ` (${l.foundBy})` : ''}`);

const LIBC = 'libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (cache)';
const LOADER = 'ld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2 (interpreter)';

test('$ORIGIN in DT_RUNPATH, paths kept as the loader builds them', async () => {
  const r = await agree('bin/app', { cwd: `${root}/origin` });
  const lib = `${root}/origin/bin/../lib`;
  assert.deepEqual(listing(r), [`liba.so => ${lib}/liba.so (runpath)`, LIBC, `libb.so => ${lib}/libb.so (runpath)`, LOADER]);
  assert.equal(r.libraries[2]!.neededBy, `${lib}/liba.so`);
  assert.equal(r.libraries[0]!.neededBy, 'bin/app');
  // Where each was found from: wherever its object is put, the loader looks there.
  assert.deepEqual(r.libraries[0]!.origin, { object: 'bin/app', rel: '/../lib/liba.so' });
  assert.deepEqual(r.libraries[2]!.origin, { object: `${lib}/liba.so`, rel: '/libb.so' });
  assert.equal(r.libraries[1]!.origin, undefined, 'libc: not through $ORIGIN');
});

test('a library without PT_INTERP is analysed with the loader of its class and machine', async () => {
  const r = await agree(`${root}/origin/lib/liba.so`);
  assert.equal(r.interpreter, null);
  assert.deepEqual(r.loader, { path: '/lib64/ld-linux-x86-64.so.2', flavor: 'glibc' });
  assert.deepEqual(listing(r), [`libb.so => ${root}/origin/lib/libb.so (runpath)`]);
});

test("the program's DT_RPATH also serves its libraries' needs", async () => {
  const r = await agree(`${root}/rpath/app`);
  const libs = `${root}/rpath/libs`;
  assert.deepEqual(listing(r), [`liba.so => ${libs}/liba.so (rpath)`, LIBC, `libb.so => ${libs}/libb.so (rpath)`, LOADER]);
  assert.equal(r.libraries[2]!.neededBy, `${libs}/liba.so`);
});

test("the program's DT_RUNPATH does not serve its libraries' needs", async () => {
  const r = await agree(`${root}/runpath/app`);
  // The loader itself is listed after its predecessor among the objects actually loaded.
  assert.deepEqual(listing(r), [`liba.so => ${root}/runpath/libs/liba.so (runpath)`, LIBC, LOADER, 'libb.so => not found']);
});

test('a missing library is listed each time an object needs it', async () => {
  const r = await agree(`${root}/missing/app`);
  assert.deepEqual(listing(r), [`liba.so => ${root}/missing/liba.so (runpath)`, 'libb.so => not found', LIBC, LOADER, 'libb.so => not found']);
  const app = `${root}/missing/app`;
  const neededBy = [app, app, app, '/lib/x86_64-linux-gnu/libc.so.6', `${root}/missing/liba.so`];
  assert.deepEqual(r.libraries.map((l) => l.neededBy), neededBy);
});

test('LD_LIBRARY_PATH is an option, not the environment', async () => {
  const without = await agree(`${root}/llp/app`);
  assert.deepEqual(listing(without), ['libb.so => not found', LIBC, LOADER]);
  const withIt = await agree(`${root}/llp/app`, { ldLibraryPath: `/nonexistent;${root}/llp/dir` });
  assert.deepEqual(listing(withIt), [`libb.so => ${root}/llp/dir/libb.so (ld_library_path)`, LIBC, LOADER]);
});

test('a file that is not ELF where a library is searched stops the loader', async () => {
  const r = await agree(`${root}/fatal/app`);
  assert.equal(r.fatal, `${root}/fatal/junk/libb.so: invalid ELF header`);
});

test('a library of another class is passed over', async () => {
  const r = await agree(`${root}/skip/app`);
  assert.deepEqual(listing(r), [`libb.so => ${root}/skip/good/libb.so (runpath)`, LIBC, LOADER]);
});

test('${ORIGIN}, $LIB and ${PLATFORM}', async () => {
  const r = await agree(`${root}/dst/app`);
  assert.deepEqual(listing(r), [
    `liba.so => ${root}/dst/x86_64/liba.so (rpath)`,
    LIBC,
    `libb.so => ${root}/dst/lib/x86_64-linux-gnu/libb.so (rpath)`,
    LOADER,
  ]);
});

test('DF_1_NODEFLIB keeps a library from the cache and the system directories', async () => {
  const r = await agree(`${root}/nodeflib/app`);
  assert.ok(listing(r).includes('libz.so.1 => not found'), listing(r).join('\n'));
});

test('a position-independent executable cannot be a library', async () => {
  const r = await agree(`${root}/pie/app`);
  assert.equal(r.fatal, 'libb.so: cannot dynamically load position-independent executable');
});

test('one file under two names is loaded once; a DT_NEEDED path is opened as it is', async () => {
  const r = await agree(`${root}/byname/app`);
  assert.deepEqual(listing(r), [`liba.so => ${root}/byname/liba.so (rpath)`, `libb.so => ${root}/byname/libb.so (rpath)`, LIBC, LOADER]);
  const abs = await agree(`${root}/byname/app-abs`);
  assert.equal(listing(abs)[0], `${root}/byname/libabs.so => ${root}/byname/libabs.so (direct)`);
});

test('an empty DT_RUNPATH element is the current directory', async () => {
  const here = await agree('./app', { cwd: `${root}/cwd` });
  assert.deepEqual(listing(here), ['libb.so => libb.so (runpath)', LIBC, LOADER]);
  const elsewhere = await agree(`${root}/cwd/app`, { cwd: root });
  assert.equal(listing(elsewhere)[0], 'libb.so => not found');
});

test('the system directories are searched last', async () => {
  const r = await createResolver({ glibc: { cache: null, systemDirs: [`${root}/nonexistent/`, `${root}/llp/dir/`] } }).resolve(`${root}/llp/app`);
  assert.equal(r.status, 'dynamic');
  assert.deepEqual(r.status === 'dynamic' && r.libraries[0], { name: 'libb.so', path: `${root}/llp/dir/libb.so`, foundBy: 'default', neededBy: `${root}/llp/app` });
});

/** musl's ldd: the loader first, then "name => path" as it loads; failures go to stderr. */
async function muslAgree(file: string, opts: ResolverOptions = {}) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (opts.ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = opts.ldLibraryPath;
  const judged = await run('musl-ldd', [file], { env, cwd: opts.cwd });
  const [first, ...lines] = judged.stdout.trimEnd().split('\n');
  assert.match(first!, /^\t\/lib\/ld-musl-x86_64\.so\.1 \(0x[0-9a-f]+\)$/);
  const found = lines.map((l) => l.replace(/^\t(.*) => (.*) \(0x[0-9a-f]+\)$/, '$1 => $2'));
  const missing = [...judged.stderr.matchAll(/Error loading shared library (\S+):/g)].map((m) => m[1]);
  const r = await createResolver(opts).resolve(file);
  assert.equal(r.status, 'dynamic');
  if (r.status !== 'dynamic') return r;
  assert.deepEqual(r.libraries.filter((l) => l.path !== null).map((l) => `${l.name} => ${l.path}`), found);
  assert.deepEqual(r.libraries.filter((l) => l.path === null).map((l) => l.name), missing);
  return r;
}

test('a musl program: $ORIGIN, libc parts resolved to the loader, a missing library', async () => {
  const r = await muslAgree('./app', { cwd: `${root}/musl` });
  assert.deepEqual(r.status === 'dynamic' && r.loader, { path: '/lib/ld-musl-x86_64.so.1', flavor: 'musl' });
  assert.deepEqual(r.status === 'dynamic' && listing(r), [
    'liba.so => ./liba.so (runpath)',
    'libgone.so => not found',
    'libc.so => /lib/ld-musl-x86_64.so.1 (interpreter)',
    'libb.so => ./libb.so (runpath)',
  ]);
  // libb.so, needed by liba.so, is found through the program's $ORIGIN (musl walks up the chain).
  assert.deepEqual(r.status === 'dynamic' && r.libraries.map((l) => l.origin), [{ object: './app', rel: '/liba.so' }, undefined, undefined, { object: './app', rel: '/libb.so' }]);
});

test('musl searches LD_LIBRARY_PATH before DT_RUNPATH', async () => {
  const r = await muslAgree(`${root}/musl/app`, { ldLibraryPath: `${root}/musl/llp` });
  assert.ok(r.status === 'dynamic' && listing(r).includes(`libb.so => ${root}/musl/llp/libb.so (ld_library_path)`));
});

test('a musl library analysed with the glibc loader or, when asked, with musl', async () => {
  // glibc's loader finds Debian's libc.so, a linker script, and stops there.
  const asGlibc = await agree(`${root}/musl/liba.so`);
  assert.equal(asGlibc.fatal, '/lib/x86_64-linux-gnu/libc.so: invalid ELF header');
  const resolver = createResolver();
  const asMusl = await resolver.resolve(`${root}/musl/liba.so`, { interpreter: '/lib/ld-musl-x86_64.so.1' });
  assert.ok(asMusl.status === 'dynamic');
  assert.deepEqual(listing(asMusl), ['libb.so => not found', 'libc.so => /lib/ld-musl-x86_64.so.1 (interpreter)']);
  assert.equal(await resolver.resolve(`${root}/musl/liba.so`, { interpreter: '/lib/ld-musl-x86_64.so.1' }), asMusl, 'answers are remembered');
});

test('the real ldd is what these tests compare with', async () => {
  const r = await ldd(`${root}/runpath/app`, { PATH: process.env.PATH, LC_ALL: 'C' });
  assert.match(r.stdout, /\tlibb\.so => not found\n/);
});
