// Writing a result: to stdout, or to a file through a temporary name beside it and a rename,
// so that a failed run never leaves half a document where the previous one was.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeFsError, Exit, UserError } from './errors.js';

export function writeAtomically(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
    throw new UserError(`cannot write ${file}: ${describeFsError(e)}`, Exit.copyFile);
  }
}

/** `undefined` or `-` is stdout. */
export function writeOutput(text: string, file: string | undefined): void {
  if (file === undefined || file === '-') process.stdout.write(text);
  else writeAtomically(file, text);
}
