// `occlum-bom new DIR`: a fresh Occlum instance directory (the layout `occlum new` makes),
// ready for `copy_bom -f app.yaml --root image --include-dir templates`.
import type { Command } from 'commander';
import { Exit, UserError } from '../../errors.js';
import { fromImage } from '../../generate/from-image.js';
import { createInstance, defaultOcclumJson, IMAGE_DIRS, INITFS_DIRS } from '../../generate/instance.js';
import { absoluteImage, sourceRoot } from '../source-root.js';

export function register(program: Command): void {
  program
    .command('new')
    .description('Create an Occlum instance directory: Occlum.json, image/, initfs/, build/, run/ and templates/.')
    .argument('<dir>', 'the instance directory to create; it must not exist')
    .option('--from-image <image>', 'an instance running a container image (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF]): its entry point, command, Env and working directory, and image.yaml, a BOM of its file system')
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

With --from-image, Occlum.json's env.default gets the image's Env, entry_points the program's
directory, and from_image (ignored by Occlum) the entry point, command, working directory and
the command line to give \`occlum run\`; image.yaml copies the image's file system without
/dev, /proc, /sys, /run, /tmp and package caches. The image is unpacked into the cache
directory, where copy_bom finds it again.

Exit status: 0 done; 1 DIR already exists (nothing is written), or the image is named wrongly
(no such file, tag or index; a registry or daemon image); 250 the image is damaged (a layer
that does not match its digest, a truncated archive, a hostile path) or cannot be unpacked;
252 a directory or file could not be created (what was made is removed).`,
    )
    .action(async (dir: string, opts: { fromImage?: string }) => {
      if (opts.fromImage === undefined) {
        await createInstance(dir);
        process.stdout.write(`${dir}: Occlum instance created; build its image with\n  cd ${shellQuote(dir)} && copy_bom -f <bom.yaml> --root image --include-dir templates\n`);
        return;
      }
      // Named by an absolute path: the command printed works from the instance directory.
      const image = absoluteImage(opts.fromImage, '--from-image');
      if (image === null) throw new UserError(`--from-image ${opts.fromImage}: not an image (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF])`, Exit.usage);
      const source = await sourceRoot(image, '--from-image');
      const made = fromImage(defaultOcclumJson(), source.image!.config, image, source.root);
      await createInstance(dir, { occlumJson: made.occlumJson, files: { 'image.yaml': made.bom } });
      process.stdout.write(
        `${dir}: Occlum instance created from ${image}; build its image with\n` +
          `  cd ${shellQuote(dir)} && copy_bom -f image.yaml --root image --source-root ${shellQuote(image)}\n` +
          `then: occlum build && occlum run ${made.command.map(shellQuote).join(' ')}\n`,
      );
    });
}

/** `dir` as the shell reads it back, for the hint printed on success. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
