// Directory copies judged by real rsync: the same tree, modes, mtimes (directories too)
// and links as `rsync -ar --copy-unsafe-links --exclude=...`, which upstream runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyBom, hasCommand, readTree, tmp, writeTree } from './helpers.ts';

const EXCLUDES = ['*.pyc', '__pycache__', '/pkg/excluded-at-top', 'only-dir/', 'lib/**/deep.txt'];

function fixture(): { src: string; outside: string } {
  const base = tmp();
  const src = path.join(base, 'src');
  const outside = path.join(base, 'outside');
  writeTree(outside, { 'file.txt': 'outside file', 'dir/inner.txt': 'inner', 'dir/back': { link: '../file.txt' } });
  writeTree(src, {
    'pkg/a.txt': 'a',
    'pkg/run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'pkg/secret': { content: 's', mode: 0o600 },
    'pkg/m.pyc': 'compiled',
    'pkg/__pycache__/x.pyc': '',
    'pkg/excluded-at-top': 'gone',
    'pkg/sub/excluded-at-top': 'kept: anchored pattern only matches at the top',
    'pkg/sub/only-dir': 'a file named like a dir-only pattern is kept',
    'pkg/only-dir/x': 'a directory matching it is excluded',
    'pkg/lib/a/b/deep.txt': 'excluded by **',
    'pkg/lib/a/b/shallow.txt': 'kept',
    'pkg/sub/safe': { link: '../a.txt' },
    'pkg/sub/climbs-to-sibling': { link: '../../sibling' },
    'pkg/sub/dangling-but-safe': { link: 'nothing-here' },
    // Unsafe for rsync 3.4.0 on (a `..` after the start, a last `/..`): their referents are copied.
    'pkg/sub/dotdot-inside': { link: '../sub/../a.txt' },
    'pkg/sub/dot-then-dotdot': { link: './../a.txt' },
    'pkg/sub/ends-in-dotdot': { link: '../lib/a/b/..' },
    'pkg/sub/leading-dotdots': { link: '..//../pkg/a.txt' },
    'pkg/abs-file': { link: path.join(outside, 'file.txt') },
    'pkg/abs-dir': { link: path.join(outside, 'dir') },
    'pkg/empty-dir': null,
    // Names like this tool's temporary files are sources like any other; and the longest names.
    'pkg/.f.copy_bom.deadbeef.tmp': 'named like a leftover',
    'pkg/.d.copy_bom.0000abcd.tmp/x': 'in a directory named like one',
    [`pkg/${'n'.repeat(255)}`]: 'a name of 255 bytes',
    [`pkg/${'l'.repeat(255)}`]: { link: 'a.txt' },
    sibling: 'sibling of pkg',
  });
  // Distinct, sub-microsecond mtimes on everything (rsync keeps nanoseconds).
  let t = 1_500_000_000;
  const stamp = (rel: string, isLink = false) => {
    t += 1.000000123;
    (isLink ? lutimesSync : utimesSync)(path.join(src, rel), t, t);
  };
  for (const rel of ['pkg/a.txt', 'pkg/run.sh', 'pkg/secret', 'pkg/m.pyc', 'pkg/sub/excluded-at-top', 'pkg/sub/only-dir', 'pkg/lib/a/b/shallow.txt']) stamp(rel);
  for (const rel of ['pkg/sub/safe', 'pkg/sub/climbs-to-sibling', 'pkg/abs-file']) stamp(rel, true);
  chmodSync(path.join(src, 'pkg/sub'), 0o750);
  for (const rel of ['pkg/lib/a/b', 'pkg/lib/a', 'pkg/lib', 'pkg/sub', 'pkg/empty-dir', 'pkg/.d.copy_bom.0000abcd.tmp', 'pkg']) stamp(rel);
  // rsync leaves the copy time on a directory whose source changed within the current
  // second (a race guard, not a rule we reproduce): keep every source in the past.
  for (const rel of ['dir', 'file.txt']) utimesSync(path.join(outside, rel), 1_400_000_000, 1_400_000_000.5);
  return { src, outside };
}

describe('directory copies agree with rsync', { skip: !hasCommand('rsync') && 'rsync is not installed' }, () => {
  // A trailing slash, or a last part `.` or `..`, copies the directory's contents.
  for (const [name, contents] of [['pkg', false], ['pkg/', true], ['pkg/.', true], ['pkg/sub/..', true], ['pkg/sub/../', true]] as const) {
    it(`copies ${name} as rsync does`, () => {
      const { src } = fixture();
      // Ours
      const inst = tmp();
      writeFileSync(
        path.join(inst, 'bom.yaml'),
        `excludes:\n${EXCLUDES.map((e) => `  - "${e}"\n`).join('')}targets:\n  - target: /t\n    copy:\n      - from: ${src}\n        dirs: [${name}]\n`,
      );
      const r = copyBom(inst, ['-f', 'bom.yaml', '--root', 'image']);
      assert.equal(r.code, 0, r.stderr);
      // rsync, as upstream runs it, into a directory made the same way
      const theirs = path.join(tmp(), 'image');
      mkdirSync(path.join(theirs, 't'), { recursive: true });
      const rs = spawnSync('rsync', ['-ar', '--copy-unsafe-links', ...EXCLUDES.map((e) => `--exclude=${e}`), `${src}/${name}`, path.join(theirs, 't')], { encoding: 'utf8' });
      assert.equal(rs.status, 0, rs.stderr);
      // Directory mtimes of what the copy wrote (not of /t, which mkdir made just now in both).
      const ours = readTree(path.join(inst, 'image'), { dirMtimes: true });
      const expected = readTree(theirs, { dirMtimes: true });
      if (!contents) {
        delete ours.t!.mtimeNs;
        delete expected.t!.mtimeNs;
      }
      assert.deepEqual(ours, expected);
      assert.ok(Object.keys(ours).length > 12, 'the fixture is not trivially empty');
    });
  }
});

/** Names of the regular files under `dir` that share an inode, as sorted groups of two or more. */
function linkGroups(dir: string): string[][] {
  const byInode = new Map<bigint, string[]>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(dir, r), { bigint: true });
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), r]);
    }
  };
  walk('');
  return [...byInode.values()].filter((g) => g.length > 1).sort();
}

describe('one host file is one image file, as rsync -H keeps hard links', { skip: !hasCommand('rsync') && 'rsync is not installed' }, () => {
  for (const engine of ['native', 'node'] as const) {
    it(`links the names of one host file (${engine} copy), and keeps them linked when the file changes`, () => {
      const base = tmp();
      const src = path.join(base, 'src');
      writeTree(src, { 'pkg/a': 'one inode, three names', 'pkg/c': 'alone', 'pkg/sub/x': 'x', 'pkg/abs': { link: path.join(base, 'src/pkg/c') } });
      linkSync(path.join(src, 'pkg/a'), path.join(src, 'pkg/b'));
      linkSync(path.join(src, 'pkg/a'), path.join(src, 'pkg/sub/a'));
      for (const rel of ['pkg/a', 'pkg/c', 'pkg/sub/x', 'pkg/sub', 'pkg']) utimesSync(path.join(src, rel), 1_500_000_000.25, 1_500_000_000.25);
      const inst = tmp();
      // pkg/c again under /bin: a second copy of one host file, linked to the first.
      writeFileSync(path.join(inst, 'bom.yaml'), `targets:\n  - target: /t\n    copy:\n      - from: ${src}\n        dirs: [pkg]\n  - target: /bin\n    copy:\n      - files: [${src}/pkg/c]\n`);
      const env = engine === 'node' ? { OCCLUM_BOM_NO_NATIVE: '1' } : undefined;
      const build = () => {
        const r = copyBom(inst, ['-f', 'bom.yaml', '--root', 'image'], env);
        assert.equal(r.code, 0, r.stderr);
      };
      const theirs = path.join(tmp(), 'image');
      mkdirSync(path.join(theirs, 't'), { recursive: true });
      const rsync = () => {
        const rs = spawnSync('rsync', ['-arH', '--copy-unsafe-links', path.join(src, 'pkg'), path.join(theirs, 't')], { encoding: 'utf8' });
        assert.equal(rs.status, 0, rs.stderr);
      };
      const check = () => {
        const image = path.join(inst, 'image');
        // Without the addon, mtimes land within a microsecond of the source's (README): not compared.
        const tree = (dir: string) => {
          const t = readTree(dir, { dirMtimes: true });
          if (engine === 'node') for (const n of Object.values(t)) delete n.mtimeNs;
          return t;
        };
        assert.deepEqual(tree(path.join(image, 't')), tree(path.join(theirs, 't')));
        // rsync -H links the names of a file with several; we also link each further copy of
        // one host file: the followed link pkg/abs and the file entry bin/c.
        assert.deepEqual(linkGroups(path.join(theirs, 't')), [['pkg/a', 'pkg/b', 'pkg/sub/a']]);
        assert.deepEqual(linkGroups(image), [['bin/c', 't/pkg/abs', 't/pkg/c'], ['t/pkg/a', 't/pkg/b', 't/pkg/sub/a']]);
      };
      build();
      rsync();
      check();
      // The host file changes: every name gets the new content, still one file.
      appendFileSync(path.join(src, 'pkg/a'), ' and more');
      utimesSync(path.join(src, 'pkg/a'), 1_600_000_000.5, 1_600_000_000.5);
      for (const rel of ['pkg/sub', 'pkg']) utimesSync(path.join(src, rel), 1_500_000_000.25, 1_500_000_000.25);
      build();
      rsync();
      check();
    });
  }
});
