// A one-line progress display on stderr for long runs: the phase, files and bytes done.
// Only on a terminal (redrawn in place, at most ten times a second); a pipe or a log file
// gets nothing from it, so scripts see exactly upstream's output.
import type { CopyStats } from './fsops/copy.js';
import { enabled } from './log.js';

export interface Totals {
  files: number;
  bytes: number;
}

const MB = 1024 * 1024;

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private line = '';

  constructor(private readonly out: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): unknown }, private readonly enabled: boolean) {}

  /** On stderr when it is a terminal, unless quiet, or logging at info level (each operation is a line then). */
  static forStderr(quiet: boolean): Progress {
    return new Progress(process.stderr, !quiet && !enabled('info') && process.stderr.isTTY === true);
  }

  /** A phase without counts (scanning, analysing). */
  phase(name: string): void {
    this.stop();
    this.draw(`${name}...`);
  }

  /** The copy phase: redrawn from the stats the copy updates. */
  copying(stats: CopyStats, totals: Totals): void {
    this.stop();
    if (!this.enabled) return;
    const render = () => {
      const done = stats.files + stats.linked + stats.unchanged;
      this.draw(`copy: ${done}/${totals.files} files, ${(stats.bytes / MB).toFixed(0)} MB written of at most ${(totals.bytes / MB).toFixed(0)} MB`);
    };
    render();
    this.timer = setInterval(render, 100).unref();
  }

  /** Clear the line: the run's own output follows. */
  done(): void {
    this.stop();
    if (this.enabled && this.line) this.out.write('\r\x1b[K');
    this.line = '';
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private draw(text: string): void {
    if (!this.enabled || text === this.line) return;
    this.line = text;
    this.out.write(`\r\x1b[K${text}`);
  }
}
