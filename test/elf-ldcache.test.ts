// ld.so.cache: the host's cache against ldconfig's own listing, and made-up caches for the
// formats and the loader's choices among entries of one name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadLdCache, lookupLdCache, parseLdCache, type CacheMatch } from '../src/elf/index.js';
import { libcmp } from '../src/elf/ldcache.js';

const X86_64 = 0x0303;
const I386 = 0x0003;
const EXT = 1n << 62n;

const match = (over: Partial<CacheMatch> = {}): CacheMatch => ({
  defaultFlags: X86_64,
  otherFlags: [],
  glibcHwcaps: ['x86-64-v4', 'x86-64-v3', 'x86-64-v2'],
  isaLevels: 0b1111,
  legacyAllowed: (1n << 63n) | (0xfn << 48n) | (1n << 1n),
  platformMask: 0xfn << 48n,
  platformBit: null,
  ...over,
});

interface Entry {
  flags: number;
  key: string;
  value: string;
  hwcap?: bigint;
}

/** A "glibc-ld.so.cache1.1" file; `hwcaps` become its glibc-hwcaps extension section. */
function newCache(entries: Entry[], hwcaps: string[] = []): Buffer {
  const strings: string[] = [];
  const stringsAt = 48 + entries.length * 24;
  const offsets = new Map<string, number>();
  let len = 0;
  const str = (s: string) => {
    if (!offsets.has(s)) {
      offsets.set(s, stringsAt + len);
      strings.push(`${s}\0`);
      len += Buffer.byteLength(s) + 1;
    }
    return offsets.get(s)!;
  };
  const rows = entries.map((e) => [e.flags, str(e.key), str(e.value), e.hwcap ?? 0n] as const);
  const hwcapAt = hwcaps.map(str);
  const extAt = Math.ceil((stringsAt + len) / 4) * 4;
  const b = Buffer.alloc(extAt + 8 + 16 + 4 * hwcaps.length);
  b.write('glibc-ld.so.cache1.1', 0, 'latin1');
  b.writeUInt32LE(entries.length, 20);
  b.writeUInt32LE(len, 24);
  b[28] = 2; // little-endian
  b.writeUInt32LE(hwcaps.length > 0 ? extAt : 0, 32);
  rows.forEach(([flags, key, value, hwcap], i) => {
    const at = 48 + i * 24;
    b.writeInt32LE(flags, at);
    b.writeUInt32LE(key, at + 4);
    b.writeUInt32LE(value, at + 8);
    b.writeBigUInt64LE(hwcap, at + 16);
  });
  Buffer.from(strings.join(''), 'latin1').copy(b, stringsAt);
  if (hwcaps.length > 0) {
    b.writeUInt32LE(0xeaa42174, extAt);
    b.writeUInt32LE(1, extAt + 4);
    b.writeUInt32LE(1, extAt + 8); // the glibc-hwcaps section
    b.writeUInt32LE(extAt + 24, extAt + 16);
    b.writeUInt32LE(4 * hwcaps.length, extAt + 20);
    hwcapAt.forEach((o, i) => b.writeUInt32LE(o, extAt + 24 + 4 * i));
  }
  return b;
}

/** The old "ld.so-1.7.0" table, optionally followed by a new-format cache. */
function oldCache(entries: Entry[], then?: Buffer): Buffer {
  const head = Buffer.alloc(16 + entries.length * 12);
  head.write('ld.so-1.7.0', 0, 'latin1');
  head.writeUInt32LE(entries.length, 12);
  let strings = '';
  entries.forEach((e, i) => {
    head.writeInt32LE(e.flags, 16 + i * 12);
    head.writeUInt32LE(strings.length, 16 + i * 12 + 4);
    strings += `${e.key}\0`;
    head.writeUInt32LE(strings.length, 16 + i * 12 + 8);
    strings += `${e.value}\0`;
  });
  if (then) return Buffer.concat([head, Buffer.alloc((8 - (head.length % 8)) % 8), then]);
  return Buffer.concat([head, Buffer.from(strings, 'latin1')]);
}

test("the host's cache answers as ldconfig -p lists it", async () => {
  const cache = await loadLdCache('/etc/ld.so.cache');
  assert.ok(cache, 'the host has an ld.so.cache');
  const { stdout } = await promisify(execFile)('ldconfig', ['-p']);
  const firstPath = new Map<string, string>();
  for (const m of stdout.matchAll(/^\t(\S+) \(libc6,x86-64\) => (.*)$/gm)) {
    if (!firstPath.has(m[1]!)) firstPath.set(m[1]!, m[2]!);
  }
  assert.ok(firstPath.size > 50, `${firstPath.size} names listed`);
  for (const [name, path] of firstPath) assert.equal(lookupLdCache(cache, name, match()), path, name);
  assert.equal(lookupLdCache(cache, 'libdoes-not-exist.so.1', match()), null);
});

test('only entries of the loader ABI are taken; i386 also takes plain ELF entries', () => {
  const cache = parseLdCache(
    newCache([
      { flags: X86_64, key: 'libz.so.1', value: '/lib64/libz.so.1' },
      { flags: I386, key: 'libz.so.1', value: '/lib32/libz.so.1' },
      { flags: 0x0001, key: 'libold.so.1', value: '/lib/libold.so.1' },
    ]),
  )!;
  assert.equal(lookupLdCache(cache, 'libz.so.1', match()), '/lib64/libz.so.1');
  assert.equal(lookupLdCache(cache, 'libz.so.1', match({ defaultFlags: I386, otherFlags: [1] })), '/lib32/libz.so.1');
  assert.equal(lookupLdCache(cache, 'libold.so.1', match({ defaultFlags: I386, otherFlags: [1] })), '/lib/libold.so.1');
  assert.equal(lookupLdCache(cache, 'libold.so.1', match()), null);
});

test('glibc-hwcaps entries compete by subdirectory preference and ISA level', () => {
  const v3 = EXT | (0b100n << 32n) | 1n; // needs ISA level v3, subdirectory #1
  const cache = parseLdCache(
    newCache(
      [
        { flags: X86_64, key: 'libm.so.6', value: '/lib/glibc-hwcaps/x86-64-v2/libm.so.6', hwcap: EXT | 0n },
        { flags: X86_64, key: 'libm.so.6', value: '/lib/glibc-hwcaps/x86-64-v3/libm.so.6', hwcap: v3 },
        { flags: X86_64, key: 'libm.so.6', value: '/lib/libm.so.6' },
      ],
      ['x86-64-v2', 'x86-64-v3'],
    ),
  )!;
  assert.deepEqual(cache.glibcHwcaps, ['x86-64-v2', 'x86-64-v3']);
  assert.equal(lookupLdCache(cache, 'libm.so.6', match()), '/lib/glibc-hwcaps/x86-64-v3/libm.so.6');
  assert.equal(lookupLdCache(cache, 'libm.so.6', match({ isaLevels: 0b11 })), '/lib/glibc-hwcaps/x86-64-v2/libm.so.6');
  assert.equal(lookupLdCache(cache, 'libm.so.6', match({ glibcHwcaps: ['x86-64-v2'] })), '/lib/glibc-hwcaps/x86-64-v2/libm.so.6');
  assert.equal(lookupLdCache(cache, 'libm.so.6', match({ glibcHwcaps: [] })), '/lib/libm.so.6');
});

test('legacy hwcap entries are taken when the CPU has the capability and the platform matches', () => {
  const cache = parseLdCache(
    newCache([
      { flags: X86_64, key: 'libq.so.1', value: '/lib/haswell/libq.so.1', hwcap: 1n << 50n },
      { flags: X86_64, key: 'libq.so.1', value: '/lib/x86_64/libq.so.1', hwcap: 1n << 1n },
      { flags: X86_64, key: 'libq.so.1', value: '/lib/libq.so.1' },
    ]),
  )!;
  assert.equal(lookupLdCache(cache, 'libq.so.1', match()), '/lib/x86_64/libq.so.1');
  assert.equal(lookupLdCache(cache, 'libq.so.1', match({ platformBit: 1n << 50n })), '/lib/haswell/libq.so.1');
  assert.equal(lookupLdCache(cache, 'libq.so.1', match({ legacyAllowed: 0n })), '/lib/libq.so.1');
});

test('binary search over names compared with numbers as numbers', () => {
  assert.ok(libcmp('libfoo.so.10', 'libfoo.so.9') > 0);
  assert.ok(libcmp('libfoo.so.9', 'libfoo.so.10') < 0);
  assert.equal(libcmp('libx.so.01', 'libx.so.1'), 0);
  assert.ok(libcmp('libx.so', 'libx.so.1') < 0);
  assert.ok(libcmp('libb.so', 'liba.so') > 0);
  // ldconfig writes names in decreasing order.
  const names = ['libz.so.1', 'libfoo.so.10', 'libfoo.so.9', 'libfoo.so.2', 'libc.so.6', 'liba.so'];
  const cache = parseLdCache(newCache(names.map((key) => ({ flags: X86_64, key, value: `/lib/${key}` }))))!;
  for (const name of names) assert.equal(lookupLdCache(cache, name, match()), `/lib/${name}`);
  assert.equal(lookupLdCache(cache, 'libfoo.so.3', match()), null);
});

test('the old format, alone or with the new one after it', () => {
  const entries = [{ flags: X86_64, key: 'libold.so.1', value: '/old/libold.so.1' }];
  const alone = parseLdCache(oldCache(entries))!;
  assert.equal(alone.newFormat, false);
  assert.equal(lookupLdCache(alone, 'libold.so.1', match()), '/old/libold.so.1');
  const both = parseLdCache(oldCache(entries, newCache([{ flags: X86_64, key: 'libnew.so.1', value: '/new/libnew.so.1' }])))!;
  assert.equal(both.newFormat, true);
  assert.equal(lookupLdCache(both, 'libnew.so.1', match()), '/new/libnew.so.1');
  assert.equal(lookupLdCache(both, 'libold.so.1', match()), null);
});

test('damaged caches are refused or read as far as they go, without exceptions', () => {
  const good = newCache(
    [
      { flags: X86_64, key: 'libb.so.1', value: '/lib/libb.so.1' },
      { flags: X86_64, key: 'liba.so.1', value: '/lib/liba.so.1', hwcap: EXT },
    ],
    ['x86-64-v2'],
  );
  assert.equal(parseLdCache(good.subarray(0, 60)), null, 'fewer entries than announced');
  assert.equal(parseLdCache(Buffer.from('not a cache')), null);
  for (let len = 0; len <= good.length; len++) {
    const cache = parseLdCache(good.subarray(0, len));
    if (cache) lookupLdCache(cache, 'liba.so.1', match());
  }
  for (let at = 0; at < good.length; at++) {
    const bad = Buffer.from(good);
    bad[at] = bad[at]! ^ 0xff;
    const cache = parseLdCache(bad);
    if (cache) lookupLdCache(cache, 'libb.so.1', match());
  }
});
