// Paths (or fields) kept one after the other in a Buffer, each ended or separated by NUL: the
// form the addon takes them in and the run record and the manifest index store. Low in the
// house: nothing here knows what the paths are.

/** Where the entries at these indices are, [start, end) each, in the order asked: one pass over the NULs up to the last. */
export function rangesAt(list: Buffer, indices: readonly number[]): ([number, number] | undefined)[] {
  const wanted = [...new Set(indices)].sort((a, b) => a - b);
  const found = new Map<number, [number, number]>();
  let i = 0;
  let start = 0;
  for (let at = 0; at <= list.length && found.size < wanted.length; at++) {
    if (at < list.length && list[at] !== 0) continue;
    if (i === wanted[found.size]) found.set(i, [start, at]);
    i++;
    start = at + 1;
  }
  return indices.map((k) => found.get(k));
}

/** The entries at these indices, as text (an index past the end gives undefined). */
export function entriesAt(list: Buffer, indices: readonly number[]): (string | undefined)[] {
  return rangesAt(list, indices).map((r) => (r ? list.toString('utf8', ...r) : undefined));
}

/** The index of each occurrence of each of `entries` (found by its bytes between NULs, then counted), sorted. */
export function indicesOf(list: Buffer, entries: Iterable<string>): number[] {
  const starts: number[] = [];
  for (const p of entries) {
    const bytes = Buffer.from(p);
    if (list.length >= bytes.length && list.subarray(0, bytes.length).equals(bytes) && (list.length === bytes.length || list[bytes.length] === 0)) starts.push(0);
    const needle = Buffer.concat([Buffer.from([0]), bytes]);
    for (let at = list.indexOf(needle); at >= 0; at = list.indexOf(needle, at + 1)) {
      const end = at + needle.length;
      if (end === list.length || list[end] === 0) starts.push(at + 1);
    }
  }
  starts.sort((a, b) => a - b);
  const found: number[] = [];
  let nuls = 0;
  let at = 0;
  for (const start of starts) {
    for (; at < start; at++) if (list[at] === 0) nuls++;
    found.push(nuls);
  }
  return found;
}
