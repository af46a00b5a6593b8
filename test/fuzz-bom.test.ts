// Hostile BOM input (issue 8, point 1): generated and mutated BOM files never crash the loader
// or copy_bom. In-process, parseBom either returns a Bom or throws a UserError with a
// documented exit code and a one-line message naming the file (`file:line:col: ...`); any
// other exception is a failure. Through the built CLI (spawned, with a time limit so that a
// hang fails the test): the exit code is documented, stderr is one line `copy_bom: error: ...`
// without a stack trace, and nothing is written outside the image root. Include bombs end in
// bounded time.
//
// fast-check runs with a fixed seed (FUZZ_SEED=<n> replays another; the seed is in the suite
// names and in every fast-check failure report); FUZZ_SCALE multiplies the number of runs.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseBom } from '../src/bom/load.ts';
import { Exit, UserError } from '../src/errors.ts';
import { readTree, runLimited, shared, tmp, type Child, type Node } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0xb0b);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const params = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns), interruptAfterTimeLimit: 20_000, includeErrorInReport: true });

/** The name parseBom is given: every message must start with it. */
const FILE = 'fuzz/bom.yaml';
const ENV = { HOME: '/root', FUZZ_SET: '/opt/set', X: 'x' };
/** A small generated document is parsed in microseconds; this bound only catches hangs. */
const PARSE_MS = 2000;

/** Exit codes copy_bom documents (README, "Exit codes"). */
const DOCUMENTED = new Set([0, 1, 248, 249, 250, 251, 252, 253, 254, 255]);

const describeError = (e: unknown) => (e instanceof Error ? `${e.constructor.name}: ${e.message.slice(0, 300)}` : String(e));

/**
 * The in-process contract: parseBom returns, or throws a UserError with exit code 253 (249
 * for a malformed `hash`) and a single-line message `FILE:line:col: ...`.
 */
function checkParse(text: string, env: Record<string, string> = ENV, file = FILE, ms = PARSE_MS): { ok: true } | { ok: false; error: UserError } {
  const start = performance.now();
  let error: unknown;
  try {
    parseBom(text, file, env);
  } catch (e) {
    error = e;
  }
  const took = performance.now() - start;
  assert.ok(took < ms, `parseBom took ${Math.round(took)} ms on a ${text.length}-character document (bound ${ms} ms)`);
  if (error === undefined) return { ok: true };
  if (!(error instanceof UserError)) throw new Error(`parseBom threw ${describeError(error)} instead of a UserError`);
  const code = error.exitCode;
  assert.ok(code === Exit.invalidBom || (code === Exit.wrongHash && /`hash`/.test(error.message)), `exit code ${code} for: ${error.message.slice(0, 300)}`);
  assert.ok(!/[\n\r]/.test(error.message), `the message is not one line: ${JSON.stringify(error.message.slice(0, 300))}`);
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(error.message.slice(0, file.length + 40), new RegExp(`^${escaped}:\\d+:\\d+: `), 'the message names the file, line and column');
  return { ok: false, error };
}

// ---------------------------------------------------------------------------------------------
// Generators

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff'];
const ODD_CHARS = [
  '\0', '\n', '\r', '\t', '\u202e', '\u200f', '\u2028', '\ufeff', '\u0085', '\u00a0', '😀', '👩‍👩‍👧', 'é', 'e\u0301', '\uffff', '\u{10ffff}',
  '$', '{', '}', ':', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', '-', '?', ',', '[', ']', '/', '\\', ' ',
];
const oddChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_CHARS) },
  { weight: 1, arbitrary: fc.constantFrom(...LONE_SURROGATES) },
);
const oddString = fc.string({ unit: oddChar, maxLength: 24 });

/** Path-like values: traversal, variables (set, unset, malformed), globs, odd Unicode, NUL, newlines. */
const PATHS = [
  'bin', '/bin', '/', '', '.', '..', '../x', '/../x', 'a/../..', '/a/./b//c/', 'lib/../../..', '/lib/../lib64',
  '$HOME', '${HOME}/x', '$FUZZ_SET', '${FUZZ_SET}', '${FUZZ_UNSET}', '$FUZZ_UNSET/x', '$', '${', '${}', '${a b}', '$$', '${X}${X}',
  'a\0b', '\u202eexe.txt', '😀/😀', '\ud800', 'x\ny', 'x\rx', '*', '**/x', '[a-', '[!a]*', '?', ' leading', 'trailing ', '~', '-rf', '--root',
  'a'.repeat(300), `${'a/'.repeat(300)}x`,
];
const pathArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PATHS) },
  { weight: 2, arbitrary: oddString },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('a', '..', '.', '', '$X', '😀', '\0', '*'), { maxLength: 6 }).map((p) => p.join('/')) },
);
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 });

/** Values of the wrong type for any field. */
const wrong = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
  fc.array(fc.oneof(oddString, fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(oddString, oddString, { maxKeys: 2 }),
);
const field = <T>(ok: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: ok as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: wrong });
/** Sometimes an unknown key: a typo of a real one, or anything. */
const extraKeys = fc.option(
  fc.dictionary(fc.oneof(fc.constantFrom('mkdir', 'file', 'Targets', 'target ', 'dir', 'link', 'hash256', 'autodeps', 'src ', '__proto__', 'constructor', 'toString'), oddString), wrong, { maxKeys: 1 }),
  { freq: 4, nil: {} },
);
const withExtra = <T extends object>(arb: fc.Arbitrary<T>) => fc.tuple(arb, extraKeys).map(([r, e]) => ({ ...r, ...e }));

const fileEntry = fc.oneof(
  { weight: 2, arbitrary: pathArb },
  {
    weight: 2,
    arbitrary: withExtra(
      fc.record({ name: field(pathArb), hash: field(fc.oneof(hex64, oddString)), autodep: field(fc.boolean()), rename: field(pathArb), optional: field(fc.boolean()) }, { requiredKeys: [] }),
    ),
  },
  { weight: 1, arbitrary: wrong },
);
const dirEntry = fc.oneof(pathArb, withExtra(fc.record({ name: field(pathArb), optional: field(fc.boolean()) }, { requiredKeys: [] })), wrong);
const source = withExtra(fc.record({ from: field(pathArb), dirs: field(fc.array(dirEntry, { maxLength: 3 })), files: field(fc.array(fileEntry, { maxLength: 3 })) }, { requiredKeys: [] }));
const link = withExtra(fc.record({ src: field(pathArb), linkname: field(pathArb) }, { requiredKeys: [] }));
const target = withExtra(
  fc.record(
    { target: field(pathArb), mkdirs: field(fc.array(pathArb, { maxLength: 3 })), createlinks: field(fc.array(link, { maxLength: 2 })), copy: field(fc.array(source, { maxLength: 2 })) },
    { requiredKeys: [] },
  ),
);
/** BOM-shaped documents whose every field is sometimes of the wrong type, with unknown keys now and then. */
const bomValue = withExtra(
  fc.record({ includes: field(fc.array(pathArb, { maxLength: 2 })), excludes: field(fc.array(pathArb, { maxLength: 2 })), targets: field(fc.array(target, { maxLength: 3 })) }, { requiredKeys: [] }),
);

/** YAML of a value, or undefined when the yaml package cannot write it. */
function toYaml(value: unknown): string | undefined {
  try {
    return stringify(value, { lineWidth: 0 });
  } catch {
    return undefined;
  }
}

const KEY_WORDS = /\b(includes|excludes|targets|target|mkdirs|createlinks|copy|from|dirs|files|name|hash|autodep|rename|optional|src|linkname)\b/g;

/** Edits of a BOM text: byte flips, line deletions and duplications, key typos, insertions, truncation, indentation. */
type Mutation =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'byte'; at: number; value: number }
  | { k: 'deleteLine'; n: number }
  | { k: 'duplicateLine'; n: number }
  | { k: 'swapLines'; a: number; b: number }
  | { k: 'typo'; n: number; how: number }
  | { k: 'insert'; at: number; text: string }
  | { k: 'truncate'; at: number }
  | { k: 'indent'; n: number; by: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('deleteLine' as const), n: fc.nat() }),
  fc.record({ k: fc.constant('duplicateLine' as const), n: fc.nat() }),
  fc.record({ k: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ k: fc.constant('typo' as const), n: fc.nat(), how: fc.nat({ max: 5 }) }),
  fc.record({
    k: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(oddString, fc.constantFrom('\n', '- ', ': ', '&a ', '*a', '*zz', '!!binary ', '? ', '{', '[', '"', "'", '|\n', '---\n', '<<: ', '\t', '  ', '${', '$X', '\0')),
  }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('indent' as const), n: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
);

function typo(word: string, how: number): string {
  switch (how) {
    case 0:
      return word.slice(1); // drop the first character
    case 1:
      return word.slice(0, -1); // drop the last
    case 2:
      return word.length > 1 ? word[1]! + word[0]! + word.slice(2) : word; // swap the first two
    case 3:
      return word + word.at(-1)!; // double the last
    case 4:
      return word.toUpperCase();
    default:
      return `${word}s`;
  }
}

function applyMutation(text: string, m: Mutation): string {
  const lines = text.split('\n');
  const line = (n: number) => n % Math.max(1, lines.length);
  switch (m.k) {
    case 'flip':
    case 'byte': {
      const b = Buffer.from(text, 'utf8');
      if (b.length === 0) return text;
      const at = m.at % b.length;
      b[at] = m.k === 'flip' ? b[at]! ^ (1 << m.bit) : m.value;
      return b.toString('utf8'); // as loadBom decodes the file's bytes
    }
    case 'deleteLine':
      lines.splice(line(m.n), 1);
      return lines.join('\n');
    case 'duplicateLine':
      lines.splice(line(m.n), 0, lines[line(m.n)] ?? '');
      return lines.join('\n');
    case 'swapLines': {
      const [a, b] = [line(m.a), line(m.b)];
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      return lines.join('\n');
    }
    case 'typo': {
      const hits = [...text.matchAll(KEY_WORDS)];
      if (hits.length === 0) return text;
      const hit = hits[m.n % hits.length]!;
      return text.slice(0, hit.index) + typo(hit[0], m.how) + text.slice(hit.index + hit[0].length);
    }
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'indent': {
      const n = line(m.n);
      const l = lines[n] ?? '';
      lines[n] = m.by >= 0 ? ' '.repeat(m.by) + l : l.replace(new RegExp(`^ {0,${-m.by}}`), '');
      return lines.join('\n');
    }
  }
}

// The BOM files of the Occlum repository (see occlum-boms.test.ts), with the variables they use set.
const corpusDir = path.join(shared, 'occlum-boms');
function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return name.endsWith('.yaml') ? [p] : [];
  });
}
const corpus = yamlFiles(corpusDir).map((f) => ({ file: path.relative(corpusDir, f), text: readFileSync(f, 'utf8') }));
const corpusEnv: Record<string, string> = { ...ENV };
for (const { text } of corpus) for (const m of text.matchAll(/\$\{?([A-Za-z0-9_]+)/g)) corpusEnv[m[1]!] = `/demo/${m[1]}`;

// ---------------------------------------------------------------------------------------------
// In-process properties

describe(`parseBom on generated and mutated input (FUZZ_SEED=${SEED})`, () => {
  it('any YAML value (fc.anything serialised by the yaml package): a Bom or a one-line UserError', () => {
    const anything = fc.anything({
      maxDepth: 4,
      maxKeys: 4,
      key: fc.oneof(fc.constantFrom('targets', 'includes', 'excludes', 'target', 'copy', 'files', 'dirs', 'name'), oddString),
      withMap: true,
      withSet: true,
      withBigInt: true,
      withDate: true,
      withNullPrototype: true,
      withSparseArray: true,
      stringUnit: oddChar,
    });
    fc.assert(
      fc.property(fc.oneof(anything, fc.record({ targets: anything }), fc.record({ targets: fc.array(fc.record({ target: anything, copy: anything }, { requiredKeys: [] })) })), (value) => {
        const text = toYaml(value);
        fc.pre(text !== undefined);
        checkParse(text!);
      }),
      params(300),
    );
  });

  it('token soup (YAML syntax pieces, anchors, aliases, tags, keys): a Bom or a one-line UserError', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'targets:', 'includes:', 'excludes:', 'target:', 'copy:', 'files:', 'dirs:', 'from:', 'name:', 'mkdirs:', 'createlinks:', 'src:', 'linkname:', 'hash:', 'autodep:',
        '- ', '-', '[', ']', '{', '}', ':', ': ', ',', '\n', '  ', '    ', '\t', '&a ', '&b ', '*a', '*b', '*zz', '!!str ', '!!binary ', '!!map ', '!!seq ', '!custom ', '!!set ', '!!omap ',
        '? ', '<<: ', '"', "'", '|', '>', '|-', '#', '---', '...', '%YAML 1.2\n', '%TAG ! !x\n', '~', 'null', 'true', '0x1F', '1e9', '.inf', '2001-12-14',
        '/bin', '..', '$X', '${', '}', '\0', '\ufeff', '\u2028',
      ),
      oddString,
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (tokens) => {
        checkParse(tokens.join(''));
      }),
      params(600),
    );
  });

  it('random Unicode text (lone surrogates, RTL marks, emoji, NUL, control characters)', () => {
    fc.assert(
      fc.property(fc.string({ unit: oddChar, maxLength: 200 }), (text) => {
        checkParse(text);
      }),
      params(300),
    );
  });

  it('BOM-shaped documents with wrong types in every field, unknown keys, odd paths, then mutated', () => {
    fc.assert(
      fc.property(bomValue, fc.array(mutation, { maxLength: 2 }), (value, mutations) => {
        const text = toYaml(value);
        fc.pre(text !== undefined);
        checkParse(mutations.reduce(applyMutation, text!));
      }),
      params(500),
    );
  });

  it(`mutations of the ${corpus.length} real BOMs of the Occlum repository (byte flips, line deletions, key typos, ...)`, { skip: corpus.length === 0 && 'shared/occlum-boms is not there' }, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Math.max(0, corpus.length - 1) }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (index, mutations) => {
        const { file, text } = corpus[index]!;
        const mutated = mutations.reduce(applyMutation, text);
        try {
          checkParse(mutated, corpusEnv);
        } catch (e) {
          throw new Error(`${file} mutated by ${JSON.stringify(mutations)}: ${describeError(e)}`);
        }
      }),
      params(800),
    );
  });
});

describe('parseBom on hostile documents', () => {
  const expectError = (text: string, ms = PARSE_MS) => {
    const r = checkParse(text, ENV, FILE, ms);
    assert.ok(!r.ok, 'an invalid BOM is accepted');
    return r.error;
  };
  /** expectError on each text; every failure is reported, not just the first. */
  const expectErrors = (texts: string[]) => {
    const failures: string[] = [];
    for (const text of texts) {
      try {
        expectError(text);
      } catch (e) {
        failures.push(`${JSON.stringify(text)}: ${describeError(e)}`);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  };

  /** Wrong-type values in each field of a complete BOM: the error points at that field's line. */
  it('a wrong type in any field is reported at that field', () => {
    const template = [
      'includes: [other.yaml]', // 1
      'excludes: [x]', // 2
      'targets:', // 3
      '  - target: /bin', // 4
      '    mkdirs: [a]', // 5
      '    createlinks:', // 6
      '      - src: /x', // 7
      '        linkname: y', // 8
      '    copy:', // 9
      '      - from: /src', // 10
      '        dirs:', // 11
      '          - d1', // 12
      '          - name: d2', // 13
      '            optional: true', // 14
      '        files:', // 15
      '          - f1', // 16
      '          - name: f2', // 17
      `            hash: ${'a'.repeat(64)}`, // 18
      '            autodep: false', // 19
      '            rename: g', // 20
      '            optional: true', // 21
    ];
    const values: unknown[] = [1, 1.5, true, null, [], {}, 'text', [1], { a: 1 }, [[]], [{ name: 1 }]];
    let checked = 0;
    const indent = (l: string) => /^ */.exec(l)![0].length;
    for (let i = 0; i < template.length; i++) {
      const m = /^(\s*(?:- )?)([a-z]+)?(:?\s*)(.*)$/.exec(template[i]!)!;
      const keepKey = Boolean(m[2]) && m[3]!.startsWith(':');
      // A block parent (`copy:`) or a whole list item replaced: its children go with it.
      let end = i + 1;
      if (!keepKey || m[4] === '') while (end < template.length && indent(template[end]!) > indent(template[i]!)) end++;
      for (const v of values) {
        const lines = [...template];
        lines.splice(i, end - i, keepKey ? `${m[1]}${m[2]}: ${JSON.stringify(v)}` : `${m[1]}${JSON.stringify(v)}`);
        const r = checkParse(lines.join('\n'));
        if (r.ok) continue;
        const line = Number(/^[^:]+:(\d+):/.exec(r.error.message)?.[1]);
        // The line itself, or the entry it belongs to ("missing required key" names the map).
        assert.ok(line <= i + 1 && line >= i - 3, `${JSON.stringify(lines[i])}: reported at line ${line}: ${r.error.message}`);
        checked++;
      }
    }
    assert.ok(checked > 100, `${checked} errors checked`);
  });

  it('10,000 levels of nesting (flow lists, flow maps, compact block lists; 2,000 of indented maps): a UserError, no stack overflow', (t) => {
    const n = 10_000;
    const cases: [string, string][] = [
      ['flow lists', `${'['.repeat(n)}${']'.repeat(n)}`],
      ['flow maps', `${'{a: '.repeat(n)}1${'}'.repeat(n)}`],
      ['compact block lists', `${'- '.repeat(n)}x`],
      ['mixed flow', `${'[{a: '.repeat(n / 2)}1${'}]'.repeat(n / 2)}`],
      ['under targets', `targets: ${'['.repeat(n)}${']'.repeat(n)}`],
      ['in a copy entry', `targets:\n  - target: /\n    copy:\n      - files: ${'['.repeat(n)}${']'.repeat(n)}`],
      ['indented block maps (2,000)', Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x'],
    ];
    for (const [what, text] of cases) {
      const e = expectError(text, 10_000);
      t.diagnostic(`${what}: ${e.message.slice(0, 160)}`);
    }
  });

  it('moderate nesting (150 levels) gives a validation error, not a parser failure', () => {
    const e = expectError(`targets: ${'['.repeat(150)}${']'.repeat(150)}`);
    assert.doesNotMatch(e.message, /invalid YAML/, e.message);
  });

  it('huge strings (MBs) in paths and keys end in bounded time', (t) => {
    const cases: [string, string][] = [
      ['a 4 MB plain path', `targets:\n  - target: /${'a'.repeat(4_000_000)}\n`],
      ['a 1 MB double-quoted path with escapes', `targets:\n  - target: "${'a\\n\\0\\u00e9\\ud800'.repeat(100_000)}"\n`],
      ['a 2 MB unknown key', `${'k'.repeat(2_000_000)}: 1\n`],
      ['1 MB of emoji in a path', `targets:\n  - target: /${'😀'.repeat(250_000)}\n`],
      ['1 MB of RTL overrides and lone surrogates in a path', `targets:\n  - target: "${'\u202e\ud800'.repeat(250_000)}"\n`],
      ['a 2 MB variable name', `targets:\n  - target: "\${${'V'.repeat(2_000_000)}}"\n`],
      ['a 2 MB comment', `# ${'c'.repeat(2_000_000)}\ntargets: []\n`],
    ];
    for (const [what, text] of cases) {
      const start = performance.now();
      const r = checkParse(text, ENV, FILE, 5000);
      t.diagnostic(`${what}: ${r.ok ? 'accepted' : r.error.message.slice(0, 100)} (${Math.round(performance.now() - start)} ms)`);
    }
  });

  it('odd Unicode in paths (lone surrogates, RTL, emoji, NUL) is a path like any other or a one-line error', (t) => {
    for (const p of ['"\\ud800x"', '"\u202egnp.exe"', '"😀/👩‍👩‍👧"', '"a\\0b"', '"\\x00"', '"e\\u0301"', '"\\uffff"', '"\\U0010FFFF"', '"\\t\\r\\v"']) {
      const r = checkParse(`targets:\n  - target: ${p}\n    mkdirs: [${p}]\n    copy:\n      - files: [${p}]\n`);
      t.diagnostic(`${p}: ${r.ok ? 'accepted by the loader' : r.error.message}`);
    }
  });

  it('a billion-laughs alias bomb (10 levels of 10) is refused quickly as too many nodes', () => {
    const text = `a0: &a0 [x]\n${Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`).join('\n')}\ntargets: *a9\n`;
    const e = expectError(text, 10_000);
    assert.match(e.message, /too many nodes|alias/);
  });

  it('an alias inside its own anchored node (`a: &a [*a]`) is a UserError, not a stack overflow', () => {
    expectErrors(['a: &a [*a]\n', 'a: &a {k: *a}\n', 'targets: &t\n  - target: x\n    copy: *t\n', 'targets:\n  - &e\n    target: x\n    copy: [{files: [*e]}]\n']);
  });

  it('a map or a list used as a key (`? {a: 1}`) is a UserError, not a TypeError', () => {
    expectErrors(['? {a: 1}\n: x\n', '{}: 1\n', '? targets:\n', 'targets:\n  - ? {target: x}\n    : y\n', 'x: &m {a: 1}\n*m : 2\n', '? [a, b]\n: 1\n', '? !!set {a}\n: 1\n']);
  });

  it('a key, a variable name or a YAML token holding a line break (\\n, \\r) gives a one-line message', () => {
    expectErrors(['"a\\nb": 1\n', '"a\\rb": 1\n', '\rtargets: []\n', 'targets:\n  - target: x\n    "mk\\ndirs": [a]\n', 'targets:\n  - target: "${a\\nb}"\n', 'targets:\n  - target: "${a\\rb}"\n', 'a: >\r']);
  });

  it('an alias to an anchor that does not exist is an invalid BOM, not an empty one', () => {
    expectErrors(['targets: *nowhere\n', 'includes: [*nowhere]\n', 'targets:\n  - target: /bin\n    mkdirs: *nowhere\n']);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the CLI

/** copy_bom with a wall-clock limit (killed when over it) and a heap limit. */
function copyBom(cwd: string, args: string[], opts: { ms?: number; heapMb?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Child> {
  return runLimited('copy_bom', args, {
    cwd,
    ms: opts.ms ?? 20_000,
    heapMb: opts.heapMb ?? 1024,
    env: { OCCLUM_LOG_LEVEL: 'error', HOME: '/root', FUZZ_SET: '/opt/set', X: 'x', ...opts.env },
  });
}

/** The CLI contract: documented exit code; on failure one stderr line `copy_bom: error: ...`; never a stack trace. */
function checkCli(r: Child, what: string): void {
  const head = `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''} after ${Math.round(r.ms)} ms${r.timedOut ? ' (killed: over the time limit)' : ''}; stderr: ${JSON.stringify(r.stderr.slice(0, 400))}`;
  assert.ok(!r.timedOut, head);
  assert.ok(r.code !== null && DOCUMENTED.has(r.code) && r.code !== Exit.usage, head);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: a stack trace: ${head}`);
  assert.doesNotMatch(r.stderr, /internal error|FATAL ERROR|heap out of memory/, head);
  if (r.code === 0) return;
  if (r.code === Exit.missingLibrary) {
    assert.match(r.stderr, /^copy_bom failed due to following libraries are missing:\n/, head);
    return;
  }
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, 1, `${what}: stderr is not one line: ${head}`);
  assert.match(lines[0]!, /^copy_bom: error: /, head);
}

/**
 * A workspace for one run: ws/ is the working directory (BOM, src/, image/), outside/ a
 * canary next to it that hostile links in the image point at. Everything but ws/image and
 * the files copy_bom keeps beside it (manifest, lock) must be unchanged by a run.
 */
function workspace(hostile: boolean, files: Record<string, string | Buffer> = {}) {
  const base = tmp('occlum-bom-fuzz-cli-');
  const ws = path.join(base, 'ws');
  const outside = path.join(base, 'outside');
  mkdirSync(path.join(ws, 'src/sub/deep'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'canary'), 'canary\n');
  writeFileSync(path.join(ws, 'src/a.txt'), 'a\n');
  writeFileSync(path.join(ws, 'src/b.bin'), Buffer.from([0, 1, 2, 255]));
  writeFileSync(path.join(ws, 'src/sub/c.txt'), 'c\n');
  writeFileSync(path.join(ws, 'src/sub/deep/d.txt'), 'd\n');
  symlinkSync('a.txt', path.join(ws, 'src/link-to-a'));
  symlinkSync('/etc/hostname', path.join(ws, 'src/abs-link'));
  symlinkSync('/nonexistent-target', path.join(ws, 'src/dangling'));
  symlinkSync(path.join(ws, 'src'), path.join(ws, 'src/sub/loop'));
  symlinkSync(path.join(outside, 'canary'), path.join(ws, 'src/to-canary'));
  if (hostile) {
    // Links already in the image that lead out of it, as a chroot would not let them.
    const image = path.join(ws, 'image');
    mkdirSync(image);
    symlinkSync(outside, path.join(image, 'evil-abs'));
    symlinkSync('../../outside', path.join(image, 'evil-rel'));
    symlinkSync('/', path.join(image, 'evil-root'));
    symlinkSync('..', path.join(image, 'evil-up'));
    symlinkSync(path.join(outside, 'canary'), path.join(image, 'evil-file'));
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(ws, name), text);
  const snapshot = () => {
    const all = readTree(base);
    const out: Record<string, Node> = {};
    for (const [rel, node] of Object.entries(all)) {
      if (rel === 'ws/image' || rel.startsWith('ws/image/') || rel === 'ws/image.manifest.json' || rel === 'ws/image.lock') continue;
      out[rel] = node;
    }
    return out;
  };
  return { base, ws, outside, before: snapshot(), snapshot };
}

/** A unique name no run may create at the host's root or in /tmp. */
const ESCAPE = `fuzz-escape-${process.pid}`;

/** Mostly `ok`, now and then `odd`: BOMs that often succeed, so that the copies themselves are exercised. */
const mostly = <T, U>(ok: fc.Arbitrary<T>, odd: fc.Arbitrary<U>, oddWeight = 1) => fc.oneof({ weight: 12, arbitrary: ok as fc.Arbitrary<unknown> }, { weight: oddWeight, arbitrary: odd as fc.Arbitrary<unknown> });

/** Image paths: plain ones, valid ones through the hostile links of the image, and invalid or odd ones. */
const cliPath = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/', '/bin', 'bin', 'lib/x', 'opt/app', '$HOME/x', '/a/../b', '/😀', '/\u202eexe') },
  { weight: 4, arbitrary: fc.constantFrom('/evil-abs', '/evil-abs/new', '/evil-rel/x', `/evil-root/${ESCAPE}`, `/evil-root/tmp/${ESCAPE}`, '/evil-up/evil-up/x', '/evil-file', '/evil-file/x', '/evil-abs/../evil-rel') },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom(`../../${ESCAPE}`, `/../${ESCAPE}`, '/a/../../x', '${FUZZ_UNSET}', '${', 'x\ny', 'a\0b', '\ud800', '*', ''), oddString) },
);
const cliSource = mostly(
  fc.constantFrom('a.txt', 'b.bin', 'sub/c.txt', 'link-to-a', 'abs-link', 'to-canary', '*.txt', 'sub/**', '[ab].*', '/usr/bin/true', '/etc/hostname', 'sub/deep/../c.txt', '../../outside/canary'),
  fc.constantFrom('dangling', 'missing', 'a.txt\nx', 'a\0', 'sub', '', '..'),
);
const cliDir = mostly(fc.constantFrom('sub', 'sub/', 'sub/deep', 'su*', 'sub/loop', '../../outside', '../src/sub'), fc.constantFrom('missing', 'a.txt', '', '.'));
const cliFrom = mostly(fc.constant('src'), fc.constantFrom('src/', './src', 'src/sub', 'missing', '', '../outside', 'src/link-to-a', '$FUZZ_UNSET', 'src\n'));
const cliBom = fc.record(
  {
    excludes: fc.array(mostly(fc.constantFrom('*.bin', 'deep', '/sub', '***', '- x', '+ y'), fc.constantFrom('[', '\\', '')), { maxLength: 2 }),
    targets: fc.array(
      fc.record(
        {
          target: mostly(cliPath, wrong),
          mkdirs: fc.array(cliPath, { maxLength: 2 }),
          createlinks: fc.array(fc.record({ src: fc.oneof(cliPath, fc.constant(ESCAPE)), linkname: cliPath }), { maxLength: 2 }),
          copy: fc.array(
            fc.record(
              {
                from: cliFrom,
                dirs: fc.array(fc.oneof(cliDir, fc.record({ name: cliDir, optional: fc.boolean() })), { maxLength: 2 }),
                files: mostly(
                  fc.array(fc.oneof(cliSource, fc.record({ name: cliSource, rename: cliPath, autodep: fc.boolean(), optional: fc.boolean() }, { requiredKeys: ['name'] })), { maxLength: 3 }),
                  wrong,
                ),
              },
              { requiredKeys: ['from'] },
            ),
            { maxLength: 2 },
          ),
        },
        { requiredKeys: ['target'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  },
  { requiredKeys: ['targets'] },
);

/** After a run: nothing outside ws/image changed (the manifest and lock beside it excepted), nothing at the host's root. */
function checkNothingOutside(w: ReturnType<typeof workspace>, what: string): void {
  const after = w.snapshot();
  const changed = [...new Set([...Object.keys(w.before), ...Object.keys(after)])].filter(
    (rel) => JSON.stringify(w.before[rel], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) !== JSON.stringify(after[rel], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
  );
  assert.deepEqual(changed, [], `${what}: written outside the image root: ${changed.join(', ')}`);
  for (const p of [`/${ESCAPE}`, `/tmp/${ESCAPE}`, path.join(w.base, ESCAPE), path.join(path.dirname(w.base), ESCAPE)]) assert.ok(!existsSync(p), `${what}: created ${p}`);
  assert.equal(readFileSync(path.join(w.outside, 'canary'), 'utf8'), 'canary\n');
}

describe(`copy_bom on generated BOMs, hostile images and odd input (FUZZ_SEED=${SEED})`, () => {
  it('random BOMs over a workspace, half of them over an image with links leading out: documented exit code, one-line error, nothing written outside', async (t) => {
    const codes = new Map<number | null, number>();
    await fc.assert(
      fc.asyncProperty(cliBom, fc.boolean(), async (value, hostile) => {
        const text = toYaml(value);
        fc.pre(text !== undefined);
        const w = workspace(hostile, { 'bom.yaml': text! });
        const r = await copyBom(w.ws, ['-f', 'bom.yaml', '--root', 'image']);
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        const what = `BOM ${JSON.stringify(text!.slice(0, 600))}${hostile ? ' over a hostile image' : ''}`;
        checkCli(r, what);
        checkNothingOutside(w, what);
      }),
      { seed: SEED, numRuns: runs(20), interruptAfterTimeLimit: 40_000, includeErrorInReport: true },
    );
    t.diagnostic(`exit codes: ${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')}`);
  });

  const one = async (text: string | Buffer, what: string, opts: { ms?: number; heapMb?: number; expect?: number | RegExp } = {}): Promise<void> => {
    const w = workspace(false, { 'bom.yaml': text });
    const r = await copyBom(w.ws, ['-f', 'bom.yaml', '--root', 'image'], opts);
    checkCli(r, what);
    if (typeof opts.expect === 'number') assert.equal(r.code, opts.expect, `${what}: ${r.stderr}`);
    if (opts.expect instanceof RegExp) assert.match(r.stderr, opts.expect, what);
    checkNothingOutside(w, what);
  };

  it('a valid BOM writing through every hostile link of the image: exit 0, everything lands inside', async () => {
    const bom = [
      'targets:',
      '  - target: /evil-abs',
      '    mkdirs: [m]',
      '    copy: [{from: src, files: [a.txt]}]',
      '  - target: /evil-rel/x',
      '    copy: [{from: src, dirs: [sub]}]',
      `  - target: /evil-root/${ESCAPE}`,
      '    createlinks: [{src: /etc/passwd, linkname: l}]',
      '  - target: /evil-up/evil-up/y',
      '    copy: [{from: src, files: [b.bin]}]',
      '  - target: /',
      '    copy: [{from: src, files: [{name: a.txt, rename: evil-file}]}]',
      '',
    ].join('\n');
    const w = workspace(true, { 'bom.yaml': bom });
    const r = await copyBom(w.ws, ['-f', 'bom.yaml', '--root', 'image']);
    checkCli(r, 'writes through hostile links');
    assert.equal(r.code, 0, r.stderr);
    checkNothingOutside(w, 'writes through hostile links');
    const image = path.join(w.ws, 'image');
    // As in a chroot: an absolute link target starts at the image root, `..` stops there.
    assert.ok(existsSync(path.join(image, w.outside, 'a.txt')), 'evil-abs -> <outside> means image/<outside>');
    assert.ok(existsSync(path.join(image, 'outside/x/sub/c.txt')), 'evil-rel -> ../../outside means image/outside');
    assert.ok(existsSync(path.join(image, ESCAPE)), 'evil-root -> / means the image root');
    assert.ok(existsSync(path.join(image, 'y/b.bin')), 'evil-up -> .. stops at the image root');
    assert.ok(!lstatSync(path.join(image, 'evil-file')).isSymbolicLink(), 'the link at a file destination is replaced, not written through');
    assert.equal(readFileSync(path.join(image, 'evil-file'), 'utf8'), 'a\n');
  });

  it('a newline in a path gives a one-line error', () => one('targets:\n  - target: /bin\n    copy:\n      - files:\n          - "/nonexistent\\nsecond line"\n', 'a newline in a files entry'));
  it('a NUL byte in a path gives a one-line error with a documented code', () => one('targets:\n  - target: "/b\\0in"\n    copy:\n      - files: ["/nonexistent\\0x"]\n', 'a NUL in target and files'));
  it('a map used as a key: exit 253, one line', () => one('? {a: 1}\n: x\n', 'a map as a key', { expect: 253 }));
  it('an alias inside its own anchor: exit 253, one line', () => one('a: &a [*a]\n', 'a self-referencing alias', { expect: 253 }));
  it('a binary file as a BOM: exit 253', () => one(readFileSync('/usr/bin/true'), 'the bytes of /usr/bin/true as a BOM', { expect: 253 }));
  it('a BOM in UTF-16 with a byte-order mark: a clear outcome', () => one(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('targets: []\n', 'utf16le')]), 'UTF-16 BOM'));
  it('includes naming a directory and /dev/zero: exit 255', () => one('includes: [/tmp, /dev/zero]\n', 'include of a directory', { expect: 255 }));

  it('a missing BOM file and a directory as the BOM: exit 255, one line', async () => {
    const w = workspace(false);
    checkCli(await copyBom(w.ws, ['-f', 'nope.yaml', '--root', 'image']), 'missing BOM');
    const r = await copyBom(w.ws, ['-f', 'src', '--root', 'image']);
    checkCli(r, 'a directory as the BOM');
    assert.equal(r.code, 255);
    checkNothingOutside(w, 'missing BOM');
  });

  describe('resource bombs: a clear outcome within 10 s and a 1 GB heap', { concurrency: true }, () => {
    it('an alias bomb of 100 levels doubling (3 KB, 2^100 nodes): exit 253', () => {
      const text = `a0: &a0 [x]\n${Array.from({ length: 100 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}, *a${i}]`).join('\n')}\ntargets: *a100\n`;
      return one(text, 'doubling alias bomb', { ms: 10_000, expect: 253 });
    });
    it('20,000 aliases of one anchor (120 KB)', () => one(`excludes: &e [x]\ntargets:\n${'  - *e\n'.repeat(20_000)}`, '20,000 aliases', { ms: 10_000, expect: 253 }));
    it('an alias chain 3,000 deep (each anchor holds the previous alias)', () =>
      one(`a0: &a0 [x]\n${Array.from({ length: 3000 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}]`).join('\n')}\n`, 'alias chain', { ms: 10_000, expect: 253 }));
    it('an 8 MB BOM of 1.4 million list items (the size cap is 64 MiB)', () => one(`excludes:\n${'  - a\n'.repeat(1_400_000)}`, '8 MB BOM', { ms: 10_000 }));
  });

  describe('include bombs: a clear outcome within 30 s', () => {
    const includeRun = async (files: Record<string, string>, top: string, what: string) => {
      const w = workspace(false, files);
      const r = await copyBom(w.ws, ['-f', top, '--root', 'image', '--dry-run'], { ms: 30_000 });
      checkCli(r, what);
      checkNothingOutside(w, what);
      return r;
    };

    it('a chain of 200 BOMs leading back to the first: exit 253, "include cycle"', async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 200; i++) files[`c${i}.yaml`] = `includes: [c${(i + 1) % 200}.yaml]\n`;
      const r = await includeRun(files, 'c0.yaml', 'a 200-file include cycle');
      assert.equal(r.code, 253);
      assert.match(r.stderr, /include cycle/);
    });

    it('a BOM including itself: exit 253, "include cycle"', async () => {
      const r = await includeRun({ 'self.yaml': 'includes: [self.yaml, ./self.yaml]\n' }, 'self.yaml', 'a self-include');
      assert.equal(r.code, 253);
      assert.match(r.stderr, /include cycle/);
    });

    it('5,000 distinct small BOMs included by one file: success or a one-line error', async (t) => {
      const files: Record<string, string> = { 'top.yaml': `includes:\n${Array.from({ length: 5000 }, (_, i) => `  - s${i}.yaml\n`).join('')}` };
      for (let i = 0; i < 5000; i++) files[`s${i}.yaml`] = `targets:\n  - target: /d${i}\n`;
      const r = await includeRun(files, 'top.yaml', '5,000 includes');
      t.diagnostic(`exit ${r.code} in ${Math.round(r.ms)} ms: ${r.stderr.trim().slice(0, 160)}`);
    });

    it('21 BOMs each including the next twice (2^20 include paths): no exponential walk', async (t) => {
      const files: Record<string, string> = {};
      for (let i = 0; i <= 20; i++) files[`t${i}.yaml`] = `${i < 20 ? `includes: [t${i + 1}.yaml, t${i + 1}.yaml]\n` : ''}targets:\n  - target: /t${i}\n`;
      const r = await includeRun(files, 't0.yaml', 'binary include tree');
      assert.equal(r.code, 0, r.stderr);
      t.diagnostic(`${Math.round(r.ms)} ms`);
    });
  });
});

