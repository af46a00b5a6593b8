// Search-path elements that start with $ORIGIN: where they lead moves with the object that
// names them (a program copied to another directory looks for its libraries from there). Which
// elements do is each loader's own rule (glibc.ts, musl-load.ts).

/** The rest of `found` after the origin directory `dir`, when a path starting with $ORIGIN found it: `/../lib/libfoo.so`. */
export function fromOrigin(found: string, dir: string): string {
  return dir === '/' ? found.slice(1).replace(/^\/*/, '/') : found.slice(dir.length);
}
