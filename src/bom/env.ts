// $NAME and ${NAME} in BOM paths, as upstream (shellexpand::env) expands them; an
// unset variable is an error naming the BOM line instead of a silent literal.
import { Exit, quote, UserError, type Where } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

const VAR = /\$(?:\{([^}]*)(\}?)|([A-Za-z0-9_]+))/g;

export function expandEnv(value: string, env: Env, where: Where): string {
  if (!value.includes('$')) return value;
  return value.replace(VAR, (whole, braced: string | undefined, closed: string, bare: string | undefined) => {
    if (braced !== undefined && !closed) throw new UserError(`unterminated \`\${\` in ${quote(value)}`, Exit.invalidBom, where);
    const name = braced ?? bare!;
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new UserError(`bad variable name \`${whole}\` in ${quote(value)}`, Exit.invalidBom, where);
    const v = env[name];
    if (v === undefined) throw new UserError(`environment variable ${name} is not set (used in ${quote(value)})`, Exit.invalidBom, where);
    return v;
  });
}
