// The house is one way (.dependency-cruiser.cjs): no import cycle in src/, and no low module
// (file operations, ELF reading, shared helpers) or planning stage importing a stage above it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('src/ has no import cycle and imports go one way', () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: repo, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // The cruise read the house (type imports too): a check that saw nothing would pass as well.
  const seen = /(\d+) modules, (\d+) dependencies cruised/.exec(r.stdout);
  assert.ok(seen && Number(seen[1]) >= 70 && Number(seen[2]) >= 300, r.stdout);
});
