// Search-path elements that start with $ORIGIN: where they lead moves with the object that
// names them (a program copied to another directory looks for its libraries from there).

/** Whether a search-path element starts with $ORIGIN or ${ORIGIN} ($ORIGINAL does not). */
export function leadsWithOrigin(element: string): boolean {
  return element.startsWith('${ORIGIN}') || (element.startsWith('$ORIGIN') && !/[A-Za-z0-9_]/.test(element[7] ?? ''));
}

/** The rest of `found` after the origin directory `dir`, when a path starting with $ORIGIN found it: `/../lib/libfoo.so`. */
export function fromOrigin(found: string, dir: string): string {
  return dir === '/' ? found.slice(1).replace(/^\/*/, '/') : found.slice(dir.length);
}
