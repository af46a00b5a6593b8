// `occlum-bom new` (the instance layout of `occlum new`), the shipped template BOMs and
// `occlum-bom templates`.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collectBoms } from '../src/bom/collect.ts';
import { templatesDir } from '../src/resources.ts';
import { loadBom } from '../src/bom/load.ts';
import { checkDestinations } from '../src/plan/resolve.ts';
import { copyBom, readTree, run, tmp, writeTree } from './helpers.ts';

const occlumBom = (cwd: string, ...args: string[]) => run('occlum-bom', args, { cwd });
const TEMPLATES_DIR = templatesDir();
const shipped = readdirSync(TEMPLATES_DIR).filter((n) => n.endsWith('.yaml')).sort();

const IMAGE_DIRS = ['bin', 'dev', 'etc', 'ext2', 'host', 'lib', 'lib64', 'opt', 'proc', 'root', 'sbin', 'sys', 'tmp'];
const INITFS_DIRS = ['bin', 'dev', 'etc', 'lib', 'proc'];

describe('occlum-bom new', () => {
  it('creates the instance layout of `occlum new`', () => {
    const cwd = tmp();
    const r = occlumBom(cwd, 'new', 'my_instance');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^my_instance: Occlum instance created/);
    const inst = path.join(cwd, 'my_instance');
    const tree = readTree(inst);
    assert.deepEqual(
      Object.keys(tree).sort(),
      [
        'Occlum.json',
        'build',
        'image',
        ...IMAGE_DIRS.map((d) => `image/${d}`),
        'image/etc/hosts',
        'initfs',
        ...INITFS_DIRS.map((d) => `initfs/${d}`),
        'run',
        'templates',
        ...shipped.map((t) => `templates/${t}`),
      ].sort(),
    );
    for (const [name, node] of Object.entries(tree)) if (!['Occlum.json', 'image/etc/hosts'].includes(name) && !name.startsWith('templates/')) assert.equal(node.type, 'dir', name);
    // templates/ holds exact copies of the shipped templates.
    for (const t of shipped) assert.equal(readFileSync(path.join(inst, 'templates', t), 'utf8'), readFileSync(path.join(TEMPLATES_DIR, t), 'utf8'), t);
    assert.match(readFileSync(path.join(inst, 'image/etc/hosts'), 'utf8'), /^127\.0\.0\.1\s+localhost$/m);
  });

  it("writes a default Occlum.json with Occlum's keys", () => {
    const cwd = tmp();
    assert.equal(occlumBom(cwd, 'new', 'i').code, 0);
    const config = JSON.parse(readFileSync(path.join(cwd, 'i/Occlum.json'), 'utf8'));
    assert.deepEqual(Object.keys(config), ['resource_limits', 'process', 'entry_points', 'env', 'metadata', 'mount']);
    for (const key of ['user_space_size', 'kernel_space_heap_size', 'kernel_space_stack_size']) assert.match(config.resource_limits[key], /^\d+[KMG]B$/, key);
    assert.equal(typeof config.resource_limits.max_num_of_threads, 'number');
    for (const key of ['default_stack_size', 'default_heap_size', 'default_mmap_size']) assert.match(config.process[key], /^\d+[KMG]B$/, key);
    assert.deepEqual(config.entry_points, ['/bin']);
    assert.ok(config.env.default.includes('OCCLUM=yes'));
    assert.ok(Array.isArray(config.env.untrusted));
    assert.equal(typeof config.metadata.product_id, 'number');
    assert.equal(typeof config.metadata.version_number, 'number');
    assert.equal(typeof config.metadata.debuggable, 'boolean');
    const mounts = (config.mount as { target: string; type: string; source?: string; options?: { layers: { source: string }[] } }[]).map((m) => [m.target, m.type]);
    assert.deepEqual(mounts, [['/', 'unionfs'], ['/host', 'hostfs'], ['/proc', 'procfs'], ['/dev', 'devfs'], ['/tmp', 'ramfs']]);
    // The root's layers live in the instance's build/ and run/ directories.
    assert.deepEqual(config.mount[0].options.layers.map((l: { type: string; source: string }) => [l.type, l.source]), [
      ['sefs', './build/mount/__ROOT'],
      ['sefs', './run/mount/__ROOT'],
    ]);
  });

  it("makes the image directories templates/base.yaml makes", async () => {
    const cwd = tmp();
    assert.equal(occlumBom(cwd, 'new', 'i').code, 0);
    const base = await loadBom(path.join(TEMPLATES_DIR, 'base.yaml'), {});
    const fromBase = base.targets.filter((t) => t.target === '/').flatMap((t) => t.mkdirs.map((m) => m.name));
    const made = readdirSync(path.join(cwd, 'i/image'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    assert.deepEqual(made.sort(), [...fromBase].sort());
  });

  it('creates missing parent directories', () => {
    const cwd = tmp();
    const r = occlumBom(cwd, 'new', 'a/b/inst');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(cwd, 'a/b/inst/image/bin')));
  });

  it('refuses anything that exists at DIR, even an empty directory, and writes nothing', () => {
    const cwd = tmp();
    mkdirSync(path.join(cwd, 'empty'));
    writeFileSync(path.join(cwd, 'file'), 'x');
    symlinkSync('nowhere', path.join(cwd, 'dangling'));
    for (const name of ['empty', 'file', 'dangling']) {
      const r = occlumBom(cwd, 'new', name);
      assert.equal(r.code, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stderr, `occlum-bom: ${name} already exists: give the name of a new instance directory\n`);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(readdirSync(path.join(cwd, 'empty')), []);
    assert.deepEqual(readdirSync(cwd).sort(), ['dangling', 'empty', 'file']);
  });

  it('a bad command line exits 1; a directory that cannot be made exits 252', () => {
    const cwd = tmp();
    const missing = occlumBom(cwd, 'new');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /missing required argument 'dir'/);
    writeFileSync(path.join(cwd, 'file'), 'x');
    const under = occlumBom(cwd, 'new', 'file/inst');
    assert.equal(under.code, 252, under.stderr);
    assert.equal(under.stderr.trimEnd().split('\n').length, 1);
    assert.match(under.stderr, /^occlum-bom: cannot create .*file: /);
  });

  it("builds an image with the instance's own templates, as copy_bom --include-dir templates", () => {
    const cwd = tmp();
    assert.equal(occlumBom(cwd, 'new', 'inst').code, 0);
    const inst = path.join(cwd, 'inst');
    // Mark the instance's copy of base.yaml: the image shows which base.yaml was used.
    const base = path.join(inst, 'templates/base.yaml');
    writeFileSync(base, `${readFileSync(base, 'utf8')}      - from-instance-templates\n`);
    writeTree(cwd, { 'app/hello': { content: '#!/bin/sh\necho hello\n', mode: 0o755 } });
    const g = run('generate_bom', ['-e', '../app/hello', '-i', 'base.yaml', '-o', '../hello.yaml'], { cwd: inst });
    assert.equal(g.code, 0, g.stderr);
    const c = copyBom(inst, ['-f', '../hello.yaml', '--root', 'image', '--include-dir', 'templates']);
    assert.equal(c.code, 0, c.stderr);
    const tree = readTree(path.join(inst, 'image'));
    assert.equal(tree['bin/hello']?.type, 'file');
    assert.equal(tree['from-instance-templates']?.type, 'dir');
    assert.equal(tree['etc/hosts']?.type, 'file');
  });
});

describe('shipped templates', () => {
  it('include base.yaml and the OpenJDK 17 and Python 3 runtimes', () => {
    for (const t of ['base.yaml', 'java-17-openjdk.yaml', 'python3.yaml']) assert.ok(shipped.includes(t), t);
  });

  for (const name of shipped) {
    it(`${name} loads with our loader`, async () => {
      const boms = await collectBoms(path.join(TEMPLATES_DIR, name), [], {});
      checkDestinations(boms);
      assert.ok(boms[0]!.targets.length > 0);
      assert.match(readFileSync(path.join(TEMPLATES_DIR, name), 'utf8'), /^# \S/, 'starts with a comment saying what it is');
    });
  }

  // The runtimes' host paths are Debian's: where they are installed, a dry run finds every source.
  for (const [name, source] of [
    ['java-17-openjdk.yaml', '/usr/lib/jvm/java-17-openjdk-amd64'],
    ['python3.yaml', '/usr/lib/python3.11'],
  ] as const) {
    it(`${name} names sources that exist where the runtime is installed`, { skip: !existsSync(source) && `${source} is not installed` }, () => {
      const dir = tmp();
      writeFileSync(path.join(dir, 'app.yaml'), `includes:\n  - base.yaml\n  - ${name}\n`);
      const r = copyBom(dir, ['-f', 'app.yaml', '--root', 'image', '--dry-run']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${source.replace(/[.]/g, '\\.')}`));
      assert.ok(!existsSync(path.join(dir, 'image')));
    });
  }
});

describe('occlum-bom templates', () => {
  it('lists every shipped template with its path and first comment line', () => {
    const r = occlumBom(tmp(), 'templates');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+PATH\s+DESCRIPTION$/);
    assert.equal(lines.length, shipped.length + 1);
    shipped.forEach((name, i) => {
      const file = path.join(TEMPLATES_DIR, name);
      const description = readFileSync(file, 'utf8').split('\n')[0]!.replace(/^#\s*/, '');
      assert.deepEqual(lines[i + 1]!.split(/\s{2,}/), [name, file, description]);
    });
  });

  it('--json gives the same as one array', () => {
    const text = occlumBom(tmp(), 'templates', '--json');
    assert.equal(text.code, 0, text.stderr);
    const list = JSON.parse(text.stdout) as { name: string; path: string; description: string }[];
    assert.deepEqual(list.map((t) => t.name), shipped);
    assert.deepEqual(list.map((t) => t.path), shipped.map((n) => path.join(TEMPLATES_DIR, n)));
    assert.ok(list.every((t) => t.description.length > 0));
  });
});
