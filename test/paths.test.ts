// Small helpers the plan leans on: resolved() is path.resolve() with a shortcut and earlierThan() a
// comparison of times with one, so each must agree with the slow way everywhere.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolved } from '../src/plan/paths.ts';
import { earlierThan, splitNs } from '../src/fsops/times.ts';
import { parentOf } from '../src/plan/resolve.ts';

describe('resolved', () => {
  it('gives what path.resolve gives, for every path made of awkward parts', () => {
    const parts = ['', '.', '..', 'a', 'b.c', '..d', '.e', 'f..', '...'];
    let checked = 0;
    const check = (p: string) => {
      assert.equal(resolved(p), path.resolve(p), JSON.stringify(p));
      checked++;
    };
    for (const lead of ['', '/']) {
      for (const x of parts) for (const y of parts) for (const z of parts) check(`${lead}${x}/${y}/${z}`);
      for (const x of parts) check(`${lead}${x}`);
    }
    for (const p of ['/', '//', '/a/', '/a//b', '/a/./b', '/a/../b', '/a/b/.', '/a/b/..', '/usr/lib/x86_64-linux-gnu/libc.so.6']) check(p);
    assert.ok(checked > 1400);
  });
});

describe('earlierThan', () => {
  it('says what comparing the exact nanoseconds says, around the limit and far from it', () => {
    const NS = 1_000_000_000n;
    const limits = [0n, 1n, -1n, 1_796_000_000n * NS + 123_456_789n, -5n * NS - 1n, 1_796_000_000n * NS];
    let checked = 0;
    for (const limit of limits) {
      const test = earlierThan(limit);
      for (const offset of [-10n * NS, -3n * NS - 1n, -2n * NS, -NS - 1n, -NS, -1n, 0n, 1n, NS - 1n, NS, 2n * NS + 1n, 3n * NS, 10n * NS]) {
        const t = limit + offset;
        const [sec, nsec] = splitNs(t);
        // Whole seconds as the callers have them: floored (timespec) or truncated (decimal text).
        for (const s of [sec, Number(t / NS)]) {
          let made = false;
          const answer = test(s, () => ((made = true), t));
          assert.equal(answer, t < limit, `${t} before ${limit} (sec ${s}, nsec ${nsec})`);
          if (offset <= -10n * NS || offset >= 10n * NS) assert.equal(made, false, 'no BigInt far from the limit');
          checked++;
        }
      }
    }
    assert.ok(checked > 100);
  });
});

describe('parentOf (where relative sources are found)', () => {
  it('is the parent as upstream reads the root: `.` and empty parts dropped, `..` kept', () => {
    const cases: [string, string][] = [
      ['image', '.'],
      ['image/', '.'],
      ['image/.', '.'],
      ['./image', '.'],
      ['a/image', 'a'],
      ['a//image/./', 'a'],
      ['sym/../image', 'sym/..'],
      ['/srv/image', '/srv'],
      ['/image', '/'],
      ['//image/.', '/'],
      ['../image', '..'],
    ];
    for (const [root, parent] of cases) assert.equal(parentOf(root), parent, root);
  });
});
