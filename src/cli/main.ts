// What every command shares: one-line errors with exit codes, never a stack trace.
import { Exit, oneLine, UserError, UserErrors } from '../errors.js';
import { enabled } from '../log.js';

export async function runMain(name: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (e) {
    if (e instanceof UserError) {
      for (const one of e instanceof UserErrors ? e.all : [e]) process.stderr.write(`${name}: error: ${oneLine(one.message)}\n`);
      process.exitCode = e.exitCode;
    } else {
      const err = e as Error;
      process.stderr.write(`${name}: internal error: ${oneLine(err?.message ?? String(e))}\n`);
      if (enabled('debug') && err?.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    }
  }
}

export function notImplemented(name: string): void {
  process.stderr.write(`${name}: not implemented yet\n`);
  process.exitCode = Exit.notImplemented;
}
