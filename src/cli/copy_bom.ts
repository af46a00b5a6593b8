// copy_bom: the drop-in for Occlum's tool. A rebuild where nothing changed is answered from the
// record of the last run (src/record.ts) without loading the rest; any other run is
// load -> collect -> resolve -> plan -> apply -> report (./copy_bom_run.ts).
import './threads.js';
import './epipe.js';
import { log } from '../log.js';
import { unchangedOutcome } from '../record.js';
import { printEnd, warnIfNotEmpty } from '../report.js';
import { runMain } from './main.js';

await runMain('copy_bom', async () => {
  const last = await unchangedOutcome(process.argv.slice(2), process.cwd(), process.env);
  if (!last) return (await import('./copy_bom_run.js')).main();
  warnIfNotEmpty(last.root);
  for (const w of last.outcome.warnings) log.warn(w);
  return printEnd(last.outcome.digest, last.outcome.missing);
});
