// The ELF cache (src/elf/cache.ts): a rebuild reads no ELF file again, yet a file whose bytes
// changed is read again even with its old size and mtime put back (the ctime says so), and
// the answers with the cache are the answers without it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ElfCache } from '../src/elf/cache.ts';
import { copyBom, hasCommand, settled, tmp } from './helpers.ts';


describe('the ELF cache', { skip: !hasCommand('gcc') && 'gcc is not installed' }, () => {
  it('reads a changed file again, though it has its old size and mtime', async () => {
    const dir = tmp();
    const cache = path.join(dir, 'cache');
    const env = { ...process.env, OCCLUM_BOM_CACHE_DIR: cache };
    for (const lib of ['one', 'two']) {
      writeFileSync(path.join(dir, `${lib}.c`), `int ${lib}(void) { return 1; }\n`);
      execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(dir, `lib${lib}.so`), path.join(dir, `${lib}.c`)]);
      writeFileSync(path.join(dir, `p${lib}.c`), `int ${lib}(void);\nint main(void) { return ${lib}(); }\n`);
      execFileSync('gcc', ['-o', path.join(dir, `p${lib}`), path.join(dir, `p${lib}.c`), `-L${dir}`, `-l${lib}`, `-Wl,-rpath,${dir}`]);
    }
    // Both programs the same size, so only the content tells them apart.
    const size = Math.max(statSync(path.join(dir, 'pone')).size, statSync(path.join(dir, 'ptwo')).size);
    for (const p of ['pone', 'ptwo']) truncateSync(path.join(dir, p), size);
    copyFileSync(path.join(dir, 'pone'), path.join(dir, 'prog'));
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /bin\n    copy:\n      - files: [prog]\n');
    // A file changed within the last two seconds is not kept (it could change again within the same ctime tick).
    await settled([dir]);
    const first = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /libone\.so/);
    const files = readdirSync(cache).sort();
    assert.deepEqual(files.map((f) => f.replace(/[0-9a-f]{16}/, 'X')), ['elf-X.analysis.json', 'elf-X.files.json']);
    assert.match(readFileSync(path.join(cache, files[1]!), 'utf8'), /"needed":\["libone\.so"/);

    const { mtime } = statSync(path.join(dir, 'prog'));
    writeFileSync(path.join(dir, 'prog'), readFileSync(path.join(dir, 'ptwo')));
    utimesSync(path.join(dir, 'prog'), mtime, mtime);
    const second = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /libtwo\.so/);
    assert.doesNotMatch(second.stdout, /libone\.so/);
  });

  it('gives the plan the analysis without it gives, and survives a damaged cache file', () => {
    const dir = tmp();
    const cache = path.join(dir, 'cache');
    const programs = ['/usr/bin/ls', '/usr/bin/python3', '/usr/bin/redis-server'].filter(existsSync);
    writeFileSync(path.join(dir, 'bom.yaml'), `targets:\n  - target: /bin\n    copy:\n      - files: [${programs.join(', ')}]\n      - dirs: [/usr/lib/x86_64-linux-gnu/gconv]\n`);
    const plan = (cacheDir: string) => {
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run'], { ...process.env, OCCLUM_BOM_CACHE_DIR: cacheDir });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const without = plan('');
    assert.equal(existsSync(cache), false);
    assert.equal(plan(cache), without, 'cold cache');
    const files = readdirSync(cache).map((f) => path.join(cache, f));
    assert.equal(files.length, 3); // what ELF files said, the files that are not ELF (by identity), the analysis
    const saved = files.map((f) => statSync(f).mtimeMs);
    assert.equal(plan(cache), without, 'warm cache');
    assert.deepEqual(files.map((f) => statSync(f).mtimeMs), saved, 'a run that learns nothing new does not rewrite the cache');
    for (const f of files) writeFileSync(f, '{"version":2,"entries":{"/usr/bin/ls":');
    assert.equal(plan(cache), without, 'damaged cache');
    for (const f of files) writeFileSync(f, '{"version":2,"entries":"x","key":1,"seen":5,"answer":7}');
    assert.equal(plan(cache), without, 'cache of the wrong shape');
  });

  it('runs the analysis again when a path it looked at changes: a library appears earlier in the search', async () => {
    const dir = tmp();
    const cache = path.join(dir, 'cache');
    const env = { ...process.env, OCCLUM_BOM_CACHE_DIR: cache, OCCLUM_LOG_LEVEL: 'debug' };
    const reused = /dependencies: as in the last run/;
    for (const d of ['first', 'second']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'foo.c'), 'int foo(void) { return 1; }\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(dir, 'second/libfoo.so'), path.join(dir, 'foo.c')]);
    writeFileSync(path.join(dir, 'prog.c'), 'int foo(void);\nint main(void) { return foo(); }\n');
    execFileSync('gcc', ['-o', path.join(dir, 'prog'), path.join(dir, 'prog.c'), `-L${dir}/second`, '-lfoo', `-Wl,--enable-new-dtags,-rpath,${dir}/first:${dir}/second`]);
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /bin\n    copy:\n      - files: [prog]\n');
    await settled([dir]); // older than the two seconds in which a change could hide in the same ctime tick
    const plan = (kept: boolean) => {
      const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image', '--dry-run'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(reused.test(r.stderr), kept, r.stderr);
      return r.stdout;
    };
    assert.match(plan(false), new RegExp(`copy lib ${dir}/second/libfoo\\.so`));
    assert.ok(readdirSync(cache).some((f) => f.endsWith('.analysis.json')), 'the analysis was kept');
    assert.match(plan(true), new RegExp(`copy lib ${dir}/second/libfoo\\.so`), 'the kept analysis');
    // A cache file others could have written is not trusted (it names files to copy).
    const analysisFile = path.join(cache, readdirSync(cache).find((f) => f.endsWith('.analysis.json'))!);
    assert.equal(statSync(analysisFile).mode & 0o777, 0o600);
    chmodSync(analysisFile, 0o622);
    plan(false);
    plan(true);
    copyFileSync(path.join(dir, 'second/libfoo.so'), path.join(dir, 'first/libfoo.so'));
    const after = plan(false);
    assert.match(after, new RegExp(`copy lib ${dir}/first/libfoo\\.so`));
    assert.doesNotMatch(after, /second\/libfoo/);
  });
});

describe("the ELF cache's set of files that are not ELF", () => {
  it('finds each identity kept, in order of inode, after a save; inodes too large for one number are sorted too', () => {
    const base = path.join(tmp(), 'elf-test');
    // dev, ino, size, mtime sec, nsec, ctime sec, nsec (a ctime long settled); the same file twice, and inodes past 2^50.
    const ids = [
      [1, 9, 10, 100, 0, 100, 0],
      [1, 2 ** 51 + 2, 10, 100, 0, 100, 0],
      [1, 3, 10, 100, 0, 100, 0],
      [2, 3, 11, 100, 0, 100, 0],
      [1, 9, 10, 100, 0, 100, 0],
      [1, 2 ** 51, 10, 100, 0, 100, 0],
    ];
    for (const large of [false, true]) {
      const kept = large ? ids : ids.filter((id) => id[1]! < 2 ** 50);
      const cache = new ElfCache(base);
      for (const id of kept) cache.rememberPlain(id);
      cache.save();
      const bytes = readFileSync(`${base}.plain.bin`);
      const stored = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      const inodes = Array.from({ length: (stored.length - 1) / 7 }, (_, r) => stored[1 + 7 * r + 1]!);
      assert.deepEqual(inodes, [...inodes].sort((a, b) => a - b), 'in order of inode');
      assert.equal(inodes.length, new Set(kept.map((id) => id.join())).size, 'each identity once');
      const again = new ElfCache(base);
      for (const id of kept) assert.ok(again.isPlain(id), `${id} is known`);
      assert.ok(!again.isPlain([1, 3, 10, 100, 0, 100, 1]), 'another ctime is another file');
    }
  });
});
