// The ELF reader on hand-made files: both classes and byte orders, and damaged input, which
// must give a reason and never an exception.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { EM_386, EM_X86_64, ET_DYN, ET_EXEC, isElf, readElfFile } from '../src/elf/index.js';

const EM_PPC64 = 21;
const DT = { NEEDED: 1, STRTAB: 5, SONAME: 14, RPATH: 15, RUNPATH: 29, FLAGS_1: 0x6ffffffb };

interface Spec {
  bits: 32 | 64;
  le: boolean;
  machine: number;
  type?: number;
  interp?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: number;
  /** Moves DT_STRTAB by this much from the strings (to make names point outside the file). */
  strtabShift?: number;
  /** Points DT_STRTAB at the file's last byte. */
  strtabAtEnd?: boolean;
}

const BASE = 0x400000;

/** An ELF file: header, program headers (PT_INTERP, one PT_LOAD for all, PT_DYNAMIC), strings, dynamic section. */
function buildElf(s: Spec): Buffer {
  const w = s.bits === 64 ? 8 : 4;
  const ehsize = s.bits === 64 ? 64 : 52;
  const phentsize = s.bits === 64 ? 56 : 32;
  const phnum = (s.interp === undefined ? 0 : 1) + 2;
  const interpOff = ehsize + phnum * phentsize;
  const interp = s.interp === undefined ? Buffer.alloc(0) : Buffer.from(`${s.interp}\0`);
  const strOff = interpOff + interp.length;
  const strings: Buffer[] = [Buffer.from([0])];
  let strLen = 1;
  const str = (x: string) => {
    const at = strLen;
    strings.push(Buffer.from(`${x}\0`));
    strLen += Buffer.byteLength(x) + 1;
    return at;
  };
  const dyn: [number, number][] = [];
  for (const n of s.needed ?? []) dyn.push([DT.NEEDED, str(n)]);
  if (s.soname !== undefined) dyn.push([DT.SONAME, str(s.soname)]);
  if (s.rpath !== undefined) dyn.push([DT.RPATH, str(s.rpath)]);
  if (s.runpath !== undefined) dyn.push([DT.RUNPATH, str(s.runpath)]);
  if (s.flags1 !== undefined) dyn.push([DT.FLAGS_1, s.flags1]);
  const dynOff = Math.ceil((strOff + strLen) / 8) * 8;
  const size = dynOff + (dyn.length + 2) * 2 * w;
  dyn.push([DT.STRTAB, BASE + (s.strtabAtEnd ? size - 1 : strOff + (s.strtabShift ?? 0))], [0, 0]);

  const b = Buffer.alloc(size);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (at: number, x: number) => v.setUint16(at, x, s.le);
  const u32 = (at: number, x: number) => v.setUint32(at, x, s.le);
  const word = (at: number, x: number) => (w === 8 ? v.setBigUint64(at, BigInt(x), s.le) : u32(at, x));
  b.set([0x7f, 0x45, 0x4c, 0x46, s.bits === 64 ? 2 : 1, s.le ? 1 : 2, 1, 0]);
  u16(16, s.type ?? ET_DYN);
  u16(18, s.machine);
  u32(20, 1);
  word(s.bits === 64 ? 32 : 28, ehsize); // e_phoff
  u16(s.bits === 64 ? 52 : 40, ehsize);
  u16(s.bits === 64 ? 54 : 42, phentsize);
  u16(s.bits === 64 ? 56 : 44, phnum);
  let ph = ehsize;
  const phdr = (type: number, offset: number, filesz: number) => {
    u32(ph, type);
    if (s.bits === 64) {
      word(ph + 8, offset);
      word(ph + 16, BASE + offset);
      word(ph + 32, filesz);
      word(ph + 40, filesz);
      word(ph + 48, type === 1 ? 0x1000 : 8);
    } else {
      word(ph + 4, offset);
      word(ph + 8, BASE + offset);
      word(ph + 16, filesz);
      word(ph + 20, filesz);
      word(ph + 28, type === 1 ? 0x1000 : 8);
    }
    ph += phentsize;
  };
  if (s.interp !== undefined) phdr(3, interpOff, interp.length);
  phdr(1, 0, size);
  phdr(2, dynOff, dyn.length * 2 * w);
  interp.copy(b, interpOff);
  Buffer.concat(strings).copy(b, strOff);
  dyn.forEach(([tag, val], i) => {
    word(dynOff + i * 2 * w, tag);
    word(dynOff + i * 2 * w + w, val);
  });
  return b;
}

let dir: string;
let n = 0;
async function file(bytes: Uint8Array): Promise<string> {
  const path = `${dir}/f${n++}`;
  await writeFile(path, bytes);
  return path;
}

before(async () => {
  dir = await mkdtemp(`${tmpdir()}/elf-read-`);
});
after(() => rm(dir, { recursive: true, force: true }));

const FULL: Omit<Spec, 'bits' | 'le' | 'machine'> = {
  interp: '/lib/ld.so.1',
  needed: ['libfoo.so.1', 'libbar.so'],
  soname: 'libme.so.2',
  runpath: '$ORIGIN/../lib',
  flags1: 0x800,
};

for (const [bits, le, machine] of [
  [32, true, EM_386],
  [64, true, EM_X86_64],
  [32, false, 20 /* EM_PPC */],
  [64, false, EM_PPC64],
] as const) {
  test(`reads a ${bits}-bit ${le ? 'little' : 'big'}-endian file`, async () => {
    const r = await readElfFile(await file(buildElf({ bits, le, machine, ...FULL })));
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const { header, interpreter, dynamic, loads } = r.elf;
    assert.deepEqual(
      [header.bits, header.littleEndian, header.machine, header.type, header.osabi],
      [bits, le, machine, ET_DYN, 0],
    );
    assert.equal(interpreter, '/lib/ld.so.1');
    assert.deepEqual(dynamic, {
      needed: ['libfoo.so.1', 'libbar.so'],
      soname: 'libme.so.2',
      rpath: null,
      runpath: '$ORIGIN/../lib',
      flags1: 0x800,
    });
    assert.equal(loads.length, 1);
    assert.equal(loads[0]!.vaddr, BigInt(BASE));
  });
}

test('an executable without PT_INTERP or names', async () => {
  const r = await readElfFile(await file(buildElf({ bits: 64, le: true, machine: EM_X86_64, type: ET_EXEC })));
  assert.ok(r.ok);
  assert.equal(r.elf.header.type, ET_EXEC);
  assert.equal(r.elf.interpreter, null);
  assert.deepEqual(r.elf.dynamic, { needed: [], soname: null, rpath: null, runpath: null, flags1: 0 });
});

test('DT_RPATH is read beside DT_RUNPATH', async () => {
  const r = await readElfFile(
    await file(buildElf({ bits: 64, le: true, machine: EM_X86_64, rpath: '/a:/b', runpath: '/c' })),
  );
  assert.ok(r.ok);
  assert.equal(r.elf.dynamic?.rpath, '/a:/b');
  assert.equal(r.elf.dynamic?.runpath, '/c');
});

test('isElf looks at the magic only', async () => {
  assert.equal(await isElf(await file(buildElf({ bits: 32, le: true, machine: EM_386 }))), true);
  assert.equal(await isElf(await file(Buffer.from('\x7fELF'))), true);
  assert.equal(await isElf(await file(Buffer.from('#!/bin/sh\n'))), false);
  assert.equal(await isElf(await file(Buffer.alloc(0))), false);
  assert.equal(await isElf(`${dir}/absent`), false);
});

test('reasons for files that cannot be analysed', async () => {
  const good = buildElf({ bits: 64, le: true, machine: EM_X86_64, ...FULL });
  const cases: [string, Uint8Array | string][] = [
    ['not an ELF file', Buffer.from('#!/bin/sh\necho hello\n')],
    ['not an ELF file', Buffer.alloc(0)],
    ['truncated ELF header', good.subarray(0, 40)],
    ['unknown ELF class 7', Buffer.concat([good.subarray(0, 4), Buffer.from([7]), good.subarray(5)])],
    ['program headers beyond end of file', good.subarray(0, 100)],
    ['dynamic section beyond end of file', good.subarray(0, good.length - 4)],
    [
      'dynamic string table: offset beyond end of file',
      buildElf({ bits: 64, le: true, machine: EM_X86_64, needed: ['x'], strtabAtEnd: true }),
    ],
    ['not a regular file', dir],
  ];
  for (const [reason, bytes] of cases) {
    const r = await readElfFile(typeof bytes === 'string' ? bytes : await file(bytes));
    assert.deepEqual(r, { ok: false, reason }, reason);
  }
});

test('DT_STRTAB outside the loaded segments is refused', async () => {
  const b = buildElf({ bits: 32, le: false, machine: 20, needed: ['x'], strtabShift: -BASE - 0x1000 });
  const r = await readElfFile(await file(b));
  assert.deepEqual(r, { ok: false, reason: 'DT_STRTAB is not inside a PT_LOAD segment' });
});

test('every truncation and thousands of corruptions give a result, never an exception', async () => {
  const samples = [
    buildElf({ bits: 64, le: true, machine: EM_X86_64, ...FULL }),
    buildElf({ bits: 32, le: false, machine: 20, ...FULL }),
  ];
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  let ok = 0;
  let refused = 0;
  for (const good of samples) {
    for (let len = 0; len < good.length; len++) {
      const r = await readElfFile(await file(good.subarray(0, len)));
      assert.equal(r.ok, false, `a file cut at ${len} bytes cannot be whole`);
    }
    for (let i = 0; i < 1500; i++) {
      const bad = Buffer.from(good);
      for (let k = 1 + Math.floor(random() * 4); k > 0; k--) {
        bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      }
      const r = await readElfFile(await file(bad));
      if (r.ok) ok++;
      else {
        assert.equal(typeof r.reason, 'string');
        refused++;
      }
    }
  }
  assert.ok(ok > 0 && refused > 0, `${ok} read, ${refused} refused`);
});
