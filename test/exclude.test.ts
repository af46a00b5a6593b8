import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { compileExcludes, FilterRuleError, type ExcludeMatcher } from '../src/fsops/exclude.js';
import { compileWildmatch, wildmatch } from '../src/fsops/wildmatch.js';

describe('wildmatch', () => {
  const cases: [pattern: string, text: string, expected: boolean][] = [
    ['foo', 'foo', true],
    ['foo', 'fo', false],
    ['foo', 'foox', false],
    ['', '', true],
    ['*', 'anything', true],
    ['*', 'a/b', false],
    ['*', '', true],
    ['**', 'a/b/c', true],
    ['***', 'a/b/c', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'ab/c', false],
    ['a**c', 'ab/c', true],
    ['a/**/c', 'a/b/x/c', true],
    // No zero-directory rule for "/**/" in rsync.
    ['a/**/c', 'a/c', false],
    ['a/**/c', 'a//c', true],
    ['**/c', 'c', false],
    ['**/c', '/c', true],
    ['a/**', 'a/', true],
    ['a/**', 'a', false],
    ['?', 'x', true],
    ['?', '/', false],
    ['??', 'x', false],
    // '?' matches one byte; "é" is two in UTF-8.
    ['?', 'é', false],
    ['??', 'é', true],
    ['[é][é]', 'é', true],
    ['[abc]', 'b', true],
    ['[abc]', 'd', false],
    ['[!abc]', 'd', true],
    ['[^abc]', 'd', true],
    ['[!abc]', 'a', false],
    ['[!a]', '/', false],
    ['[/]', '/', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[c-a]', 'b', false],
    ['[]]', ']', true],
    ['[!]]', 'a', true],
    ['[!]]', ']', false],
    ['[a-]', '-', true],
    ['[-a]', '-', true],
    ['[\\]]', ']', true],
    ['[\\-z]', 'z', true],
    ['[a\\-z]', 'b', false],
    ['[a-c-e]', 'd', false],
    ['[a-c-e]', '-', true],
    ['[[:alpha:]]', 'Q', true],
    ['[[:alpha:]]', '1', false],
    ['[[:digit:][:upper:]]', '7', true],
    ['[![:digit:]]', '7', false],
    ['[[:space:]]', '\t', true],
    ['[[:punct:]]', '_', true],
    ['[[:xdigit:]]', 'F', true],
    ['[[:xdigit:]]', 'g', false],
    ['[[:alpha:]]', 'é', false],
    // "[:" without ":]" is a literal '[' in the class.
    ['[[:a]x', '[x', true],
    ['[[:a]x', 'ax', true],
    ['[[:a]x', ':x', true],
    // Malformed classes make the pattern match nothing.
    ['[abc', 'a', false],
    ['[abc', '[abc', false],
    ['x*[[:bogus:]]', 'xyz', false],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['\\[x]', '[x]', true],
    ['a\\b', 'ab', true],
    // A trailing backslash can match nothing.
    ['a\\', 'a', false],
    ['a\\', 'a\\', false],
    ['*.py[co]', 'x.pyc', true],
    ['*.py[co]', 'x.py', false],
    ['*/*', 'a/b', true],
    ['*/*', 'a/b/c', false],
    ['-*-*-*-*-*-*-12-*-*-*-m-*-*-*', '-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1', true],
    ['-*-*-*-*-*-*-12-*-*-*-m-*-*-*', '-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1', false],
    ['**/*a*b*g*n*t', 'abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt', true],
    ['**/*a*b*g*n*t', 'abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz', false],
  ];
  for (const [pattern, text, expected] of cases) {
    test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(text)}`, () => {
      assert.equal(wildmatch(pattern, text), expected);
    });
  }

  test('where > 0 matches the last N components only', () => {
    const m = compileWildmatch('b/c');
    assert.equal(m('a/b/c', 2), true);
    assert.equal(m('b/c', 2), true);
    assert.equal(m('c', 2), false);
    assert.equal(m('a/b/c', 0), false);
    assert.equal(m('/b/c', 2), true);
    assert.equal(compileWildmatch('*/c')('x/y/c', 2), true);
    assert.equal(compileWildmatch('*/c')('x/y/c', 3), false);
  });

  test('where < 0 tries the start and after every slash', () => {
    const m = compileWildmatch('b/**/d');
    assert.equal(m('a/b/c/d', -1), true);
    assert.equal(m('b/c/d', -1), true);
    assert.equal(m('ab/c/d', -1), false);
    assert.equal(m('a/b/c/d', 0), false);
    assert.equal(compileWildmatch('x/**')('a/x/', -1), true);
  });

  test('many stars do not backtrack exponentially', () => {
    const m = compileWildmatch('*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b');
    const started = process.hrtime.bigint();
    assert.equal(m('a'.repeat(60)), false);
    assert.ok(process.hrtime.bigint() - started < 1_000_000_000n);
  });
});

describe('compileExcludes', () => {
  test('no rules, or only empty ones, exclude nothing', () => {
    assert.equal(compileExcludes([])('x', false), false);
    assert.equal(compileExcludes([''])('x', true), false);
    assert.equal(compileExcludes(['*', '!'])('x', true), false);
  });

  test('a pattern without a slash matches the last component', () => {
    const m = compileExcludes(['*.pyc']);
    assert.equal(m('a.pyc', false), true);
    assert.equal(m('x/y/a.pyc', false), true);
    assert.equal(m('a.pyc/x', false), false);
    assert.equal(compileExcludes(['name'])('x/name', true), true);
    assert.equal(compileExcludes(['name'])('x/name/y', false), false);
    assert.equal(compileExcludes(['name'])('xname', false), false);
  });

  test('a trailing slash restricts to directories', () => {
    const m = compileExcludes(['build/']);
    assert.equal(m('x/build', true), true);
    assert.equal(m('x/build', false), false);
    assert.equal(compileExcludes(['/build/'])('build', false), false);
    assert.equal(compileExcludes(['/build/'])('build', true), true);
  });

  test('a leading slash anchors at the transfer root', () => {
    const m = compileExcludes(['/a']);
    assert.equal(m('a', false), true);
    assert.equal(m('x/a', false), false);
    assert.equal(compileExcludes(['/a/*.c'])('a/x.c', false), true);
    assert.equal(compileExcludes(['/a/*.c'])('z/a/x.c', false), false);
  });

  test('an infix slash matches the trailing components', () => {
    const m = compileExcludes(['a/b']);
    assert.equal(m('a/b', false), true);
    assert.equal(m('x/a/b', false), true);
    assert.equal(m('xa/b', false), false);
    assert.equal(m('a/b/c', false), false);
    assert.equal(compileExcludes(['a/*'])('x/a/y', false), true);
    assert.equal(compileExcludes(['a/*'])('xa/y', false), false);
  });

  test('"**" rules', () => {
    assert.equal(compileExcludes(['**/x'])('x', false), true);
    assert.equal(compileExcludes(['**/x'])('a/b/x', false), true);
    assert.equal(compileExcludes(['a/**/z'])('q/a/b/z', false), true);
    assert.equal(compileExcludes(['a/**/z'])('a/z', false), false);
    assert.equal(compileExcludes(['a/**'])('q/a/b', false), true);
    assert.equal(compileExcludes(['a/**'])('a', true), false);
  });

  test('"dir/***" matches the directory and everything in it', () => {
    const m = compileExcludes(['dir/***']);
    assert.equal(m('dir', true), true);
    assert.equal(m('x/dir', true), true);
    assert.equal(m('dir/a/b', false), true);
    assert.equal(m('dir', false), false);
    assert.equal(m('xdir', true), false);
  });

  test('literal patterns keep backslashes, wildcard patterns use them as escapes', () => {
    assert.equal(compileExcludes(['a\\b'])('a\\b', false), true);
    assert.equal(compileExcludes(['a\\b'])('ab', false), false);
    assert.equal(compileExcludes(['a\\b*'])('ab', false), true);
    assert.equal(compileExcludes(['\\*x'])('*x', false), true);
    assert.equal(compileExcludes(['\\*x'])('ax', false), false);
  });

  test('"+ ", "- " and "!" prefixes, as --exclude parses them', () => {
    const m = compileExcludes(['+ keep.txt', '*.txt']);
    assert.equal(m('keep.txt', false), false);
    assert.equal(m('other.txt', false), true);
    assert.equal(compileExcludes(['- *.txt'])('a.txt', false), true);
    const cleared = compileExcludes(['*.pyc', '!', '*.txt']);
    assert.equal(cleared('a.pyc', false), false);
    assert.equal(cleared('a.txt', false), true);
    assert.equal(compileExcludes(['!x'])('!x', false), true);
    assert.equal(compileExcludes(['-x'])('-x', false), true);
    assert.equal(compileExcludes(['- !'])('!', false), true);
    assert.throws(() => compileExcludes(['- ']), FilterRuleError);
    assert.throws(() => compileExcludes(['+ ']), FilterRuleError);
  });
});

// ---------------------------------------------------------------------------
// Differential test against the real rsync: for each set of --exclude
// arguments, and for both "SRC/dir" and "SRC/dir/", the paths rsync copies
// must be exactly those a walk that consults compileExcludes() keeps.

const RSYNC_FLAGS = ['-ar', '--copy-unsafe-links']; // what upstream copy_bom runs

const FILES = [
  'name',
  'a.py',
  'a.pyc',
  'a.pyo',
  'b.pyd',
  'x.txt',
  'ab.txt',
  '1.txt',
  'é.txt',
  'Upper.txt',
  '*literal',
  'file with spaces.txt',
  '[brackets].txt',
  'b.txt',
  'a\\b',
  'abc',
  '!important',
  '+ plus',
  '.gitignore',
  '.git/config',
  '.git/objects/ab/cd',
  '__pycache__/m.cpython-311.pyc',
  'a/b/c.txt',
  'a/b/z',
  'a/z',
  'a/x/y/z',
  'a/b2',
  'x/y',
  'pkg/__init__.py',
  'pkg/__pycache__/n.pyc',
  'pkg/sub/mod.py',
  'pkg/sub/__pycache__/o.pyc',
  'build/out.o',
  'src/build',
  'anchored/f',
  'sub/anchored',
  'sub/dir/inner',
  'keep/dir',
  'deep/l1/x',
  'deep/l1/l2/l3/l4/l5/file',
  'deep/l1/l2/l3/l4/l5/x/z',
  'dir/nested.txt',
  'empty/.keep',
];

const PATTERN_SETS: string[][] = [
  ['name'],
  ['*.pyc'],
  ['__pycache__'],
  ['__pycache__/'],
  ['dir'],
  ['dir/'],
  ['/dir'],
  ['/dir/'],
  ['/anchored'],
  ['/anchored/'],
  ['/dir/anchored'],
  ['/dir/sub/anchored'],
  ['/dir/a/b/z'],
  ['/a*'],
  ['a/b'],
  ['a/b/'],
  ['x/y'],
  ['l5/x/z'],
  ['dir/a/z'],
  ['sub/dir/'],
  ['**/x'],
  ['**/z'],
  ['**/__pycache__'],
  ['**/*.txt'],
  ['**'],
  ['**/'],
  ['***'],
  ['a/**/z'],
  ['deep/**/x'],
  ['/dir/deep/**/z'],
  ['a/**'],
  ['dir/**'],
  ['l1/**'],
  ['**/sub/**'],
  ['dir/***'],
  ['a/***'],
  ['pkg/***'],
  ['/dir/pkg/***'],
  ['*.py[co]'],
  ['?.txt'],
  ['??.txt'],
  ['[é][é].txt'],
  ['[[:alpha:]].txt'],
  ['[[:upper:][:digit:]]*'],
  ['[!a-m]*'],
  ['[^a-m]*'],
  ['[]a]*'],
  ['\\*literal'],
  ['*literal'],
  ['[brackets].txt'],
  ['\\[brackets\\].txt'],
  ['[[]brackets].txt'],
  ['[brackets'],
  ['x*\\'],
  ['a\\b'],
  ['a\\b*'],
  ['file with spaces.txt'],
  ['* *'],
  ['.git'],
  ['.*'],
  ['*'],
  ['*/'],
  ['*/*'],
  ['a/*/z'],
  ['/'],
  ['build/'],
  ['build'],
  ['linkdir/'],
  ['linkdir'],
  ['ext/'],
  ['ext/__pycache__'],
  ['!important'],
  ['+ plus'],
  ['- *.pyc'],
  ['+ x.txt', '*.txt'],
  ['*.txt', '+ x.txt'],
  ['*.pyc', '!', '*.txt'],
  ['+ */', '+ *.py', '*'],
  ['+ pkg/', '*/'],
  ['__pycache__/', '*.pyc', '.git', 'a/b', '/dir/deep', 'empty/'],
];

/** The entries rsync's -r walk visits, as rsync names them, minus the excluded ones. */
function keptByMatcher(srcArg: string, excluded: ExcludeMatcher): string[] {
  const kept: string[] = [];
  const visit = (abs: string, rel: string, depth: number) => {
    const isDir = transfersAsDir(abs, depth);
    if (excluded(rel, isDir)) return;
    kept.push(rel);
    if (isDir) for (const name of readdirSync(abs)) visit(join(abs, name), `${rel}/${name}`, depth + 1);
  };
  if (srcArg.endsWith('/')) {
    for (const name of readdirSync(srcArg)) visit(join(srcArg, name), name, 0);
  } else {
    visit(srcArg, basename(srcArg), 0);
  }
  return kept.sort();
}

// With --copy-unsafe-links rsync copies a symlink that leaves the transfer as
// what it points to; other symlinks stay symlinks, which are not directories.
function transfersAsDir(abs: string, depth: number): boolean {
  const st = lstatSync(abs);
  if (!st.isSymbolicLink()) return st.isDirectory();
  return leavesTransfer(readlinkSync(abs), depth) && statSync(abs).isDirectory();
}

// rsync's unsafe_symlink(): absolute, or climbing above the transfer root;
// `depth` is the number of directories between the root and the link.
function leavesTransfer(target: string, depth: number): boolean {
  if (target.startsWith('/')) return true;
  for (const part of target.split('/')) {
    if (part === '..') {
      if (--depth < 0) return true;
    } else if (part !== '' && part !== '.') {
      depth++;
    }
  }
  return false;
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const visit = (abs: string, rel: string) => {
    for (const d of readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      out.push(r);
      if (d.isDirectory()) visit(join(abs, d.name), r);
    }
  };
  visit(dir, '');
  return out.sort();
}

describe('compileExcludes agrees with rsync', () => {
  let work = '';
  let src = '';

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'exclude-test-'));
    src = join(work, 'src', 'dir');
    for (const f of FILES) {
      mkdirSync(dirname(join(src, f)), { recursive: true });
      writeFileSync(join(src, f), f);
    }
    mkdirSync(join(work, 'outside', '__pycache__'), { recursive: true });
    writeFileSync(join(work, 'outside', 'e.txt'), '');
    writeFileSync(join(work, 'outside', '__pycache__', 'q.pyc'), '');
    symlinkSync('pkg', join(src, 'linkdir'));
    symlinkSync('x.txt', join(src, 'linkfile'));
    symlinkSync('../../outside', join(src, 'ext'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  let runs = 0;
  for (const patterns of PATTERN_SETS) {
    for (const trailingSlash of [false, true]) {
      test(`${JSON.stringify(patterns)} on ${trailingSlash ? 'SRC/dir/' : 'SRC/dir'}`, () => {
        const srcArg = trailingSlash ? `${src}/` : src;
        const dest = join(work, `dest${runs++}`);
        mkdirSync(dest);
        execFileSync('rsync', [...RSYNC_FLAGS, ...patterns.map((p) => `--exclude=${p}`), srcArg, `${dest}/`], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        const expected = listTree(dest);
        assert.deepEqual(keptByMatcher(srcArg, compileExcludes(patterns)), expected);
        rmSync(dest, { recursive: true });
      });
    }
  }

  for (const bad of ['- ', '+ ']) {
    test(`rsync and compileExcludes both reject ${JSON.stringify(bad)}`, () => {
      const dest = join(work, `dest${runs++}`);
      const r = spawnSync('rsync', [...RSYNC_FLAGS, `--exclude=${bad}`, `${src}/`, `${dest}/`], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unexpected end of filter rule/);
      assert.throws(() => compileExcludes([bad]), /unexpected end of filter rule/);
    });
  }
});
