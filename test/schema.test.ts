// `occlum-bom schema`: the shipped schema/bom.schema.json is exactly what the command generates
// from the loader's definition, and an independent validator (ajv, draft 2020-12) accepts every
// BOM the project ships or that Occlum's repository has, rejects malformed ones, and accepts
// whatever the loader itself accepts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { parseBom } from '../src/bom/load.ts';
import { bomJsonSchema, bomJsonSchemaText } from '../src/cli/commands/schema.ts';
import { repo, run, shared, tmp } from './helpers.ts';

const shipped = path.join(repo, 'schema', 'bom.schema.json');

// Strict: an unknown keyword or a malformed schema is an error, not a silent pass. Union types
// ("string or number") are what the schema means, so they are allowed.
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
const validate = ajv.compile(JSON.parse(readFileSync(shipped, 'utf8')) as object);
const errorsOf = (doc: unknown) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));

function yamlFiles(dir: string, recursive: boolean): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) return recursive ? yamlFiles(p, true) : [];
      return /\.ya?ml$/.test(name) ? [p] : [];
    });
}

describe('the shipped schema', () => {
  it('is the generated one (run `npm run schema` after changing src/bom/schema.ts)', () => {
    assert.equal(readFileSync(shipped, 'utf8'), bomJsonSchemaText());
  });

  it('is what `occlum-bom schema` prints and writes', () => {
    const r = run('occlum-bom', ['schema']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(shipped, 'utf8'));
    const out = path.join(tmp(), 'bom.schema.json');
    const w = run('occlum-bom', ['schema', '--output', out]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), r.stdout);
  });

  it('carries the descriptions of the definition, and its draft', () => {
    const s = bomJsonSchema() as { $schema: string; title: string; properties: Record<string, { description?: string }> };
    assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(s.title);
    assert.equal(s.properties.includes?.description, 'BOM files to include.');
    // A nullable field shows its description at the property (editors' hover).
    const text = JSON.stringify(s);
    assert.match(text, /"from":\{"description":"Directory the names below are relative to [^"]*","anyOf"/);
    assert.match(text, /"rename":\{"description":"Name of the copy inside the target directory\.","anyOf"/);
  });
});

describe('BOM files validate against it', () => {
  const ours = [
    ...yamlFiles(path.join(repo, 'examples'), false),
    ...yamlFiles(path.join(repo, 'examples', 'musl'), false),
    ...yamlFiles(path.join(repo, 'templates'), false),
  ];
  const upstream = yamlFiles(path.join(shared, 'occlum-boms'), true);

  it('finds the files', () => {
    assert.ok(ours.length >= 6, ours.join(' '));
    assert.ok(upstream.length >= 70 || upstream.length === 0, `${upstream.length} upstream BOMs`);
  });
  for (const file of [...ours, ...upstream]) {
    it(path.relative(path.dirname(repo), file), () => {
      assert.deepEqual(errorsOf(parseYaml(readFileSync(file, 'utf8'))), []);
    });
  }
});

describe('malformed BOMs are rejected', () => {
  const cases: [string, string][] = [
    ['an unknown top-level key', 'target:\n  - target: /bin\n'],
    ['a typo in a target', 'targets:\n  - target: /bin\n    mkdir: [x]\n'],
    ['an unknown key in a files entry', 'targets:\n  - target: /bin\n    copy:\n      - files:\n          - name: a\n            hashh: x\n'],
    ['a map where a list is expected', 'includes:\n  base: base.yaml\n'],
    ['a list where a name is expected', 'targets:\n  - target: [a, b]\n'],
    ['a string where a boolean is expected', 'targets:\n  - target: /bin\n    copy:\n      - files:\n          - {name: a, autodep: "no"}\n'],
    ['a target without `target`', 'targets:\n  - mkdirs: [a]\n'],
    ['an empty name', 'targets:\n  - target: /bin\n    mkdirs: [""]\n'],
    ['a link without linkname', 'targets:\n  - target: /bin\n    createlinks:\n      - src: /x\n'],
  ];
  for (const [what, text] of cases) {
    it(what, () => {
      assert.notDeepEqual(errorsOf(parseYaml(text)), [], 'the schema accepts it');
      assert.throws(() => parseBom(text, 'case.yaml', {}), 'the loader accepts it');
    });
  }
});

describe('the schema accepts what the loader accepts', () => {
  it('YAML numbers where names are expected, nulls, an empty document', () => {
    for (const text of [
      'targets:\n  - target: 1.10\n    mkdirs: [2, 0x1F, 1e3]\n    copy:\n      - from: 3\n        files: [{name: 4, rename: 5.0}]\n',
      'includes:\nexcludes: ~\ntargets:\n  - target: /\n    mkdirs:\n    createlinks: null\n    copy:\n',
      '# only a comment\n',
      '',
    ]) {
      parseBom(text, 'case.yaml', {});
      assert.deepEqual(errorsOf(parseYaml(text) ?? null), [], text);
    }
  });

  it('is more permissive only where JSON Schema cannot follow: a copy entry with none of from, dirs, files', () => {
    const text = 'targets:\n  - target: /bin\n    copy:\n      - {from: null}\n';
    assert.throws(() => parseBom(text, 'case.yaml', {}), /at least one of `from`, `dirs` or `files`/);
    assert.deepEqual(errorsOf(parseYaml(text)), []);
  });

  it('on generated BOMs: loader accepts <=> schema accepts, but for that one refinement', () => {
    const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 4 });
    // Valid names, YAML numbers, and values of the wrong kind.
    const name = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('bin', 'lib/x86_64-linux-gnu', '/opt/app', 'dir/', '*.so', 'a b') },
      { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.constantFrom(1.5, -0.25)) },
      { weight: 1, arbitrary: fc.constantFrom('', true, [], {}, { name: 'x' }) },
    );
    const bool = fc.oneof({ weight: 5, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom('yes', 0) });
    const list = <T>(item: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 8, arbitrary: maybe(fc.array(item, { maxLength: 3 })) }, { weight: 1, arbitrary: fc.constantFrom('x', { a: 1 }) });
    const opt = { requiredKeys: [] as never[] };
    const hash = maybe(fc.constant('9F86D081884C7D659A2FEAE0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08'));
    // A key spelled wrong, in one record of ten.
    const withTypo = <T extends object>(record: fc.Arbitrary<T>, typo: string) =>
      fc
        .tuple(record, fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: name }))
        .map(([r, v]) => (v === undefined ? r : { ...r, [typo]: v }));
    const file = fc.oneof(name, withTypo(fc.record({ name, hash, autodep: maybe(bool), rename: maybe(name), optional: maybe(bool) }, opt), 'nmae'));
    const dir = fc.oneof(name, fc.record({ name, optional: maybe(bool) }, opt));
    const source = fc.record({ from: maybe(name), dirs: list(dir), files: list(file) }, opt);
    const link = fc.record({ src: name, linkname: name }, opt);
    const target = withTypo(fc.record({ target: name, mkdirs: list(name), createlinks: list(link), copy: list(source) }, opt), 'mkdir');
    const bom = fc.record({ includes: list(name), excludes: list(name), targets: list(target) }, opt);

    let accepted = 0;
    fc.assert(
      fc.property(bom, (doc) => {
        const text = toYaml(doc);
        let loader = true;
        try {
          parseBom(text, 'generated.yaml', {});
        } catch {
          loader = false;
        }
        const schema = errorsOf(parseYaml(text) ?? null).length === 0;
        if (loader) accepted++;
        if (loader) assert.ok(schema, `the loader accepts, the schema rejects:\n${text}${errorsOf(parseYaml(text)).join('\n')}`);
        else assert.ok(!schema || hasEmptyCopy(doc), `the schema accepts, the loader rejects:\n${text}`);
      }),
      { numRuns: 600, seed: 6 },
    );
    // Both sides of the equivalence are exercised.
    assert.ok(accepted > 100 && accepted < 500, `${accepted} of 600 generated BOMs load`);
  });
});

/** A copy entry whose from, dirs and files are all absent or null (the refinement JSON Schema cannot express). */
function hasEmptyCopy(doc: unknown): boolean {
  const targets = (doc as { targets?: unknown }).targets;
  if (!Array.isArray(targets)) return false;
  return targets.some((t) => {
    const copy = (t as { copy?: unknown } | null)?.copy;
    return (
      Array.isArray(copy) &&
      copy.some((s) => s !== null && typeof s === 'object' && !Array.isArray(s) && ['from', 'dirs', 'files'].every((k) => (s as Record<string, unknown>)[k] == null))
    );
  });
}
