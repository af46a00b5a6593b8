// A delta run: the record of the last run (src/record.ts) says which of the paths it read or
// wrote changed. When they are only regular files of copied trees, not ELF files before or
// after (no dependency can have changed), each the source of one image path, and the image
// and the manifest are as that run left them, a full run would copy those files and nothing
// else: so they are copied alone (rsync's quick check and copy, as the full run makes them),
// their directories get back their mtimes, their manifest entries and the digest are made
// again from the manifest's index (src/written.ts), and the record is refreshed for them.
// Anything else is the full run's (undefined), and so is any failure: the full run finds the
// image as far as this got and finishes it.
import { lstatSync, readFileSync, realpathSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { isElf } from './elf/read.js';
import { copyFileAtomic, newStats } from './fsops/copy.js';
import { realRoot } from './fsops/jail.js';
import { lockImage } from './fsops/lock.js';
import { metaOf } from './fsops/tree.js';
import { decimalSeconds, setMtime } from './fsops/times.js';
import { log } from './log.js';
import { resolved } from './plan/paths.js';
import { octal, type Entry } from './manifest.js';
import { writeAtomically } from './output.js';
import { entriesAt, indicesOf } from './nul-list.js';
import { refreshRecord, type LastRun, type Outcome } from './record.js';
import { patchedManifest, readIndexFile, treeEntryOf, writeIndex, type EntryChange } from './written.js';

type Changed = Extract<LastRun, { record: unknown }>;

/** The outcome of the delta run, or undefined: then the full run is needed. */
export async function deltaRun(last: Changed, startedNs: bigint): Promise<Outcome | undefined> {
  const { record } = last;
  const { inputs } = record.stored;
  if (last.changed.some((c) => c.part >= inputs)) return undefined; // the manifest or the image was touched
  const sources: { part: number; index: number; path: string }[] = [];
  for (let part = 0; part < inputs; part++) {
    const indices = last.changed.filter((c) => c.part === part).map((c) => c.index);
    if (indices.some((i) => record.parts[part]!.kinds[i] !== 'L')) return undefined;
    entriesAt(record.parts[part]!.paths, indices).forEach((p, k) => sources.push({ part, index: indices[k]!, path: p! }));
  }
  const [manifestFile] = entriesAt(record.parts[inputs]!.paths, [0]) as [string];
  const release = await lockImage(last.root, (pid, file) => log.warn(`waiting for copy_bom (pid ${pid}) to finish with ${last.root} (lock file ${file})`));
  try {
    return await underLock(last, sources, manifestFile, startedNs);
  } catch (e) {
    log.debug(`delta run given up (${(e as Error).message}): the full run`);
    return undefined;
  } finally {
    release();
  }
}

async function underLock(last: Changed, sources: readonly { part: number; index: number; path: string }[], manifestFile: string, startedNs: bigint): Promise<Outcome | undefined> {
  const { record } = last;
  const rootAbs = realRoot(last.root);
  const index = readIndexFile(manifestFile);
  if (!index) return undefined;
  const text = readFileSync(manifestFile);
  // What each source is now, and the image file it was copied to; these checks before anything is written.
  const work: { source: string; st: BigIntStats; host: string; at: { start: number; end: number; entry: Entry } }[] = [];
  for (const { path: source } of sources) {
    const st = lstatSync(source, { bigint: true });
    const at = treeEntryOf(text, resolved(source)); // the record has them as the run named them (its cwd is this one)
    if (!st.isFile() || st.nlink !== 1n || !at || at.entry.type !== 'file') return undefined;
    const host = rootAbs + at.entry.path;
    if (realpathSync.native(path.dirname(host)) !== path.dirname(host)) return undefined; // no link on the way out of the root
    const old = lstatSync(host, { bigint: true });
    if (!old.isFile() || old.nlink !== 1n || Number(old.size) !== at.entry.size || decimalSeconds(old.mtimeNs) !== at.entry.mtime) return undefined;
    if (isElf(source) || isElf(host)) return undefined; // its dependencies are the analysis's
    work.push({ source, st, host, at });
  }
  // The copies, then their directories' mtimes as they were (a full run leaves them the source's).
  const dirs = new Map([...new Set(work.map((w) => path.dirname(w.host)))].map((d) => [d, lstatSync(d, { bigint: true }).mtimeNs]));
  const stats = newStats();
  const changes: EntryChange[] = [];
  for (const w of work) {
    await copyFileAtomic(w.source, w.host, metaOf(w.st), stats);
    const state = stats.done.get(w.host)!;
    const was = w.at.entry;
    // Kept by the quick check (the old size and mtime put back): the bytes are the image's, as the manifest has them.
    const now: Entry = { ...was, mode: octal(state.mode), size: state.size, mtime: decimalSeconds(state.mtimeNs), sha256: state.sha256 ?? was.sha256! };
    changes.push({ start: w.at.start, end: w.at.end, was, now });
  }
  for (const [dir, mtimeNs] of dirs) await setMtime(dir, mtimeNs, false);

  // An index that does not hold what the manifest says: the full run, which finishes what was copied.
  const patched = patchedManifest(text, index, changes);
  if (!patched) return undefined;
  writeAtomically(manifestFile, patched.pieces, 0o644);
  writeIndex(manifestFile, patched.key, patched.index);
  // The record: the sources as they are now, the manifest, the image files and their directories.
  const touched = new Set([...work.map((w) => w.host), ...dirs.keys()]);
  const refresh = [...sources, { part: record.stored.inputs, index: 0 }];
  for (let part = record.stored.inputs + 1; part < record.parts.length; part++) for (const i of indicesOf(record.parts[part]!.paths, touched)) refresh.push({ part, index: i });
  const outcome = { ...last.outcome, digest: patched.digest };
  await refreshRecord(record, refresh, startedNs, outcome);
  log.debug(`delta run: ${stats.files} of ${work.length} changed files copied, ${stats.unchanged} kept by the quick check`);
  return outcome;
}
