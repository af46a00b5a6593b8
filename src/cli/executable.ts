// The single executable's entry point (packaging/executable.ts bundles it into the one script a
// Node single executable application runs). It answers to its name as busybox does: called as
// copy_bom, generate_bom or occlum-bom (links to it), it is that command; called by any other
// name (occlum-bom-linux-x64), its first argument names the command.
import './threads.js';
import path from 'node:path';
import { Exit } from '../errors.js';
import { useAssets, type Assets } from '../resources.js';

const COMMANDS: Record<string, () => Promise<{ main: () => Promise<void> }>> = {
  copy_bom: () => import('./copy_bom.js'),
  generate_bom: () => import('./generate_bom.js'),
  'occlum-bom': () => import('./occlum-bom.js'),
};

// Before any module that reads the tool's own files is loaded: they are the embedded assets.
useAssets(process.getBuiltinModule('node:sea') as Assets);

async function start(): Promise<void> {
  const called = path.basename(process.argv0);
  if (Object.hasOwn(COMMANDS, called)) return (await COMMANDS[called]!()).main();
  const name = process.argv[2];
  if (name !== undefined && Object.hasOwn(COMMANDS, name)) {
    process.argv.splice(2, 1); // the command sees its own arguments, as when called by its name
    return (await COMMANDS[name]!()).main();
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${(await import('../version.js')).VERSION}\n`);
    return;
  }
  const usage = `usage: ${called} COMMAND [ARGUMENTS...], COMMAND one of: ${Object.keys(COMMANDS).join(', ')} (or a link to ${called} by that name)\n`;
  if (name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return;
  }
  process.stderr.write(name === undefined ? usage : `${called}: no command ${JSON.stringify(name)}; ${usage}`);
  process.exitCode = Exit.usage;
}

void start();
