// `occlum-bom schema`: the JSON Schema of the BOM format, generated from the zod definition the
// loader validates with (src/bom/schema.ts), so that editors and the loader cannot disagree on
// what a BOM may contain. schema/bom.schema.json is this command's output (`npm run schema`).
import type { Command } from 'commander';
import { writeOutput } from '../../output.js';
import { z } from '../../vendor.js';
import { Bom } from '../../bom/schema.js';

type JsonSchema = { [key: string]: unknown };

/** Keywords whose value is one subschema, or a list or map of them (draft 2020-12). */
const ONE = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties'];
const LIST = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const MAP = ['properties', '$defs', 'patternProperties', 'dependentSchemas'];

function subschemas(node: JsonSchema): JsonSchema[] {
  const out: JsonSchema[] = [];
  const add = (v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(v as JsonSchema);
  };
  for (const k of ONE) add(node[k]);
  for (const k of LIST) if (Array.isArray(node[k])) (node[k] as unknown[]).forEach(add);
  for (const k of MAP) if (node[k] && typeof node[k] === 'object') Object.values(node[k] as object).forEach(add);
  return out;
}

/**
 * The loader reads YAML numbers as the text they were written as (`1.10` is the name "1.10",
 * see toPlain in src/bom/load.ts), so wherever it wants a string a YAML number is valid too.
 * An editor parses `mkdirs: [1.10]` as a number: the schema must say "string or number" or it
 * would flag BOMs the loader takes. (`minLength` applies to strings only, as intended.)
 */
function acceptNumbersAsNames(node: JsonSchema): void {
  if (node.type === 'string') node.type = ['string', 'number'];
  else if (Array.isArray(node.type) && node.type.includes('string') && !node.type.includes('number')) {
    // In zod's order of types, so that "number" follows "string".
    node.type = [...(node.type as string[]), 'number'].sort((a, b) => TYPE_ORDER.indexOf(a) - TYPE_ORDER.indexOf(b));
  }
  for (const s of subschemas(node)) acceptNumbersAsNames(s);
}
const TYPE_ORDER = ['string', 'number', 'boolean', 'array', 'object', 'null'];

/**
 * `path(...).nullish()` puts the description on the string inside `anyOf: [string, null]`; editors
 * show the description of the property itself on hover, so a description-less nullable wrapper
 * takes the one of what it wraps.
 */
function hoistDescriptions(node: JsonSchema): void {
  for (const s of subschemas(node)) hoistDescriptions(s);
  const branches = Array.isArray(node.anyOf) ? (node.anyOf as JsonSchema[]) : null;
  if (node.description === undefined && branches?.length === 2) {
    const inner = branches.find((b) => b.type !== 'null');
    if (branches.some((b) => b.type === 'null') && typeof inner?.description === 'string') {
      // First, as zod places the descriptions of the other properties.
      const rest = { ...node };
      for (const k of Object.keys(node)) delete node[k];
      Object.assign(node, { description: inner.description }, rest);
    }
  }
}

/**
 * The JSON Schema (draft 2020-12) of a BOM file, from the definition the loader validates with.
 *
 * Not expressible in it, so left out (the schema is then more permissive than the loader, never
 * stricter): the refinement that a `copy` entry has at least one of `from`, `dirs`, `files`, and
 * the checks the loader makes after parsing (a `hash` of 64 hex digits, `$VAR`s that are set,
 * paths that stay inside the image).
 */
export function bomJsonSchema(): JsonSchema {
  // io 'input': what a user may write, not what the loader turns it into.
  const generated = z.toJSONSchema(Bom, { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  acceptNumbersAsNames(generated);
  hoistDescriptions(generated);
  // The loader takes an empty document (or one with only comments) as an empty BOM.
  const { $schema, type, ...rest } = generated;
  return { $schema, title: 'Occlum BOM (copy_bom / occlum-bom)', type: [type, 'null'], ...rest };
}

/** The shipped file's exact text: two-space JSON and a final newline. */
export function bomJsonSchemaText(): string {
  return `${JSON.stringify(bomJsonSchema(), null, 2)}\n`;
}

export function register(program: Command): void {
  program
    .command('schema')
    .description('Print the JSON Schema of the BOM format (for editors and validators).')
    .option('-o, --output <file>', 'write it to FILE (replaced atomically) instead of standard output')
    .addHelpText(
      'after',
      `
The schema is generated from the definition copy_bom validates BOM files with. For completion
and validation in editors using yaml-language-server (VS Code's YAML extension, ...), put
  # yaml-language-server: $schema=<path or URL of bom.schema.json>
at the top of a BOM file. It is slightly more permissive than copy_bom: a copy entry with none
of from, dirs or files, a malformed hash, unset variables and paths leaving the image are only
found by copy_bom itself.`,
    )
    .action((opts: { output?: string }) => writeOutput(bomJsonSchemaText(), opts.output));
}
