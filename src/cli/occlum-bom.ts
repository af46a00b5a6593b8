// occlum-bom: the project's multi-command tool; each subcommand lives in src/cli/commands/.
// Errors end up as one line on stderr, never a stack trace.
import './threads.js';
import './epipe.js';
import { Command, CommanderError } from '../vendor.js';
import { Exit, oneLine, UserError } from '../errors.js';
import { register as deps } from './commands/deps.js';
import { register as newInstance } from './commands/new.js';
import { register as sbom } from './commands/sbom.js';
import { register as schema } from './commands/schema.js';
import { register as templates } from './commands/templates.js';
import { register as trace } from './commands/trace.js';
import { register as tree } from './commands/tree.js';
import { register as verify } from './commands/verify.js';
import { register as why } from './commands/why.js';
import { VERSION } from '../version.js';

const program = new Command()
  .name('occlum-bom')
  .description('Tools for building the root file system of an Occlum image.')
  .exitOverride()
  .version(VERSION, '-V, --version')
  .enablePositionalOptions()
  .configureOutput({ outputError: (text, write) => write(`occlum-bom: ${text.replace(/^error: /, '')}`) });

for (const register of [newInstance, templates, deps, tree, trace, verify, why, sbom, schema]) register(program);

export async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message (or the help); only the status is left to set.
      process.exitCode = e.exitCode === 0 ? Exit.ok : Exit.usage;
    } else if (e instanceof UserError) {
      process.stderr.write(`occlum-bom: ${oneLine(e.message)}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`occlum-bom: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
      process.exitCode = 1;
    }
  }
}

