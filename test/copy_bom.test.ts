// copy_bom end to end on small trees made here: each rule of the spec, run through the built command.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyBom, readTree, run, tmp, writeTree, yaml } from './helpers.ts';

/** An instance directory with `image/` as root and the given BOM as bom.yaml. */
function instance(bom: string, extra: Record<string, string> = {}) {
  const dir = tmp();
  writeFileSync(path.join(dir, 'bom.yaml'), yaml(bom));
  for (const [name, text] of Object.entries(extra)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), yaml(text));
  }
  return { dir, image: path.join(dir, 'image'), run: (...args: string[]) => copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', ...args]) };
}

describe('BOM validation', () => {
  const invalid = (bom: string, pattern: RegExp) => {
    const inst = instance(bom);
    const r = inst.run();
    assert.equal(r.code, 253, r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(!existsSync(inst.image), 'nothing written');
  };
  it('names an unknown key, its position and the closest valid key', () =>
    invalid('targets:\n  - target: /bin\n    mkdir:\n      - x\n', /bom\.yaml:3:5: unknown key `mkdir` in target \(did you mean `mkdirs`\?\)/));
  it('a name over 255 bytes or a path over 4095, anywhere in a BOM, is invalid before anything is written; the message shortens it', () => {
    const name = 'n'.repeat(256);
    const cases: [string, RegExp][] = [
      [`targets:\n  - target: /a/${name}\n`, /bom\.yaml:2:13: target "\/a\/n+\.\.\.\(259 bytes\)\.\.\.n+" holds a name longer than 255 bytes/],
      [`targets:\n  - target: /\n    mkdirs: [${name}]\n`, /bom\.yaml:3:14: mkdirs .* holds a name longer than 255 bytes/],
      [`targets:\n  - target: /\n    createlinks:\n      - {src: x, linkname: ${name}}\n`, /bom\.yaml:4:28: linkname .* holds a name longer than 255 bytes/],
      [`targets:\n  - target: /\n    createlinks:\n      - {src: ${'s/'.repeat(2048)}, linkname: l}\n`, /bom\.yaml:4:15: src "s\/s\/.*\(4096 bytes\).*" is longer than 4095 bytes/],
      [`targets:\n  - target: /\n    copy:\n      - files:\n          - {name: f, rename: ${name}}\n`, /bom\.yaml:5:31: rename .* holds a name longer than 255 bytes/],
      [`targets:\n  - target: /\n    copy:\n      - files: [/etc/${name}]\n`, /bom\.yaml:4:17: files .* holds a name longer than 255 bytes/],
      [`targets:\n  - target: /\n    copy:\n      - dirs: ["\${LONG}"]\n`, /bom\.yaml:4:16: dirs .*\(5000 bytes\).* is longer than 4095 bytes/],
    ];
    process.env.LONG = `/${'d/'.repeat(2499)}d`;
    try {
      for (const [bom, pattern] of cases) {
        invalid(bom, pattern);
        const inst = instance(bom);
        assert.ok(inst.run().stderr.length < 400, 'the long value is shortened');
      }
    } finally {
      delete process.env.LONG;
    }
  });
  it('reports a missing target', () => invalid('targets:\n  - mkdirs: [a]\n', /bom\.yaml:2:5: missing required key `target`/));
  it('reports a file map without name', () => invalid('targets:\n  - target: /\n    copy:\n      - files:\n          - rename: x\n', /bom\.yaml:5:13: missing required key `name`/));
  it('reports a typo inside a file map', () =>
    invalid('targets:\n  - target: /\n    copy:\n      - files:\n          - nmae: x\n', /5:13: unknown key `nmae` in files entry \(did you mean `name`\?\)/));
  it('reports a copy entry with none of from, dirs, files', () => invalid('targets:\n  - target: /\n    copy:\n      - {}\n', /4:9: a copy entry needs at least one of/));
  it('reports wrong types', () => invalid('targets:\n  - target: /\n    mkdirs: bin\n', /3:13: `mkdirs` must be a list, found "bin"/));
  it('reports YAML syntax errors with a position', () => invalid('targets: [\n', /bom\.yaml:\d+:\d+: invalid YAML/));
  it('reports an unset environment variable', () => invalid('targets:\n  - target: /opt/${NOT_SET_ANYWHERE}\n', /2:13: environment variable NOT_SET_ANYWHERE is not set/));
  it('refuses a target that leaves the root', () => invalid('targets:\n  - target: /../x\n', /2:5: "\/..\/x" leads outside the image root/));
  it('refuses a link in place of the root itself', () => {
    for (const [target, name] of [['/', '.'], ['/', '/'], ['/a', '..'], ['/a/b', '../../c/..']]) {
      invalid(`targets:\n  - target: ${target}\n    createlinks:\n      - {src: /tmp, linkname: "${name}"}\n`, /4:9: linkname .* is the image root itself/);
    }
  });
  it('refuses mkdirs, rename and linkname that leave the root', () => {
    invalid('targets:\n  - target: /bin\n    mkdirs: [../../etc]\n', /leads outside the image root/);
    invalid('targets:\n  - target: /a\n    createlinks:\n      - {src: x, linkname: ../../x}\n', /4:9: .* leads outside the image root/);
    invalid('targets:\n  - target: /\n    copy:\n      - files:\n          - {name: /etc/hostname, rename: ../h}\n', /leads outside the image root/);
  });
  it('accepts `..` that stays inside and normalises it', () => {
    const inst = instance('targets:\n  - target: /a/../b\n    mkdirs: [c/./d/../e]\n');
    assert.equal(inst.run().code, 0);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['b', 'b/c', 'b/c/e']);
  });
});

describe('includes', () => {
  it('applies the top BOM first, then includes in upstream order; a later BOM wins', () => {
    // top includes [a, b]; a includes [b]: upstream's order is top, a, b.
    const inst = instance(
      `includes: [a.yaml, b.yaml]\ntargets:\n  - target: /\n    createlinks: [{src: top, linkname: l}]\n`,
      {
        'a.yaml': 'includes: [b.yaml]\ntargets:\n  - target: /\n    createlinks: [{src: a, linkname: l}]\n',
        'b.yaml': 'targets:\n  - target: /\n    createlinks: [{src: b, linkname: l}]\n',
      },
    );
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(path.join(inst.image, 'l')), 'b');
    assert.match(r.stderr, /b\.yaml:3:\d+: link l replaces the one from .*a\.yaml:4:\d+/);
  });
  it('looks next to the including BOM first, then in each include dir', () => {
    const inst = instance('includes: [sub/x.yaml, base.yaml]\n', {
      'sub/x.yaml': 'includes: [y.yaml]\n',
      'sub/y.yaml': 'targets:\n  - target: /from-y\n',
      'tpl1/base.yaml': 'targets:\n  - target: /from-tpl1\n',
      'tpl2/base.yaml': 'targets:\n  - target: /from-tpl2\n',
    });
    const r = inst.run('-i', 'tpl1', '--include-dir', 'tpl2');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['from-tpl1', 'from-y']);
  });
  it('finds the shipped templates after every include dir', () => {
    const inst = instance('includes: [base.yaml]\n');
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(inst.image, 'proc')) && existsSync(path.join(inst.image, 'lib64')));
  });
  it('reports a cycle with its chain', () => {
    const inst = instance('includes: [a.yaml]\n', { 'a.yaml': 'includes: [b.yaml]\n', 'b.yaml': 'includes: [a.yaml]\n' });
    const r = inst.run();
    assert.equal(r.code, 253);
    assert.match(r.stderr, /b\.yaml:1:\d+: include cycle: a\.yaml -> b\.yaml -> a\.yaml/);
  });
  it('reports a missing include with exit 255', () => {
    const inst = instance('includes:\n  - nowhere.yaml\n');
    const r = inst.run();
    assert.equal(r.code, 255);
    assert.match(r.stderr, /bom\.yaml:2:5: cannot find included BOM file nowhere\.yaml/);
  });
  it('a diamond of includes is applied once per file', () => {
    const inst = instance('includes: [a.yaml, b.yaml]\n', { 'a.yaml': 'includes: [c.yaml]\n', 'b.yaml': 'includes: [c.yaml]\n', 'c.yaml': 'targets:\n  - target: /c\n' });
    const r = inst.run('--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/mkdir -p image\/c/g)?.length, 1);
  });
});

describe('copying', () => {
  it('copies files with rename, modes and exact mtimes; follows symlinks; relative to the root parent', () => {
    const inst = instance(
      yaml(`
targets:
  - target: /bin
    copy:
      - from: src
        files:
          - tool
          - name: via-link
            rename: renamed
          - name: /etc/hostname
            autodep: false
`),
    );
    writeTree(inst.dir, { 'src/tool': { content: '#!/bin/sh\n', mode: 0o751 }, 'src/real': 'data', 'src/via-link': { link: 'real' } });
    utimesSync(path.join(inst.dir, 'src/tool'), 1_600_000_000, 1_600_000_000.123456);
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    const tree = readTree(inst.image);
    assert.equal(tree['bin/tool']?.mode, 0o751);
    assert.equal(tree['bin/tool']?.mtimeNs, statSync(path.join(inst.dir, 'src/tool'), { bigint: true }).mtimeNs);
    assert.equal(tree['bin/renamed']?.type, 'file');
    assert.equal(readFileSync(path.join(inst.image, 'bin/renamed'), 'utf8'), 'data');
    assert.equal(readFileSync(path.join(inst.image, 'bin/hostname'), 'utf8'), readFileSync('/etc/hostname', 'utf8'));
  });

  it('checks hashes case-insensitively, and a wrong one stops the run before any write', () => {
    const data = 'pinned';
    const sha = createHash('sha256').update(data).digest('hex');
    const ok = instance(`targets:\n  - target: /\n    copy:\n      - files:\n          - {name: f, hash: ${sha.toUpperCase()}}\n          - {name: f, hash: ${sha}, rename: g}\n`);
    writeFileSync(path.join(ok.dir, 'f'), data);
    assert.equal(ok.run().code, 0);
    const bad = instance(`targets:\n  - target: /a\n    mkdirs: [x]\n  - target: /\n    copy:\n      - files:\n          - {name: f, hash: ${'0'.repeat(64)}}\n`);
    writeFileSync(path.join(bad.dir, 'f'), data);
    const r = bad.run();
    assert.equal(r.code, 249);
    assert.match(r.stderr, new RegExp(`bom\\.yaml:7:13: hash mismatch for f: .*${sha.toUpperCase()}`));
    assert.ok(!existsSync(bad.image));
  });

  it('a missing source changes nothing on disk (254 for a file, 250 for a directory)', () => {
    const f = instance('targets:\n  - target: /a\n  - target: /\n    copy:\n      - files: [missing]\n');
    assert.equal(f.run().code, 254);
    assert.ok(!existsSync(f.image));
    const d = instance('targets:\n  - target: /a\n  - target: /\n    copy:\n      - dirs: [missing]\n');
    const r = d.run();
    assert.equal(r.code, 250);
    assert.match(r.stderr, /bom\.yaml:5:\d+: cannot copy directory missing: no such file or directory/);
    assert.ok(!existsSync(d.image));
  });

  it('names every source that cannot be copied, each with its place, in the order upstream meets them; the exit code is the first one\'s', () => {
    const inst = instance(
      [
        'includes: [inc.yaml]',
        'targets:',
        '  - target: /a',
        '    copy:',
        '      - files: [missing-1, present]',
        '      - dirs: [missing-dir]',
        '  - target: /b',
        '    copy:',
        `      - files: [{name: present, hash: ${'0'.repeat(64)}}]`,
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(inst.dir, 'present'), 'here');
    writeFileSync(path.join(inst.dir, 'inc.yaml'), `targets:\n  - target: /c\n    copy:\n      - files: [missing-2]\n      - files: [{name: gone, hash: ${'1'.repeat(64)}}]\n`);
    const r = inst.run();
    // Upstream checks the hashed files of every BOM as it reads them, before copying anything;
    // then it copies a BOM's directories before its files, and the top BOM before its includes.
    assert.equal(r.code, 249);
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(/^copy_bom: error: (\S+?:\d+:\d+): .*$/, '$1').replace(/^.*\//, '')),
      ['bom.yaml:9:17', 'inc.yaml:5:17', 'bom.yaml:6:16', 'bom.yaml:5:17', 'inc.yaml:4:17'],
      r.stderr,
    );
    assert.match(lines[0]!, /hash mismatch for present/);
    assert.match(lines[1]!, /cannot read gone to check its hash: no such file or directory/);
    assert.ok(!existsSync(inst.image));
    // One BOM with files missing only: 254, as before.
    const files = instance('targets:\n  - target: /\n    copy:\n      - files: [x, y]\n');
    const f = files.run();
    assert.equal(f.code, 254);
    assert.equal(f.stderr.trimEnd().split('\n').length, 2, f.stderr);
  });

  it('a directory with something in it where a copied tree has a file or a link, at any depth: one line naming both, before anything is written', () => {
    for (const [kind, spec] of [
      ['a file', { 'pkg/a/b/c': 'file' }],
      ['a link', { 'pkg/a/b/c': { link: 'elsewhere' } }],
    ] as const) {
      const inst = instance('targets:\n  - target: /made-first\n  - target: /t\n    copy:\n      - dirs: [pkg]\n');
      writeTree(inst.dir, { ...spec, 'pkg/a/other': 'x' });
      writeTree(inst.image, { 't/pkg/a/b/c/kept': 'in the way' });
      const before = readTree(inst.image);
      const r = inst.run();
      assert.equal(r.code, 250, r.stderr);
      assert.equal(
        r.stderr,
        `copy_bom: error: bom.yaml:5:16: the image has a directory that is not empty at /t/pkg/a/b/c where pkg/a/b/c is ${kind}: copy_bom deletes no such directory (remove it, or exclude the source)\n`,
      );
      assert.deepEqual(readTree(inst.image), before, 'nothing written, not even the first target');
    }
  });

  it('an empty directory where a copied tree has a file or a link is replaced, as rsync does', () => {
    const inst = instance('targets:\n  - target: /t\n    copy:\n      - dirs: [pkg]\n');
    writeTree(inst.dir, { 'pkg/a/f': 'file', 'pkg/a/l': { link: 'f' } });
    writeTree(inst.image, { 't/pkg/a/f': null, 't/pkg/a/l': null });
    const judge = path.join(inst.dir, 'rsync');
    writeTree(judge, { 'pkg/a/f': null, 'pkg/a/l': null });
    execFileSync('rsync', ['-a', path.join(inst.dir, 'pkg'), judge]);
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(path.join(inst.image, 't/pkg/a/f'), 'utf8'), 'file');
    assert.equal(readlinkSync(path.join(inst.image, 't/pkg/a/l')), 'f');
    assert.equal(readFileSync(path.join(judge, 'pkg/a/f'), 'utf8'), 'file', 'rsync does the same');
    assert.equal(readlinkSync(path.join(judge, 'pkg/a/l')), 'f');
  });

  it('copies a directory itself, or with a trailing slash its contents; `from` alone copies its contents', () => {
    const inst = instance('targets:\n  - target: /one\n    copy:\n      - dirs: [pkg]\n  - target: /two\n    copy:\n      - dirs: [pkg/]\n  - target: /three\n    copy:\n      - from: pkg\n');
    writeTree(inst.dir, { 'pkg/a': 'a', 'pkg/sub/b': 'b' });
    assert.equal(inst.run().code, 0);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['one', 'one/pkg', 'one/pkg/a', 'one/pkg/sub', 'one/pkg/sub/b', 'three', 'three/a', 'three/sub', 'three/sub/b', 'two', 'two/a', 'two/sub', 'two/sub/b']);
  });

  it('copies several directories into one target; the same directory twice is replaced by the later copy', () => {
    const inst = instance('includes: [other.yaml]\ntargets:\n  - target: /usr/lib\n    copy:\n      - dirs: [a/x, b/y]\n', {
      'other.yaml': 'targets:\n  - target: /usr/lib\n    copy:\n      - dirs: [c/x]\n',
    });
    writeTree(inst.dir, { 'a/x/from-a': '', 'b/y/from-b': '', 'c/x/from-c': '' });
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['usr', 'usr/lib', 'usr/lib/x', 'usr/lib/x/from-c', 'usr/lib/y', 'usr/lib/y/from-b']);
    assert.match(r.stderr, /other\.yaml:4:\d+: the copy of \/usr\/lib\/x replaces the one from bom\.yaml:5:\d+/);
  });

  it('applies the BOM excludes to directory copies', () => {
    const inst = instance('excludes: [__pycache__, "*.pyc", /pkg/top.txt]\ntargets:\n  - target: /\n    copy:\n      - dirs: [pkg]\n        files: [pkg/top.txt]\n');
    writeTree(inst.dir, { 'pkg/m.py': '', 'pkg/m.pyc': '', 'pkg/__pycache__/m.cpython.pyc': '', 'pkg/top.txt': '', 'pkg/sub/top.txt': '' });
    assert.equal(inst.run().code, 0);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['pkg', 'pkg/m.py', 'pkg/sub', 'pkg/sub/top.txt', 'top.txt']);
  });

  it('creates links, replacing what is there', () => {
    const inst = instance('targets:\n  - target: /bin\n    createlinks:\n      - {src: ../lib/x, linkname: x}\n      - {src: /abs, linkname: y}\n');
    writeTree(inst.image, { 'bin/x': 'old file', 'bin/y': { link: 'old' } });
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(path.join(inst.image, 'bin/x')), '../lib/x');
    assert.equal(readlinkSync(path.join(inst.image, 'bin/y')), '/abs');
    assert.match(r.stdout, /WARNING: image is not an empty directory before running copy_bom\./);
  });

  it('copies files in parallel with the result of plan order: through a link, and into a later target', () => {
    const files = Array.from({ length: 40 }, (_, i) => `f${i}`);
    const extra = Object.fromEntries(files.map((f) => [`src/${f}`, f]));
    // /lib is a link to usr/lib: two copies of `x` land on one host file; the later one wins.
    const inst = instance(
      `targets:\n  - target: /lib\n    copy:\n      - files: [src/first/x, ${files.map((f) => `src/${f}`).join(', ')}]\n  - target: /usr/lib\n    copy:\n      - files: [src/second/x]\n`,
      { ...extra, 'src/first/x': 'first', 'src/second/x': 'second' },
    );
    for (let i = 0; i < 3; i++) {
      writeTree(inst.image, { 'usr/lib': null, lib: { link: 'usr/lib' } });
      const r = inst.run();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(path.join(inst.image, 'usr/lib/x'), 'utf8'), 'second');
      execFileSync('rm', ['-rf', inst.image]);
    }
    // A file whose destination a later target makes a directory goes inside it, as rsync puts it.
    const below = instance('targets:\n  - target: /opt\n    copy:\n      - files: [src/a]\n  - target: /opt/a\n    copy:\n      - files: [src/b]\n', { 'src/a': 'a', 'src/b': 'b' });
    const r = below.run();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(path.join(below.image, 'opt/a/a'), 'utf8'), 'a');
    assert.equal(readFileSync(path.join(below.image, 'opt/a/b'), 'utf8'), 'b');
  });

  it('is incremental: an unchanged file is not rewritten, a changed one is', () => {
    const inst = instance('targets:\n  - target: /\n    copy:\n      - dirs: [d]\n');
    writeTree(inst.dir, { 'd/a': 'one', 'd/b': 'two' });
    assert.equal(inst.run().code, 0);
    const ino = (p: string) => lstatSync(path.join(inst.image, p)).ino;
    const [a, b] = [ino('d/a'), ino('d/b')];
    writeFileSync(path.join(inst.dir, 'd/b'), 'three');
    chmodSync(path.join(inst.dir, 'd/a'), 0o600);
    assert.equal(inst.run().code, 0);
    assert.equal(ino('d/a'), a, 'unchanged file kept');
    assert.equal(lstatSync(path.join(inst.image, 'd/a')).mode & 0o777, 0o600, 'mode still follows the source');
    assert.notEqual(ino('d/b'), b, 'changed file replaced');
    assert.equal(readFileSync(path.join(inst.image, 'd/b'), 'utf8'), 'three');
  });

  it('warns about a later BOM overwriting an earlier one, naming both', () => {
    const inst = instance('includes: [other.yaml]\ntargets:\n  - target: /etc\n    copy:\n      - files: [one/conf]\n', {
      'other.yaml': 'targets:\n  - target: /etc\n    copy:\n      - files: [two/conf]\n',
    });
    writeTree(inst.dir, { 'one/conf': '1', 'two/conf': '2' });
    const r = inst.run();
    assert.equal(r.code, 0);
    assert.equal(readFileSync(path.join(inst.image, 'etc/conf'), 'utf8'), '2');
    assert.match(r.stderr, /other\.yaml:4:\d+: \/etc\/conf replaces the one from bom\.yaml:5:\d+ \(the later one wins\)/);
  });

  it('expands globs in sorted order; no match is an error unless optional', () => {
    const inst = instance('targets:\n  - target: /lib\n    copy:\n      - from: l\n        files: ["*.so.*", {name: "none*", optional: true}]\n');
    writeTree(inst.dir, { 'l/libb.so.1': '', 'l/liba.so.2': '', 'l/libc.so': '' });
    const r = inst.run('--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /liba\.so\.2 image\/lib\/liba\.so\.2\n.*libb\.so\.1 image\/lib\/libb\.so\.1\n$/);
    const strict = instance('targets:\n  - target: /lib\n    copy:\n      - files: ["none*"]\n');
    assert.equal(strict.run().code, 254);
  });

  it('--dry-run prints every operation and writes nothing', () => {
    const inst = instance('targets:\n  - target: /bin\n    mkdirs: [x]\n    createlinks: [{src: a, linkname: b}]\n    copy:\n      - files: [/etc/hostname]\n        dirs: [d]\n');
    writeTree(inst.dir, { 'd/f': '' });
    const r = inst.run('--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'mkdir -p image',
      'mkdir -p image/bin',
      'mkdir -p image/bin/x',
      'ln -s a image/bin/b',
      'copy dir d image/bin/ (2 entries)',
      'copy file /etc/hostname image/bin/hostname',
    ]);
    assert.ok(!existsSync(inst.image));
  });
});

describe('the image root is a jail', () => {
  it('never follows a link in the image out of the root', () => {
    const outside = tmp();
    const inst = instance('targets:\n  - target: /lib\n    mkdirs: [sub]\n    copy:\n      - files: [f]\n  - target: /abs/deeper\n    copy:\n      - dirs: [d]\n');
    writeTree(inst.dir, { f: 'f', 'd/x': 'x' });
    // Links left by an earlier run: one to a host directory, one absolute that means the image root.
    mkdirSync(inst.image);
    symlinkSync(outside, path.join(inst.image, 'lib'));
    symlinkSync('/', path.join(inst.image, 'abs'));
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readTree(outside), {}, 'nothing written outside');
    // As in a chroot: image/lib -> <outside> resolves to image/<outside>, image/abs -> / to the image root.
    assert.ok(existsSync(path.join(inst.image, outside, 'f')));
    assert.ok(existsSync(path.join(inst.image, outside, 'sub')));
    assert.ok(existsSync(path.join(inst.image, 'deeper/d/x')));
  });

  it('copies the contents of a directory named `x/..` or `x/.` into the target, as rsync does, never above the root', () => {
    for (const name of ['d/sub/..', 'd/.', 'd/sub/../']) {
      const inst = instance(`targets:\n  - target: /\n    copy:\n      - dirs: [${name}]\n`);
      writeTree(inst.dir, { 'd/x': 'x', 'd/sub/y': 'y' });
      const before = readdirSync(inst.dir).sort();
      const r = inst.run();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readdirSync(inst.dir).sort(), [...before, 'image', 'image.manifest.json'].sort(), `${name}: nothing written beside the root`);
      assert.deepEqual(Object.keys(readTree(inst.image)).sort(), ['sub', 'sub/y', 'x'], name);
    }
  });

  it('refuses / as the root, however it is written', () => {
    const inst = instance('targets:\n  - target: /x\n');
    for (const [cwd, root] of [[inst.dir, '/'], [inst.dir, '//'], ['/', '.'], [inst.dir, '/tmp/..'], ['/tmp', '..']] as const) {
      const r = copyBom(cwd, ['-f', path.join(inst.dir, 'bom.yaml'), '--root', root]);
      assert.equal(r.code, 1, `${root} in ${cwd}: ${r.stderr}`);
      assert.match(r.stderr, /refusing to use \/ as the image root/);
    }
    assert.equal(existsSync('/x'), false);
  });

  it('copies into, lists and checks the directory a root named through a link is', () => {
    const inst = instance('targets:\n  - target: /bin\n    copy:\n      - files: [f]\n');
    writeTree(inst.dir, { f: 'f', 'real/.keep': '' });
    symlinkSync('real', inst.image);
    assert.equal(inst.run().code, 0);
    assert.equal(readFileSync(path.join(inst.dir, 'real/bin/f'), 'utf8'), 'f');
    const manifest = JSON.parse(readFileSync(`${inst.image}.manifest.json`, 'utf8')) as { entries: { path: string; type: string }[] };
    assert.deepEqual(manifest.entries.map((e) => `${e.path} ${e.type}`), ['/ dir', '/.keep file', '/bin dir', '/bin/f file']);
    assert.equal(inst.run().code, 0);
    unlinkSync(path.join(inst.dir, 'real/bin/f'));
    assert.equal(inst.run().code, 0);
    assert.equal(readFileSync(path.join(inst.dir, 'real/bin/f'), 'utf8'), 'f', 'a file removed from the real root is copied again');
    const verify = run('occlum-bom', ['verify', '--root', inst.image]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  it('takes the root and its parent as the kernel does: sym/../image is beside what sym points to', () => {
    const inst = instance('targets:\n  - target: /\n    copy:\n      - files: [f]\n');
    writeTree(inst.dir, { 'elsewhere/d/.keep': '', 'elsewhere/f': 'from elsewhere', f: 'from the instance' });
    symlinkSync('elsewhere/d', path.join(inst.dir, 'sym'));
    const r = copyBom(inst.dir, ['-f', 'bom.yaml', '--root', 'sym/../image']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(path.join(inst.dir, 'elsewhere/image/f'), 'utf8'), 'from elsewhere');
    assert.equal(existsSync(inst.image), false);
    const dot = copyBom(inst.dir, ['-f', 'bom.yaml', '--root', 'image/.']);
    assert.equal(dot.code, 0, dot.stderr);
    assert.equal(readFileSync(path.join(inst.image, 'f'), 'utf8'), 'from the instance');
  });

  it('refuses a root that is / through a link, writing nothing', () => {
    const inst = instance(`targets:\n  - target: /tmp/occlum-bom-never-${process.pid}\n`);
    symlinkSync('/', inst.image);
    const r = inst.run();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to use \/ as the image root/);
    assert.equal(existsSync(`/tmp/occlum-bom-never-${process.pid}`), false);
  });

  it('stops before writing at a name that is not UTF-8, instead of copying another file in its place', () => {
    for (const make of ['name', 'link target'] as const) {
      const inst = instance('targets:\n  - target: /t\n    copy:\n      - dirs: [d]\n');
      writeTree(inst.dir, { 'd/ok': 'ok', 'd/a\uFFFD': 'the file whose name the bad one would be read as' });
      const bad = Buffer.concat([Buffer.from(path.join(inst.dir, 'd/a')), Buffer.from([0xff])]);
      if (make === 'name') writeFileSync(bad, 'bad');
      else symlinkSync(Buffer.from([0x78, 0xfe]), path.join(inst.dir, 'd/link'));
      const r = inst.run();
      assert.equal(r.code, 250, r.stderr);
      assert.match(r.stderr, make === 'name' ? /d\/a\\xff is not UTF-8/ : /the target of .*: x\\xfe is not UTF-8/);
      assert.equal(existsSync(inst.image), false, 'nothing written');
    }
  });

  it('expands `.` and `..` after a wildcard as bash does, not folded into the pattern first', () => {
    const cases: [string, number, string[]][] = [
      ['dirs: ["nomatch*/.."]', 250, []],
      ['files: ["sub/zz*/../a"]', 254, []],
      ['dirs: ["sub/*/.."]', 0, ['a', 'x', 'x/y']],
      ['dirs: ["s*/."]', 0, ['a', 'x', 'x/y']],
    ];
    for (const [entry, code, image] of cases) {
      const inst = instance(`targets:\n  - target: /t\n    copy:\n      - ${entry}\n`);
      writeTree(inst.dir, { 'sub/a': 'a', 'sub/x/y': 'y' });
      const r = inst.run();
      assert.equal(r.code, code, `${entry}: ${r.stderr}`);
      assert.deepEqual(existsSync(path.join(inst.image, 't')) ? Object.keys(readTree(path.join(inst.image, 't'))).sort() : [], image, entry);
    }
  });

  it('names the path in the way when a directory cannot be made', () => {
    const inst = instance('targets:\n  - target: /a/b\n');
    writeTree(inst.image, { a: 'a file' });
    const r = inst.run();
    assert.equal(r.code, 252);
    assert.match(r.stderr, new RegExp(`bom\\.yaml:2:5: mkdir -p image/a/b failed: not a directory \\(${inst.image}/a\\)`));
  });

  it('warns about and skips an out-of-tree link whose referent is missing', () => {
    const inst = instance('targets:\n  - target: /\n    copy:\n      - dirs: [d]\n');
    writeTree(inst.dir, { 'd/ok': '', 'd/dangling': { link: '/nonexistent/file' }, 'd/kept': { link: '../elsewhere' } });
    const r = inst.run();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipping d\/dangling -> \/nonexistent\/file/);
    assert.deepEqual(Object.keys(readTree(inst.image)), ['d', 'd/kept', 'd/ok']);
  });
});
