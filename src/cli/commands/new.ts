// `occlum-bom new DIR`: a fresh Occlum instance directory (the layout `occlum new` makes),
// ready for `copy_bom -f app.yaml --root image --include-dir templates`.
import type { Command } from 'commander';
import { createInstance, IMAGE_DIRS, INITFS_DIRS } from '../../generate/instance.js';

export function register(program: Command): void {
  program
    .command('new')
    .description('Create an Occlum instance directory: Occlum.json, image/, initfs/, build/, run/ and templates/.')
    .argument('<dir>', 'the instance directory to create; it must not exist')
    .addHelpText(
      'after',
      `
Layout:
  Occlum.json   a default configuration (Occlum's keys and defaults)
  image/        the root file system copy_bom fills, with etc/hosts and the directories
                ${IMAGE_DIRS.join(' ')}
  initfs/       ${INITFS_DIRS.join(' ')}
  build/ run/   where occlum build and occlum run keep their state
  templates/    copies of the template BOMs shipped with occlum-bom (base.yaml, ...)
On an Occlum host, \`occlum new\` makes the authoritative instance (with Occlum's init in
initfs/ and the Occlum.json of the installed version).

Exit status: 0 done, 1 DIR already exists (nothing is written), 252 a directory or file could
not be created (what was made is removed).`,
    )
    .action(async (dir: string) => {
      await createInstance(dir);
      process.stdout.write(`${dir}: Occlum instance created; build its image with\n  cd ${shellQuote(dir)} && copy_bom -f <bom.yaml> --root image --include-dir templates\n`);
    });
}

/** `dir` as the shell reads it back, for the hint printed on success. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
