// The record of the last run (src/record.ts): a rebuild where nothing changed prints what a full
// run prints, without doing one; after any change to what a run reads (sources, BOMs, include
// search, environment, libraries, loader config, the image, the manifest) the rebuild gives
// what a full run with no cache at all gives.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { native } from '../src/fsops/native.ts';
import { lineHash, stateOf } from '../src/record.ts';
import { lockPath } from '../src/fsops/lock.ts';
import { copyBom, hasCommand, readTree, repo, runAsync, settled, tmp, type Run } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Compiled once: a library and a program that needs it (RUNPATH $ORIGIN/../lib) and a program that needs a library not there. */
let bin: string;
function compile(): void {
  bin = tmp();
  const c = (name: string, text: string) => writeFileSync(path.join(bin, name), text);
  c('dep.c', 'int dep(void) { return 1; }\n');
  c('dep2.c', 'int dep(void) { return 2; }\n');
  c('prog.c', 'int dep(void);\nint main(void) { return dep() == 1 ? 0 : 1; }\n');
  c('prog2.c', 'int dep(void);\nint main(void) { return dep() == 2 ? 0 : 1; }\n');
  c('miss.c', 'int miss(void) { return 0; }\n');
  c('needs-missing.c', 'int miss(void);\nint main(void) { return miss(); }\n');
  const gcc = (...args: string[]) => execFileSync('gcc', args, { cwd: bin });
  gcc('-shared', '-fPIC', '-o', 'libdep.so', 'dep.c');
  gcc('-shared', '-fPIC', '-o', 'libdep2.so', 'dep2.c');
  gcc('-o', 'prog', 'prog.c', '-L.', '-ldep', '-Wl,-rpath,$ORIGIN/../lib');
  gcc('-o', 'prog2', 'prog2.c', '-L.', '-ldep', '-Wl,-rpath,$ORIGIN/../lib');
  gcc('-shared', '-fPIC', '-o', 'libmiss.so', 'miss.c');
  gcc('-o', 'needs-missing', 'needs-missing.c', '-L.', '-lmiss', '-Wl,-rpath,$ORIGIN/../nolib');
}

/**
 * A workspace whose BOMs use everything a run reads: an include found through --include-dir,
 * $SRC, a glob, a directory copy with a safe link, an unsafe one and a dangling unsafe one
 * (a warning), a file reached through a symlinked directory, a program whose library is found
 * through its RUNPATH, and two entries writing one path (a warning).
 */
function workspace(missingLibrary: boolean): string {
  const ws = tmp();
  const w = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
    writeFileSync(path.join(ws, rel), text);
  };
  for (const src of ['src', 'src2']) {
    w(`${src}/tree/a.txt`, `a of ${src}\n`);
    w(`${src}/tree/sub/b.txt`, 'b\n');
    w(`${src}/tree/skip.pyc`, 'excluded\n');
    symlinkSync('a.txt', path.join(ws, src, 'tree/safe'));
    symlinkSync(path.join(ws, 'outside.txt'), path.join(ws, src, 'tree/unsafe'));
    symlinkSync(path.join(ws, 'nothing-there'), path.join(ws, src, 'tree/dangling'));
    w(`${src}/glob/one.so`, 'one\n');
    w(`${src}/glob/two.txt`, 'not matched\n');
    mkdirSync(path.join(ws, src, 'bin'));
    mkdirSync(path.join(ws, src, 'lib'));
    copyFileSync(path.join(bin, src === 'src' ? 'prog' : 'prog2'), path.join(ws, src, 'bin/prog'));
    copyFileSync(path.join(bin, 'libdep.so'), path.join(ws, src, 'lib/libdep.so'));
  }
  copyFileSync(path.join(bin, 'needs-missing'), path.join(ws, 'src/bin/needs-missing'));
  w('outside.txt', 'outside\n');
  symlinkSync('src', path.join(ws, 'current'));
  w('bom.yaml', `excludes:
  - "*.pyc"
includes:
  - inc.yaml
targets:
  - target: /opt
    copy:
      - dirs:
          - \${SRC}/tree
  - target: /glob
    copy:
      - files:
          - \${SRC}/glob/*.so
  - target: /bin
    copy:
      - from: current/bin
        files: [prog${missingLibrary ? ', needs-missing' : ''}]
  - target: /twice
    copy:
      - files:
          - \${SRC}/glob/one.so
      - files:
          - name: \${SRC}/tree/a.txt
            rename: one.so
`);
  w('incs/inc.yaml', 'targets:\n  - target: /etc\n    mkdirs: [conf]\n    createlinks:\n      - { src: ../opt/tree/a.txt, linkname: a }\n');
  return ws;
}

interface Case {
  name: string;
  mutate: (ws: string, env: NodeJS.ProcessEnv) => void;
  /** What a full run after the change gives that the last one did not: another digest, another exit code, another manifest, or the same. */
  changes: 'digest' | 'code' | 'manifest' | 'nothing';
  missingLibrary?: boolean;
}

const newer = (p: string) => utimesSync(p, new Date(), new Date(Date.now() + 5000));

const CASES: Case[] = [
  { name: 'nothing changed', mutate: () => undefined, changes: 'nothing' },
  {
    name: 'a source file changed',
    mutate: (ws) => {
      appendFileSync(path.join(ws, 'src/tree/sub/b.txt'), 'more\n');
      newer(path.join(ws, 'src/tree/sub/b.txt'));
    },
    changes: 'digest',
  },
  {
    // rsync's quick check, which upstream's copies use, keeps it: so does every run.
    name: 'a source file rewritten with its size and mtime put back',
    mutate: (ws) => {
      const p = path.join(ws, 'src/tree/a.txt');
      const times = path.join(ws, 'times');
      execFileSync('cp', ['-p', p, times]); // to the nanosecond, as Node's utimes cannot
      writeFileSync(p, readFileSync(p, 'utf8').toUpperCase());
      execFileSync('touch', ['-r', times, p]);
    },
    changes: 'nothing',
  },
  { name: 'a file added to a copied directory', mutate: (ws) => writeFileSync(path.join(ws, 'src/tree/sub/new.txt'), 'new\n'), changes: 'digest' },
  { name: 'an excluded file added to a copied directory', mutate: (ws) => writeFileSync(path.join(ws, 'src/tree/sub/new.pyc'), 'x\n'), changes: 'nothing' },
  { name: 'a file removed from a copied directory', mutate: (ws) => unlinkSync(path.join(ws, 'src/tree/sub/b.txt')), changes: 'manifest' },
  {
    name: 'a link in a copied directory pointed elsewhere',
    mutate: (ws) => {
      unlinkSync(path.join(ws, 'src/tree/safe'));
      symlinkSync('sub/b.txt', path.join(ws, 'src/tree/safe'));
    },
    changes: 'digest',
  },
  { name: 'what an unsafe link points to changed', mutate: (ws) => (appendFileSync(path.join(ws, 'outside.txt'), 'x\n'), newer(path.join(ws, 'outside.txt'))), changes: 'digest' },
  { name: 'a dangling unsafe link now leads somewhere', mutate: (ws) => writeFileSync(path.join(ws, 'nothing-there'), 'here\n'), changes: 'digest' },
  {
    name: 'a symlinked directory on the way to a file flipped',
    mutate: (ws) => {
      symlinkSync('src2', path.join(ws, 'current.new'));
      renameSync(path.join(ws, 'current.new'), path.join(ws, 'current'));
    },
    changes: 'digest',
  },
  { name: 'the BOM edited', mutate: (ws) => appendFileSync(path.join(ws, 'bom.yaml'), '  - target: /more\n    mkdirs: [x]\n'), changes: 'digest' },
  { name: 'the included BOM edited', mutate: (ws) => appendFileSync(path.join(ws, 'incs/inc.yaml'), '  - target: /more\n    mkdirs: [y]\n'), changes: 'digest' },
  {
    name: 'an include found earlier in the search path',
    mutate: (ws) => writeFileSync(path.join(ws, 'inc.yaml'), 'targets:\n  - target: /shadow\n    mkdirs: [z]\n'),
    changes: 'digest',
  },
  { name: 'an environment variable the BOM reads changed', mutate: (ws, env) => void (env.SRC = path.join(ws, 'src2')), changes: 'digest' },
  { name: 'a glob matches one more file', mutate: (ws) => writeFileSync(path.join(ws, 'src/glob/three.so'), 'three\n'), changes: 'digest' },
  { name: 'a source file chmod-ed', mutate: (ws) => chmodSync(path.join(ws, 'src/tree/a.txt'), 0o600), changes: 'digest' },
  {
    name: 'a library the program needs changed',
    mutate: (ws) => {
      copyFileSync(path.join(bin, 'libdep2.so'), path.join(ws, 'src/lib/libdep.so'));
      newer(path.join(ws, 'src/lib/libdep.so'));
    },
    changes: 'digest',
  },
  {
    name: 'a missing library appeared',
    mutate: (ws) => {
      mkdirSync(path.join(ws, 'src/nolib'));
      copyFileSync(path.join(bin, 'libmiss.so'), path.join(ws, 'src/nolib/libmiss.so'));
    },
    changes: 'code',
    missingLibrary: true,
  },
  { name: 'an image file changed', mutate: (ws) => (writeFileSync(path.join(ws, 'image/opt/tree/a.txt'), 'changed\n'), newer(path.join(ws, 'image/opt/tree/a.txt'))), changes: 'nothing' },
  { name: 'an image file removed', mutate: (ws) => unlinkSync(path.join(ws, 'image/opt/tree/sub/b.txt')), changes: 'nothing' },
  { name: 'a file put into the image by hand', mutate: (ws) => writeFileSync(path.join(ws, 'image/etc/by-hand'), 'x\n'), changes: 'digest' },
  { name: 'the manifest removed', mutate: (ws) => unlinkSync(path.join(ws, 'image.manifest.json')), changes: 'nothing' },
  {
    // Were it trusted, the run would print the digest written into it.
    name: 'the copy_bom record rewritten by someone else (writable by others)',
    mutate: (ws) => {
      const dir = path.join(ws, 'cache');
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.rec'))) {
        const p = path.join(dir, f);
        const text = readFileSync(p, 'latin1').replace(/"digest":"sha256:[0-9a-f]+"/, `"digest":"sha256:${'0'.repeat(64)}"`);
        writeFileSync(p, text, 'latin1');
        chmodSync(p, 0o666);
      }
    },
    changes: 'nothing',
  },
  {
    name: 'the copy_bom record damaged',
    mutate: (ws) => {
      const dir = path.join(ws, 'cache');
      for (const f of readdirSync(dir)) if (f.endsWith('.rec')) writeFileSync(path.join(dir, f), '{"version":1}\n', { mode: 0o600 });
    },
    changes: 'nothing',
  },
];

describe('the record of the last run', { skip: !hasCommand('gcc') && 'gcc is not installed' }, () => {
  const spaces = new Map<string, string>();
  before(async () => {
    compile();
    for (const c of CASES) spaces.set(c.name, workspace(c.missingLibrary === true));
  });

  for (const c of CASES) {
    it(`${c.name}: the rebuild gives what a full run gives`, async () => {
      const ws = spaces.get(c.name)!;
      // A source changed within the last two seconds is not recorded (src/record.ts): wait until none has.
      await settled([ws, bin]);
      const env: NodeJS.ProcessEnv = { ...process.env, OCCLUM_BOM_CACHE_DIR: path.join(ws, 'cache'), SRC: path.join(ws, 'src') };
      const args = ['-f', 'bom.yaml', '--root', 'image', '-i', 'incs'];
      const build = (extra: NodeJS.ProcessEnv = {}): Run => copyBom(ws, args, { ...env, ...extra });
      const full = () => build({ OCCLUM_BOM_CACHE_DIR: '' });
      const record = () => {
        const f = readdirSync(path.join(ws, 'cache')).find((n) => n.endsWith('.rec'));
        return f ? `${lstatSync(path.join(ws, 'cache', f)).ino}:${lstatSync(path.join(ws, 'cache', f)).mtimeMs}` : 'none';
      };
      const expectedCode = c.missingLibrary ? 248 : 0;
      const cold = build();
      assert.equal(cold.code, expectedCode, cold.stderr);
      assert.match(cold.stderr, /the later one wins/);
      assert.match(cold.stderr, /nothing-there/);
      const made = record();
      assert.notEqual(made, 'none', 'the run was recorded');

      // Unchanged: answered from the record (not rewritten), saying what a full run says.
      const replay = build();
      assert.equal(record(), made, 'the rebuild was answered from the record');
      const reference = full();
      assert.deepEqual(replay, reference);
      const before = { tree: readTree(path.join(ws, 'image')), manifest: readFileSync(path.join(ws, 'image.manifest.json'), 'utf8') };
      // Asked to log every operation, a run does them all.
      assert.match(build({ OCCLUM_LOG_LEVEL: 'info' }).stderr, /\[INFO\] done: 0 files copied/);

      c.mutate(ws, env);
      const rebuild = build();
      const after = { tree: readTree(path.join(ws, 'image')), manifest: readFileSync(path.join(ws, 'image.manifest.json'), 'utf8') };
      // A full run with no cache changes nothing more and says the same.
      const check = full();
      assert.deepEqual(rebuild, check);
      assert.deepEqual(readTree(path.join(ws, 'image')), after.tree);
      assert.equal(readFileSync(path.join(ws, 'image.manifest.json'), 'utf8'), after.manifest);

      const digest = (r: Run) => /image digest: (\S+)/.exec(r.stdout)?.[1];
      if (c.changes === 'digest') assert.notEqual(digest(rebuild), digest(replay));
      if (c.changes === 'code') assert.notEqual(rebuild.code, replay.code);
      if (c.changes === 'manifest') {
        assert.equal(digest(rebuild), digest(replay));
        assert.notEqual(after.manifest, before.manifest);
      }
      if (c.changes === 'nothing') {
        assert.deepEqual(rebuild, replay);
        assert.deepEqual(after.tree, before.tree);
        assert.equal(after.manifest, before.manifest);
      }
    });
  }

  it('says the same of each path with the addon as without it', { skip: !native && 'the addon is not built' }, async () => {
    const ws = spaces.get('nothing changed')!;
    const paths = ['src/tree/a.txt', 'src/tree/safe', 'src/tree/dangling', 'src/tree', 'image/opt/tree', 'nothing-there', 'src/tree/a.txt/x', 'current'].map((p) => path.join(ws, p));
    const kinds = ['S', 'L', 'D', 'C'] as const;
    const all = paths.flatMap((p) => kinds.map((k) => [k, p] as const));
    const [lines, hashes] = await native!.states(Buffer.from(all.map(([, p]) => p).join('\0')), all.map(([k]) => k).join(''), 'lines');
    assert.deepEqual(lines.split('\n').slice(0, -1), all.map(([k, p]) => stateOf(k, p)));
    assert.deepEqual(hashes, Buffer.concat(all.map(([k, p]) => lineHash(stateOf(k, p)))), 'and hashes each line as Node does');
    assert.equal(lineHash('a').toString('hex'), '8cec01864cdc63af', 'FNV-1a 64 of "a" (0xaf63dc4c8601ec8c), little-endian');
    // A stat line is hashed by its fields as 64-bit words (native/fs.c stat_hash); these values
    // were computed by that C code: numbers past 2^53, and times before 1970 in two's complement.
    assert.equal(lineHash('file:644:2049:123456:200:1796269496.382517872:1796269496.382517872').toString('hex'), 'f4c7dd5267cb1936');
    assert.equal(lineHash('dir:755:18446744073709551615:9007199254740993:-5:-1.000000001:0.000000000').toString('hex'), 'b78ea49e045ec9e7');
    assert.equal(lineHash('other:7777:1234567890123456:123456789012345:4096:-12345678901234567.999999999:5.000000000').toString('hex'), '0ffbb6dabe5f658f');
    assert.match(lines, /^file:644:\d+:\d+:/);
    assert.match(lines, /missing:ENOTDIR/);
    assert.match(lines, /list:[0-9a-f]{64}/);
    assert.match(lines, /content:\d+:\d+:\d+:[0-9a-f]{64}/);
  });
});

describe("an image directory's names", { skip: !native && 'the addon is not built' }, () => {
  it('are listed again unless its lstat is unchanged and its ctime came well before they were listed', async () => {
    const dir = path.join(tmp(), 'image-dir');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a'), 'a\n');
    const paths = Buffer.from(`${dir}\0${dir}`);
    const [lines, hashes] = await native!.states(paths, 'LD', 'lines');
    const ctime = lines.split('\n')[0]!.split(':').at(-1)!;
    const ctimeNs = BigInt(ctime.replace('.', ''));
    // A D line that does not hold (as if the names had changed without the directory's lstat changing).
    const wrongNames = Buffer.concat([hashes.subarray(0, 8), Buffer.alloc(8)]);
    const differ = async (expected: Buffer, listedNs?: bigint) => [...new Uint32Array((await native!.states(paths, 'LD', expected, ...(listedNs === undefined ? [] : [listedNs]))).buffer.slice(0))];
    assert.deepEqual(await differ(hashes), [], 'unchanged');
    assert.deepEqual(await differ(wrongNames), [1], 'without the moment of the listing, the names are listed');
    assert.deepEqual(await differ(wrongNames, ctimeNs + 10_000_000n), [1], 'listed 10 ms after the last change: listed again');
    assert.deepEqual(await differ(wrongNames, ctimeNs + 1_000_000_000n), [], 'listed 1 s after it: the names cannot have changed with the lstat the same');
    await sleep(20);
    writeFileSync(path.join(dir, 'b'), 'b\n');
    assert.deepEqual(await differ(hashes, ctimeNs + 1_000_000_000n), [0, 1], 'a name added: both lines differ');
  });
});

describe("what a run read, checked as it is stat'ed", () => {
  it('gives the hashes only when each path has the device and inode the run saw and a settled ctime', { skip: !native && 'the addon is not built' }, async () => {
    const ws = tmp();
    writeFileSync(path.join(ws, 'file'), 'x\n');
    mkdirSync(path.join(ws, 'dir'));
    const names = ['file', 'dir', 'nothing-there'].map((n) => path.join(ws, n));
    const paths = Buffer.from(names.join('\0'));
    const [file, dir] = [lstatSync(names[0]!, { bigint: true }), lstatSync(names[1]!, { bigint: true })];
    const ids = (fileIno = Number(file.ino)) => new Float64Array([Number(file.dev), fileIno, Number(dir.dev), Number(dir.ino), -1, 0]);
    const later = file.ctimeNs > dir.ctimeNs ? file.ctimeNs + 1n : dir.ctimeNs + 1n;
    const hashes = await native!.states(paths, 'LLL', 'hashes');
    assert.deepEqual(await native!.states(paths, 'LLL', ids(), later), hashes, 'as seen, settled: the same hashes as without the check');
    assert.equal(await native!.states(paths, 'LLL', ids(), later - 1n), null, 'a ctime not before the limit');
    assert.equal(await native!.states(paths, 'LLL', ids(Number(file.ino) + 1), later), null, 'another inode');
    assert.equal(await native!.states(paths, 'LLL', new Float64Array([-1, 0, ...ids().subarray(2)]), later), null, 'there, where nothing was');
    writeFileSync(path.join(ws, 'nothing-there'), 'now there\n');
    assert.equal(await native!.states(paths, 'LLL', ids(), 2n ** 62n), null, 'something where nothing was');
    assert.throws(() => native!.states(paths, 'LLD', ids(), later), TypeError, 'only stat and lstat lines');
  });

  it('answers a rebuild without the addon too', async () => {
    const ws = tmp();
    mkdirSync(path.join(ws, 'src'));
    writeFileSync(path.join(ws, 'src/a'), 'a\n');
    writeFileSync(path.join(ws, 'bom.yaml'), 'targets:\n  - target: /opt\n    copy:\n      - dirs: [src]\n');
    await settled([ws]); // old enough to be recorded
    const env = { ...process.env, OCCLUM_LOG_LEVEL: '', OCCLUM_BOM_NO_NATIVE: '1', OCCLUM_BOM_CACHE_DIR: path.join(ws, 'cache') };
    const build = () => copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], env);
    const record = () => readdirSync(path.join(ws, 'cache')).filter((f) => f.endsWith('.rec')).map((f) => `${f}:${lstatSync(path.join(ws, 'cache', f)).mtimeMs}`);
    assert.equal(build().code, 0);
    const made = record();
    assert.equal(made.length, 1, 'the run was recorded');
    assert.equal(build().code, 0);
    assert.deepEqual(record(), made, 'the rebuild was answered from the record');
    writeFileSync(path.join(ws, 'src/b'), 'b\n');
    assert.equal(build().code, 0);
    assert.equal(readFileSync(path.join(ws, 'image/opt/src/b'), 'utf8'), 'b\n', 'a file added is copied');
  });
});

describe('a source replaced while the run copies', () => {
  it('is not recorded as what the run copied', async () => {
    const ws = tmp();
    for (const v of ['v1', 'v2 (another size: the quick check would keep a file of the same size and mtime)']) {
      mkdirSync(path.join(ws, v.slice(0, 2)));
      writeFileSync(path.join(ws, v.slice(0, 2), 'file'), `${v}\n`);
    }
    writeFileSync(path.join(ws, 'big'), Buffer.alloc(256 << 20, 1)); // long enough a copy to act during it
    symlinkSync('v1', path.join(ws, 'current'));
    // A directory copy through the link: its files are stat'ed by the scan, not by the dependency analysis.
    writeFileSync(path.join(ws, 'bom.yaml'), 'targets:\n  - target: /\n    copy:\n      - dirs: [current/]\n      - files: [big]\n');
    await settled([ws]); // old enough to be recorded
    const env = { ...process.env, OCCLUM_LOG_LEVEL: '', OCCLUM_BOM_CACHE_DIR: path.join(ws, 'cache') };
    const args = [path.join(repo, 'bin/copy_bom.js'), '-f', 'bom.yaml', '--root', 'image'];
    const running = runAsync(process.execPath, args, { cwd: ws, env });
    // Once current/file is copied (and `big` still is being copied), the link is flipped.
    while (!existsSync(path.join(ws, 'image/file'))) await sleep(2);
    assert.ok(existsSync(lockPath(path.join(ws, 'image'))), 'still running');
    symlinkSync('v2', path.join(ws, 'current.new'));
    renameSync(path.join(ws, 'current.new'), path.join(ws, 'current'));
    assert.equal((await running).code, 0);
    // v1 was copied; v2 is what current/file is now (an old file, by a link flipped mid-run).
    assert.equal(readFileSync(path.join(ws, 'image/file'), 'utf8'), 'v1\n');
    const again = await runAsync(process.execPath, args, { cwd: ws, env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(readFileSync(path.join(ws, 'image/file'), 'utf8'), /^v2 /);
  });
});

describe('a BOM changed just now', () => {
  it('is recorded by its content: touched, the record stands; rewritten with its old size and times, it is a change', async () => {
    const ws = tmp();
    mkdirSync(path.join(ws, 'src'));
    writeFileSync(path.join(ws, 'src/f'), 'x');
    await settled([path.join(ws, 'src')]); // the source is old enough, the BOM is not
    const bom = path.join(ws, 'bom.yaml');
    writeFileSync(bom, 'targets:\n  - target: /a\n    copy:\n      - dirs: [src]\n');
    const env = { ...process.env, OCCLUM_BOM_CACHE_DIR: path.join(ws, 'cache') };
    const record = () => {
      const f = existsSync(path.join(ws, 'cache')) ? readdirSync(path.join(ws, 'cache')).find((n) => n.endsWith('.rec')) : undefined;
      return f ? String(lstatSync(path.join(ws, 'cache', f)).mtimeMs) : 'none';
    };
    const first = copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], env);
    assert.equal(first.code, 0, first.stderr);
    const recorded = record();
    assert.notEqual(recorded, 'none', 'a BOM read just now is recorded: its content is what is compared');
    await sleep(20);
    const now = new Date();
    utimesSync(bom, now, now); // touched, not changed
    const touched = copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], env);
    assert.equal(touched.code, 0, touched.stderr);
    assert.match(touched.stdout, new RegExp(/image digest: \S+/.exec(first.stdout)![0]));
    assert.equal(record(), recorded, 'answered from the record: nothing was redone');
    const { atime, mtime } = statSync(bom);
    writeFileSync(bom, 'targets:\n  - target: /b\n    copy:\n      - dirs: [src]\n'); // same size
    utimesSync(bom, atime, mtime);
    const changed = copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], env);
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(readFileSync(path.join(ws, 'image/b/src/f'), 'utf8'), 'x', 'a full run applied the new BOM');
  });
});

describe('a root named through a link', () => {
  it('is checked where it leads: the link re-pointed is a change', async () => {
    const ws = tmp();
    mkdirSync(path.join(ws, 'real'));
    mkdirSync(path.join(ws, 'other'));
    writeFileSync(path.join(ws, 'f'), 'f');
    writeFileSync(path.join(ws, 'bom.yaml'), 'targets:\n  - target: /bin\n    copy:\n      - files: [f]\n');
    symlinkSync('real', path.join(ws, 'image'));
    await settled([ws]); // old enough to be recorded
    const env = { ...process.env, OCCLUM_BOM_CACHE_DIR: path.join(ws, 'cache') };
    const build = () => copyBom(ws, ['-f', 'bom.yaml', '--root', 'image'], env);
    const record = () => {
      const f = readdirSync(path.join(ws, 'cache')).find((n) => n.endsWith('.rec'));
      return f ? String(lstatSync(path.join(ws, 'cache', f)).mtimeMs) : 'none';
    };
    assert.equal(build().code, 0);
    const kept = record();
    assert.notEqual(kept, 'none');
    assert.equal(build().code, 0);
    assert.equal(record(), kept, 'the rebuild used the record');
    unlinkSync(path.join(ws, 'image'));
    symlinkSync('other', path.join(ws, 'image'));
    assert.equal(build().code, 0);
    assert.equal(readFileSync(path.join(ws, 'other/bin/f'), 'utf8'), 'f', 'the directory the root leads to now is filled');
  });
});
