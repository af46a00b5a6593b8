// copy_bom: the drop-in for Occlum's tool. A rebuild where nothing changed is answered from the
// record of the last run (src/record.ts) without loading the rest, one where only a few plain
// files of copied trees changed copies just those (src/delta.ts); any other run is
// load -> collect -> resolve -> plan -> apply -> report (./copy_bom_run.ts).
import './threads.js';
import './epipe.js';
import { log } from '../log.js';
import { lastRun, type Outcome } from '../record.js';
import { printEnd, warnIfNotEmpty } from '../report.js';
import { runMain } from './main.js';

export const main = () => runMain('copy_bom', async () => {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const last = await lastRun(process.argv.slice(2), process.cwd(), process.env);
  let outcome: Outcome | undefined = last?.outcome;
  if (last && 'record' in last) outcome = await (await import('../delta.js')).deltaRun(last, startedNs);
  if (!last || !outcome) return (await import('./copy_bom_run.js')).main();
  warnIfNotEmpty(last.root);
  for (const w of outcome.warnings) log.warn(w);
  return printEnd(outcome.digest, outcome.missing);
});
