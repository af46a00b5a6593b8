// The template BOMs shipped with this package (templates/*.yaml): copy_bom searches them after
// every --include-dir, `occlum-bom templates` lists them, `occlum-bom new` copies them.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, Exit, UserError } from '../errors.js';
import { templatesDir } from '../resources.js';

export interface Template {
  /** The name an `includes:` entry uses (`base.yaml`). */
  name: string;
  /** Absolute path of the shipped file. */
  path: string;
  /** The first line of the comment the file starts with; empty when it has none. */
  description: string;
}

export async function listTemplates(dir: string = templatesDir()): Promise<Template[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: unknown) => {
    throw new UserError(`cannot read the shipped templates in ${dir}: ${describeFsError(e)}`, Exit.fileNotFound);
  });
  const names = entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      return { name, path: file, description: descriptionOf(await readFile(file, 'utf8')) };
    }),
  );
}

/** The first comment line at the top of a BOM (blank lines and a `%YAML`/`---` header skipped). */
export function descriptionOf(text: string): string {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t === '---' || t.startsWith('%')) continue;
    return t.startsWith('#') ? t.replace(/^#+\s*/, '') : '';
  }
  return '';
}
