// `occlum-bom trace`: run the command the user gave under strace and write the BOM of what it
// used. The only part of the project that runs a program, and it runs exactly that one.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { describeFsError, Exit, UserError } from '../../errors.js';
import { log } from '../../log.js';
import { checkWritable, writeOutput } from '../../output.js';
import { addRun, emptyTrace, fromText, toText, union, type Traced } from '../../trace/model.js';
import { eventsOf, STRACE_ARGS } from '../../trace/strace.js';

interface Options {
  output: string;
  include: string[];
  base: boolean;
  keep: string[];
  merge?: string;
}

export function register(program: Command): void {
  program
    .command('trace')
    .description('Run a command under strace and write a BOM of every file it executed, read, mapped or listed, with the links on the way.')
    .usage('[options] -- <command> [args...]')
    .argument('<command...>', 'the command to run, and its arguments')
    .option('-o, --output <file>', 'where to write the BOM (- for stdout)', '-')
    .option('-i, --include <bom>', 'add an includes: entry (repeatable; default: base.yaml, unless --merge)', collect, [])
    .option('--no-base', 'no includes: entry by default (base.yaml: the directories of every Occlum image)')
    .option('--keep <dir>', 'copy this directory whole instead of the files used under it (repeatable)', collect, [])
    .option('--merge <bom>', 'add this run to a BOM an earlier trace wrote (the union of the runs)')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
The command's stdin, stdout and stderr pass through, and its exit status is trace's (128 + the
signal number when a signal killed it); a command that fails still gets its BOM, with a warning.
Left out: /proc, /sys, /dev, /run (what was used there is named in the header) and every file
the command wrote. Exit status 3: no strace (Debian package strace); 253: the --merge file is
not exactly as trace wrote it; 255: it does not exist; 254: the output cannot be written (all
found before the command runs). Nothing is run but the command given.`,
    )
    .action(trace);
}

const collect = (value: string, previous: string[]) => [...previous, value];

async function trace(command: string[], opts: Options): Promise<void> {
  // Everything that can be found out before the command runs is: a run is not always repeatable.
  const strace = findStrace();
  const earlier = opts.merge === undefined ? emptyTrace() : readEarlier(opts.merge);
  checkWritable(opts.output);
  const work = mkdtempSync(path.join(os.tmpdir(), 'occlum-bom-trace-'));
  try {
    const out = path.join(work, 'strace.out');
    const { status, signal } = await run(strace, [...STRACE_ARGS, '-o', out, '--', ...command]);
    let text = '';
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      // strace could not start the command: it said why on stderr
    }
    const events = eventsOf(text, process.cwd());
    if (!events.some((e) => e.use === 'exec')) throw new UserError(`${command[0]} did not run (strace exit status ${status}): no BOM written`, Exit.usage);
    if (status !== 0) log.warn(`${command.join(' ')} ${signal ? `was killed by ${signal}` : `exited with status ${status}`}; the BOM holds what it used until then`);
    const traced = emptyTrace();
    traced.includes = opts.include.length || opts.merge !== undefined || !opts.base ? opts.include : ['base.yaml'];
    const home = os.homedir();
    await addRun(traced, command, events, opts.keep.map((k) => path.resolve(k)), (m) => log.warn(m), home === '/' ? undefined : home);
    const bom = toText(union(earlier, traced));
    writeOutput(bom, opts.output);
    process.exitCode = status;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** strace on the PATH, or the one-line error that names the package. */
function findStrace(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const file = path.join(dir || '.', 'strace');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new UserError('trace needs strace, which is not on the PATH (Debian package: strace)', Exit.toolMissing);
}

/**
 * Run strace with the terminal handed over: our own SIGINT and SIGQUIT are the command's to act
 * on. strace ends as its command did: with its status, or killed by the same signal (status
 * 128 + its number, as a shell reports it).
 */
function run(file: string, args: string[]): Promise<{ status: number; signal: NodeJS.Signals | null }> {
  const ignore = () => undefined;
  process.on('SIGINT', ignore).on('SIGQUIT', ignore);
  return new Promise<{ status: number; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    child.on('error', (e) => reject(new UserError(`cannot run ${file}: ${describeFsError(e)}`, Exit.toolMissing)));
    child.on('close', (code, signal) => resolve({ status: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0), signal }));
  }).finally(() => process.off('SIGINT', ignore).off('SIGQUIT', ignore));
}

function readEarlier(file: string): Traced {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`--merge ${file}: ${describeFsError(e)}`, Exit.fileNotFound);
  }
  const t = fromText(text);
  if (typeof t === 'string') throw new UserError(`--merge ${file}: not a BOM occlum-bom trace wrote: ${t}`, Exit.invalidBom);
  // Only what reads back exactly: anything else (a BOM written by hand, or edited since) would
  // be rewritten, and what trace does not know of in it lost. The explanatory comment at the
  // top is trace's own, and may be that of another version.
  const was = text.split('\n');
  const is = toText(t).split('\n');
  const from = explanation(was);
  const to = explanation(is);
  let at = 0;
  while (at < was.length - from && was[from + at] === is[to + at]) at++;
  if (at < was.length - from || was.length - from !== is.length - to) {
    throw new UserError(`--merge ${file}: not exactly as occlum-bom trace wrote it (line ${from + at + 1}: ${JSON.stringify(was[from + at] ?? '')}); left untouched`, Exit.invalidBom);
  }
  return t;
}

/** How many lines the comment trace writes first takes: the leading comment lines before its first line of data. */
function explanation(lines: readonly string[]): number {
  let n = 0;
  while (n < lines.length && lines[n]!.startsWith('#') && !/^# (command|output|left out|device): /.test(lines[n]!)) n++;
  return n;
}
