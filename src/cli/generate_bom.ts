// generate_bom: write a BOM for some programs (and files, directories) that copy_bom can build
// an image from. The second tool of Occlum's BOM RFC (#565).
import './epipe.js';
import path from 'node:path';
import { Command, CommanderError } from '../vendor.js';
import { writeOutput } from '../output.js';
import { Exit, UserError } from '../errors.js';
import { checkRoundTrip, renderBom, resolveInputs } from '../generate/bom.js';
import { log } from '../log.js';
import { runMain } from './main.js';
import { VERSION } from '../version.js';
import { SOURCE_ROOT_HELP, sourceRoot } from './source-root.js';

interface Options {
  executable?: string[];
  file?: string[];
  dir?: string[];
  include?: string[];
  targetDir: string;
  hash?: boolean;
  output: string;
  sourceRoot?: string;
}

function parse(argv: string[]): Options {
  const program = new Command('generate_bom')
    .description('Write a BOM that copies executables (with the libraries they need), files and directories into an Occlum image.')
    .option('-e, --executable <file...>', 'executables to put into the image (repeatable); copy_bom adds their loader and libraries')
    .option('-f, --file <file...>', 'other files to put into the image (repeatable)')
    .option('-D, --dir <dir...>', 'directories to copy recursively (repeatable); a trailing / copies only the contents')
    .option('-d, --target-dir <dir>', 'directory in the image they all go into', '/bin')
    .option('-i, --include <bom...>', 'BOM files to include, such as base.yaml (repeatable)')
    .option('--hash', "pin each file's SHA-256 in the BOM (copy_bom then refuses a changed file)")
    .option('--source-root <dir>', `${SOURCE_ROOT_HELP}; relative paths start at its /, and copy_bom needs the same --source-root`)
    .requiredOption('-o, --output <file>', 'where to write the BOM; - for standard output')
    .version(VERSION, '-V, --version')
    .addHelpText(
      'after',
      `
Paths are written as absolute paths (relative ones are taken from the current directory), so
the BOM works from any instance directory. Exit status: 0 done, 1 bad command line or an input
of the wrong kind, 254 the output could not be written, 255 an input does not exist.

Example, from an Occlum instance directory:
  generate_bom -e /usr/bin/redis-server -i base.yaml -o ../redis.yaml
  copy_bom -f ../redis.yaml --root image`,
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; a bad command line with 1, as copy_bom.
      throw Object.assign(new Error('exit'), { exit: e.exitCode === 0 ? Exit.ok : Exit.usage });
    }
    throw e;
  }
  return program.opts<Options>();
}

async function generate(): Promise<number> {
  let opts: Options;
  try {
    opts = parse(process.argv);
  } catch (e) {
    const code = (e as { exit?: number }).exit;
    if (code !== undefined) return code;
    throw e;
  }
  // The RFC's synopsis: a BOM is generated for programs; files and directories come with them.
  const { root: source } = await sourceRoot(opts.sourceRoot);
  const executables = opts.executable ?? [];
  if (executables.length === 0) throw new UserError('at least one executable is needed (-e FILE)', Exit.usage);

  const spec = await resolveInputs({
    executables,
    files: opts.file ?? [],
    dirs: opts.dir ?? [],
    includes: opts.include ?? [],
    targetDir: opts.targetDir,
    hash: opts.hash ?? false,
    cwd: process.cwd(),
    source,
    ...(opts.sourceRoot === undefined ? {} : { sourceName: opts.sourceRoot }),
  });
  const text = renderBom(spec);
  checkRoundTrip(text, spec);

  writeOutput(text, opts.output === '-' ? '-' : path.resolve(opts.output));
  if (opts.output !== '-') {
    const out = path.resolve(opts.output);
    const count = spec.executables.length + spec.files.length + spec.dirs.length;
    log.info(`wrote ${out}: ${count} entries into ${spec.target}`);
  }
  return Exit.ok;
}

export const main = () => runMain('generate_bom', generate);
