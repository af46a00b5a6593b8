// The front door and the reference (issue 17, point 2): README at most 200 lines, every link in
// README and docs/ leads to a file that is there, every command and every option `--help`
// prints is documented, and every docs page with examples says which test runs what they show.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repo, run } from './helpers.ts';

const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
const docs = readdirSync(path.join(repo, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ file: path.join('docs', f), text: readFileSync(path.join(repo, 'docs', f), 'utf8') }));
const everything = [readme, ...docs.map((d) => d.text), readFileSync(path.join(repo, 'SECURITY.md'), 'utf8')].join('\n');

/** Each long option a command's --help lists. */
function options(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help' && o !== '--version');
}

describe('README and docs/', () => {
  it('README is at most 200 lines, with the two set-up commands on its first screen', () => {
    assert.ok(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`);
    const first = readme.split('\n').slice(0, 25).join('\n');
    assert.match(first, /^npm ci && npm run demo/m);
    assert.match(first, /^npm test/m);
  });

  it('every relative link leads to a file that is there', () => {
    for (const { file, text } of [{ file: 'README.md', text: readme }, ...docs]) {
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        assert.ok(existsSync(path.join(repo, path.dirname(file), target!)), `${file} links to ${target}, which is not there`);
      }
    }
  });

  it('every command is in the README table, and every option --help prints is documented', () => {
    const top = run('occlum-bom', ['--help']);
    const subcommands = [...top.stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    assert.ok(subcommands.length >= 9, top.stdout);
    const helps: [string, string][] = [
      ['copy_bom', run('copy_bom', ['--help']).stdout],
      ['generate_bom', run('generate_bom', ['--help']).stdout],
      ...subcommands.map((c): [string, string] => [`occlum-bom ${c}`, run('occlum-bom', [c, '--help']).stdout]),
    ];
    for (const [command, help] of helps) {
      assert.ok(readme.includes(`| \`${command}`), `${command} has a row in the README's table of commands`);
      for (const o of options(help)) assert.ok(everything.includes(o), `${command} ${o} (in its --help) is documented in README or docs/`);
    }
  });

  it('every page with examples says whether a test runs them', () => {
    for (const { file, text } of docs) {
      if (!/^( {4}\S|```)/m.test(text)) continue; // no examples
      assert.match(text, /not run as written|run by `test\/|runs each|built and run by/, `${file} says which test runs its examples, or that they are not run`);
    }
  });

  it('every command prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    for (const command of ['copy_bom', 'generate_bom', 'occlum-bom'] as const) assert.equal(run(command, ['--version']).stdout, `${version}\n`);
  });
});
