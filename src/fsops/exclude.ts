// rsync's --exclude=PATTERN rules, as parsed by parse_rule_tok()/add_rule() and
// applied by rule_matches()/check_filter() in rsync's exclude.c.
//
// Paths are matched relative to the transfer root: for `rsync -a /a/b/dir DEST`
// the root is /a/b and rsync matches "dir", "dir/x", ...; for `/a/b/dir/` the
// root is /a/b/dir, rsync matches "x", "x/y", ..., never the top directory.

import { compileWildmatch } from './wildmatch.js';

/**
 * Tells whether rsync would exclude an entry. `relPath` is '/'-separated,
 * without a leading slash, relative to the transfer root. `isDir` is whether
 * rsync transfers the entry as a directory: with -a a symlink is not one (it
 * is only when rsync copies it as its referent, as --copy-unsafe-links does for
 * unsafe links). The caller must not descend into an excluded directory.
 */
export type ExcludeMatcher = (relPath: string, isDir: boolean) => boolean;

/** An --exclude argument rsync refuses (and exits with a syntax error for). */
export class FilterRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterRuleError';
  }
}

interface Rule {
  /** "+ PATTERN": a match keeps the entry and ends the search, as an --include would. */
  include: boolean;
  matches(relPath: string, isDir: boolean): boolean;
}

/**
 * Compiles --exclude arguments in command-line order; the first rule that
 * matches decides. Like rsync's --exclude (XFLG_OLD_PREFIXES), an argument
 * may start with "- " (exclude, the default) or "+ " (include), and "!" alone
 * clears the rules given before it; no other prefix or modifier is special,
 * so "!x" or "-x" are plain patterns. An empty argument adds no rule.
 * Throws FilterRuleError for a prefix with no pattern after it ("- ").
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  let rules: Rule[] = [];
  for (const arg of patterns) {
    if (arg === '') continue;
    let pattern = arg;
    let include = false;
    if (arg.startsWith('- ')) {
      pattern = arg.slice(2);
    } else if (arg.startsWith('+ ')) {
      pattern = arg.slice(2);
      include = true;
    } else if (arg === '!') {
      rules = [];
      continue;
    }
    if (pattern === '') throw new FilterRuleError(`unexpected end of filter rule: ${arg}`);
    rules.push({ include, matches: compileRule(pattern) });
  }

  if (rules.length === 0) return () => false;
  const compiled = rules;
  return (relPath, isDir) => {
    for (const rule of compiled) {
      if (rule.matches(relPath, isDir)) return !rule.include;
    }
    return false;
  };
}

/** add_rule() followed by rule_matches(), for one pattern. */
function compileRule(pattern: string): (relPath: string, isDir: boolean) => boolean {
  // A trailing slash (on anything longer than "/") restricts the rule to directories.
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  if (dirOnly) pattern = pattern.slice(0, -1);

  // rsync decides these on the raw pattern, escapes included.
  let slashCount = 0;
  for (const c of pattern) if (c === '/') slashCount++;
  const wild = /[*?[]/.test(pattern);
  const wild2 = wild && pattern.includes('**');
  const wild2Prefix = wild2 && pattern.startsWith('**');
  const wild3Suffix = wild2 && pattern.endsWith('***');

  const anchored = pattern.startsWith('/');
  const body = anchored ? pattern.slice(1) : pattern;
  // Neither a slash nor a "**" (which could match one): only the last component is matched.
  const nameOnly = slashCount === 0 && !wild2;

  let where: number;
  if (!anchored && slashCount > 0 && !wild2) {
    // An unanchored pattern with an infix slash must match the last slashCount+1 components.
    where = slashCount + 1;
  } else if (!anchored && wild2 && !wild2Prefix) {
    // An unanchored pattern with a non-leading "**" may match after any slash.
    where = -1;
  } else {
    where = 0;
  }

  const lastName = (relPath: string) => (nameOnly ? relPath.slice(relPath.lastIndexOf('/') + 1) : relPath);

  if (wild) {
    const match = compileWildmatch(body);
    return (relPath, isDir) => {
      if (dirOnly && !isDir) return false;
      // A leading "**" may match at the start ("**/x" matches "x"), and "dir/***"
      // matches the directory itself as well as what is under it.
      const text = (wild2Prefix ? '/' : '') + lastName(relPath) + (isDir && wild3Suffix ? '/' : '');
      return match(text, where);
    };
  }
  // No wildcard: backslashes are literal, and an unanchored pattern matches
  // a trailing run of whole components.
  if (anchored) {
    return (relPath, isDir) => (isDir || !dirOnly) && relPath === body;
  }
  return (relPath, isDir) => {
    if (dirOnly && !isDir) return false;
    const name = lastName(relPath);
    return (
      name.endsWith(body) && (name.length === body.length || name.charCodeAt(name.length - body.length - 1) === 0x2f)
    );
  };
}
