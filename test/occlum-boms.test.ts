// Every BOM file of the Occlum repository must load and validate (they name host files
// that do not exist here, so only the format is checked, with the templates as include dir).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collectBoms } from '../src/bom/collect.ts';
import { checkDestinations } from '../src/plan/resolve.ts';
import { copyBom, shared, tmp } from './helpers.ts';

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
  it("tools/copy_bom/example.yaml fails as upstream's does: 255, its hashed Cargo.toml missing, before any directory", () => {
    const dir = tmp();
    copyFileSync(path.join(corpus, 'tools/copy_bom/example.yaml'), path.join(dir, 'example.yaml'));
    const r = copyBom(dir, ['-f', 'example.yaml', '--root', 'image', '--include-dir', path.join(corpus, 'etc/template')]);
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr.split('\n')[0]!, /^copy_bom: error: example\.yaml:31:13: cannot read Cargo\.toml to check its hash: no such file or directory$/);
    assert.ok(!existsSync(path.join(dir, 'image')));
  });
  for (const file of files) {
    it(path.relative(corpus, file), async () => {
      const boms = await collectBoms(file, [path.join(corpus, 'etc/template')], env);
      checkDestinations(boms);
      assert.ok(boms.length >= 1);
    });
  }
});
