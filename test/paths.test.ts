// Path helpers of the plan: resolved() is path.resolve() with a shortcut, so it must agree with it everywhere.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolved } from '../src/plan/paths.ts';

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
