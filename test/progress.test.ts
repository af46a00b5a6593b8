// The progress display: on a terminal only, redrawn in place, cleared at the end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newStats } from '../src/fsops/copy.ts';
import { Progress } from '../src/progress.ts';
import { copyBom, tmp, writeTree } from './helpers.ts';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

function terminal() {
  const out = { isTTY: true, text: '', write(s: string) { this.text += s; return true; } };
  return out;
}

describe('progress display', () => {
  it('shows the phase and the files and bytes done, then clears its line', async () => {
    const out = terminal();
    const p = new Progress(out, true);
    p.phase('scanning');
    const stats = newStats();
    p.copying(stats, { files: 10, bytes: 20 * 1024 * 1024 });
    stats.files = 4;
    stats.unchanged = 1;
    stats.bytes = 8 * 1024 * 1024;
    // Redrawn by its timer from the stats it was given: wait for that redraw, not for a time.
    while (!out.text.includes('copy: 5/10')) await new Promise((r) => setTimeout(r, 10));
    p.done();
    assert.match(out.text, /^\r\x1b\[Kscanning\.\.\.\r\x1b\[Kcopy: 0\/10 files, 0 MB written of at most 20 MB/);
    assert.match(out.text, /\r\x1b\[Kcopy: 5\/10 files, 8 MB written of at most 20 MB\r\x1b\[K$/);
  });

  it('writes nothing when disabled', () => {
    const out = terminal();
    const p = new Progress(out, false);
    p.phase('scanning');
    p.copying(newStats(), { files: 1, bytes: 1 });
    p.done();
    assert.equal(out.text, '');
  });

  it('copy_bom prints no progress when stderr is not a terminal (scripts see upstream output)', () => {
    const dir = tmp();
    writeTree(dir, { 'src/a': 'a' });
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /\n    copy:\n      - dirs: [src]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  });
});
