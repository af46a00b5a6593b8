// The BOM format: one zod definition, used by the loader to validate and by
// `occlum-bom schema` to generate the JSON Schema (never written by hand).
import { z } from '../vendor.js';

const path = (what: string) => z.string().min(1, 'must not be empty').describe(what);
const list = <T extends z.ZodType>(item: T, what: string) => z.array(item).nullish().describe(what);

export const FileEntry = z
  .strictObject({
    name: path('Path of the file to copy; relative names are joined to `from`. May be a glob (*, ?, [..], **).'),
    hash: z.string().nullish().describe('SHA-256 of the file, 64 hex digits (any case); the run stops before writing if it differs.'),
    autodep: z.boolean().nullish().describe('Copy the shared libraries this ELF file needs (default true).'),
    rename: path('Name of the copy inside the target directory.').nullish(),
    optional: z.boolean().nullish().describe('Extension: a missing file or a glob that matches nothing is skipped instead of an error.'),
  })
  .describe('A file to copy, with options.');

export const DirEntry = z.union([
  path('Directory to copy; with a trailing slash its contents go directly into the target.'),
  z
    .strictObject({
      name: path('Directory to copy; with a trailing slash its contents go directly into the target.'),
      optional: z.boolean().nullish().describe('Extension: skip it when missing or when a glob matches nothing.'),
      keeplinks: z
        .boolean()
        .nullish()
        .describe('Extension: keep every symbolic link in it as a link with its target as is, absolute ones too (rsync -a without --copy-unsafe-links): for a whole root file system, where an absolute link means the same inside the image.'),
    })
    .describe('A directory to copy, with options (extension).'),
]);

export const Source = z
  .strictObject({
    from: path('Directory the names below are relative to (relative to the parent of the image root).').nullish(),
    dirs: list(DirEntry, 'Directories to copy recursively (rsync -ar --copy-unsafe-links semantics).'),
    files: list(z.union([path('File to copy (symlinks are followed).'), FileEntry]), 'Files to copy.'),
  })
  .refine((s) => s.from != null || s.dirs != null || s.files != null, {
    message: 'a copy entry needs at least one of `from`, `dirs` or `files`',
  })
  .describe('Things to copy into the target; without `dirs` and `files`, the contents of `from` are copied.');

export const Link = z
  .strictObject({
    src: path('Target of the symbolic link, stored verbatim.'),
    linkname: path('Name of the link inside the target directory.'),
  })
  .describe('A symbolic link to create (replaces whatever is at linkname).');

export const Target = z
  .strictObject({
    target: path('Destination directory inside the image (a leading / is the image root).'),
    mkdirs: list(path('Directory to create, relative to the target.'), 'Directories to create.'),
    createlinks: list(Link, 'Symbolic links to create.'),
    copy: list(Source, 'Files and directories to copy.'),
  })
  .describe('Operations that share one destination directory.');

export const Bom = z
  .strictObject({
    includes: list(path('BOM file to include: looked up next to this file, then in each --include-dir.'), 'BOM files to include.'),
    excludes: list(path('rsync --exclude pattern.'), 'Patterns excluded from the directory copies of this BOM (rsync --exclude rules).'),
    targets: list(Target, 'Destinations and what goes into them.'),
  })
  .describe('An Occlum bill of materials: what goes into the image.');

export type BomInput = z.infer<typeof Bom>;

/** Valid keys of each kind of map, for "did you mean" suggestions. */
export const KEYS = {
  bom: Object.keys(Bom.shape),
  target: Object.keys(Target.shape),
  link: Object.keys(Link.shape),
  source: ['from', 'dirs', 'files'],
  file: Object.keys(FileEntry.shape),
  dir: ['name', 'optional', 'keeplinks'],
} as const;
