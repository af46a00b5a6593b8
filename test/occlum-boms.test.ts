// Every BOM file of the Occlum repository must load and validate (they name host files
// that do not exist here, so only the format is checked, with the templates as include dir).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collectBoms } from '../src/bom/collect.ts';
import { checkDestinations } from '../src/plan/resolve.ts';
import { shared } from './helpers.ts';

const corpus = path.join(shared, 'occlum-boms');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return name.endsWith('.yaml') ? [p] : [];
  });
}

describe('the upstream BOM corpus', { skip: !statSync(corpus, { throwIfNoEntry: false }) && 'shared/occlum-boms is not there' }, () => {
  const files = yamlFiles(corpus);
  // The demo scripts set these; any value will do for the format.
  const env: Record<string, string> = {};
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\$\{?([A-Za-z0-9_]+)/g)) env[m[1]!] = `/demo/${m[1]}`;

  it('holds the whole corpus', () => assert.ok(files.length >= 70, `found ${files.length} files`));
  for (const file of files) {
    it(path.relative(corpus, file), async () => {
      const boms = await collectBoms(file, [path.join(corpus, 'etc/template')], env);
      checkDestinations(boms);
      assert.ok(boms.length >= 1);
    });
  }
});
