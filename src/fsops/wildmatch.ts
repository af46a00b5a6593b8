// A port of rsync's lib/wildmatch.c: the matcher behind rsync's filter rules.
//
// Semantics, as in rsync:
//   *       any run of bytes except '/'
//   **      any run of bytes including '/' (a run of 3 or more stars is the same).
//           There is no special "**/ matches zero directories" rule: "a/**/b"
//           needs at least "a//b" and does not match "a/b".
//   ?       any byte except '/'
//   [...]   a byte class: ranges "a-z", "!" or "^" to negate, "[:alpha:]" and the
//           other POSIX classes (C locale), "\" to escape.  A class never matches
//           '/', even negated.  A malformed class ("[abc" or "[[:nope:]]") makes
//           the whole pattern match nothing.
//   \c      the character c
// rsync compares bytes, so paths and patterns are matched as UTF-8: '?' matches
// one byte of a multi-byte character, not the whole character.
//
// Patterns are parsed once into tokens; matching runs rsync's own backtracking
// algorithm on them, keeping its ABORT_ALL / ABORT_TO_STARSTAR results, which
// bound the backtracking and which wildmatch_array() relies on when retrying
// after each slash.

const FALSE = 0;
const TRUE = 1;
const ABORT_ALL = -1;
const ABORT_TO_STARSTAR = -2;
type Result = typeof FALSE | typeof TRUE | typeof ABORT_ALL | typeof ABORT_TO_STARSTAR;

const SLASH = 0x2f;

type Token =
  | { kind: 'byte'; byte: number } // byte -1 never matches (a pattern ending in '\')
  | { kind: 'any' }
  | { kind: 'star'; double: boolean }
  | { kind: 'class'; accepts: Uint8Array } // by byte value; negation and '/' already applied
  | { kind: 'abort' }; // malformed class: the match fails once it gets here

/**
 * Matches text against a compiled pattern, as rsync's wildmatch_array() does
 * with the text it passes as an array of pieces (here already joined):
 *   where = 0: the whole text;
 *   where > 0: only its last `where` slash-separated components (no match if
 *              it has fewer);
 *   where < 0: the whole text, or the rest after any slash in it.
 */
export type Wildmatcher = (text: string, where?: number) => boolean;

export function compileWildmatch(pattern: string): Wildmatcher {
  const tokens = tokenize(toBytes(pattern));
  return (text, where = 0) => matchArray(tokens, toBytes(text), where);
}

/** rsync's wildmatch(): does the whole text match the pattern? */
export function wildmatch(pattern: string, text: string): boolean {
  return compileWildmatch(pattern)(text);
}

const ASCII = /^[\x00-\x7f]*$/;

// One char per byte of the UTF-8 encoding, so that '?' and classes see bytes as
// rsync does.  ASCII strings (almost all paths) are already that.
function toBytes(s: string): string {
  return ASCII.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

function tokenize(pat: string): Token[] {
  const tokens: Token[] = [];
  for (let p = 0; p < pat.length; p++) {
    const ch = pat.charCodeAt(p);
    switch (ch) {
      case 0x5c: // '\'
        p++;
        tokens.push({ kind: 'byte', byte: p < pat.length ? pat.charCodeAt(p) : -1 });
        break;
      case 0x3f: // '?'
        tokens.push({ kind: 'any' });
        break;
      case 0x2a: {
        // '*': rsync folds any run of two or more stars into "**".
        let end = p + 1;
        while (pat.charCodeAt(end) === 0x2a) end++;
        tokens.push({ kind: 'star', double: end - p > 1 });
        p = end - 1;
        break;
      }
      case 0x5b: {
        // '['
        const cls = parseClass(pat, p);
        if (!cls) {
          // Nothing after a malformed class can ever be reached.
          tokens.push({ kind: 'abort' });
          return tokens;
        }
        tokens.push({ kind: 'class', accepts: cls.accepts });
        p = cls.end;
        break;
      }
      default:
        tokens.push({ kind: 'byte', byte: ch });
    }
  }
  return tokens;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isAlpha = (c: number) => isUpper(c) || isLower(c);
const isAlnum = (c: number) => isAlpha(c) || isDigit(c);
const isGraph = (c: number) => c > 0x20 && c < 0x7f;

// The C locale's <ctype.h> classes: bytes >= 0x80 belong to none of them.
const NAMED_CLASSES = new Map<string, (c: number) => boolean>([
  ['alnum', isAlnum],
  ['alpha', isAlpha],
  ['blank', (c) => c === 0x20 || c === 0x09],
  ['cntrl', (c) => c < 0x20 || c === 0x7f],
  ['digit', isDigit],
  ['graph', isGraph],
  ['lower', isLower],
  ['print', (c) => c >= 0x20 && c < 0x7f],
  ['punct', (c) => isGraph(c) && !isAlnum(c)],
  ['space', (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d)],
  ['upper', isUpper],
  ['xdigit', (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)],
]);

/**
 * Parses the class starting at pat[start] === '[', following the parsing loop
 * of rsync's dowild() step by step (its quirks included: a ']' or '-' right
 * after the opening bracket is literal, a "[:" that is not closed by ":]" is a
 * literal '[').  Returns the bytes the class accepts and the index of its
 * closing ']', or null when rsync would abort.
 */
function parseClass(pat: string, start: number): { accepts: Uint8Array; end: number } | null {
  const at = (i: number) => (i < pat.length ? pat.charCodeAt(i) : 0);
  const inClass = new Uint8Array(256);
  let p = start + 1;
  let ch = at(p);
  if (ch === 0x5e) ch = 0x21; // '^' is a synonym of '!'
  const negated = ch === 0x21;
  if (negated) ch = at(++p);
  let prev = 0;
  do {
    if (!ch) return null;
    if (ch === 0x5c) {
      // '\': the next byte, literally
      ch = at(++p);
      if (!ch) return null;
      inClass[ch] = 1;
    } else if (ch === 0x2d && prev && at(p + 1) && at(p + 1) !== 0x5d) {
      // '-' between two bytes: a range
      ch = at(++p);
      if (ch === 0x5c) {
        ch = at(++p);
        if (!ch) return null;
      }
      for (let c = prev; c <= ch; c++) inClass[c] = 1;
      ch = 0; // a range end cannot start another range
    } else if (ch === 0x5b && at(p + 1) === 0x3a) {
      // "[:name:]"
      const s = (p += 2);
      while ((ch = at(p)) && ch !== 0x5d) p++;
      if (!ch) return null;
      if (p - s - 1 < 0 || at(p - 1) !== 0x3a) {
        // No ":]": the '[' is just a member and parsing resumes after it.
        p = s - 2;
        ch = 0x5b;
        inClass[ch] = 1;
        continue;
      }
      const named = NAMED_CLASSES.get(pat.slice(s, p - 1));
      if (!named) return null;
      for (let c = 0; c < 0x80; c++) if (named(c)) inClass[c] = 1;
      ch = 0;
    } else {
      inClass[ch] = 1;
    }
  } while (((prev = ch), (ch = at(++p)) !== 0x5d));

  const accepts = new Uint8Array(256);
  for (let c = 0; c < 256; c++) accepts[c] = c !== SLASH && (inClass[c] === 1) !== negated ? 1 : 0;
  return { accepts, end: p };
}

/** rsync's dowild(): matches tokens[p..] against text[t..]. */
function dowild(tokens: readonly Token[], p: number, text: string, t: number): Result {
  for (; p < tokens.length; p++, t++) {
    const tok = tokens[p]!;
    if (t >= text.length && tok.kind !== 'star') return ABORT_ALL;
    const c = text.charCodeAt(t);
    switch (tok.kind) {
      case 'byte':
        if (c !== tok.byte) return FALSE;
        continue;
      case 'any':
        if (c === SLASH) return FALSE;
        continue;
      case 'class':
        if (!tok.accepts[c]) return FALSE;
        continue;
      case 'abort':
        return ABORT_ALL;
      case 'star':
        if (p === tokens.length - 1) {
          // A trailing "**" matches everything, a trailing "*" anything without a slash.
          return tok.double || text.indexOf('/', t) < 0 ? TRUE : FALSE;
        }
        for (; t < text.length; t++) {
          const matched = dowild(tokens, p + 1, text, t);
          if (matched !== FALSE) {
            if (!tok.double || matched !== ABORT_TO_STARSTAR) return matched;
          } else if (!tok.double && text.charCodeAt(t) === SLASH) {
            // A single star cannot cross this slash; let an enclosing "**" advance.
            return ABORT_TO_STARSTAR;
          }
        }
        return ABORT_ALL;
    }
  }
  return t >= text.length ? TRUE : FALSE;
}

/** rsync's wildmatch_array() on the already joined text. */
function matchArray(tokens: readonly Token[], text: string, where: number): boolean {
  let start = 0;
  if (where > 0) {
    // trailing_N_elements(): start after the where-th slash from the end.
    let slashes = 0;
    let i = text.length;
    while (slashes < where && i > 0 && (i = text.lastIndexOf('/', i - 1)) >= 0) slashes++;
    if (slashes === where) start = i + 1;
    else if (slashes !== where - 1) return false;
  }
  let matched = dowild(tokens, 0, text, start);
  if (matched !== TRUE && where < 0 && matched !== ABORT_ALL) {
    for (let i = text.indexOf('/', start); ; i = text.indexOf('/', i + 1)) {
      if (i < 0) return false;
      matched = dowild(tokens, 0, text, i + 1);
      if (matched !== FALSE && matched !== ABORT_TO_STARSTAR) break;
    }
  }
  return matched === TRUE;
}
