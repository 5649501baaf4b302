import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';

/** A writable text stream (process.stdout, or a buffer in tests). */
export interface TextSink {
  write(text: string): unknown;
  /** True when a person is watching (progress bars are drawn only then). */
  isTTY?: boolean | undefined;
}

/** Where a command prints: results to `stdout`, progress and notes to `stderr`. */
export interface Streams {
  stdout: TextSink;
  stderr: TextSink;
}

/** A progress indicator for long work. */
export interface Progress {
  /** Sets the amount done (of `total`) and an optional status text. */
  update(done: number, status?: string): void;
  stop(): void;
}

/**
 * The one place that decides how results look: JSON for scripts (`--json`,
 * one document on stdout), tables and lines for people. Progress goes to
 * stderr and only when stderr is a terminal and `--json` is off, so piped
 * output stays clean.
 */
export class Output {
  constructor(
    readonly streams: Streams,
    readonly json: boolean,
  ) {}

  /** Prints a result: `value` as JSON with `--json`, else `human()`'s text. */
  result(value: unknown, human: () => string): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else this.streams.stdout.write(ensureNewline(human()));
  }

  /** A note for people (stderr); silent with `--json`. */
  note(text: string): void {
    if (!this.json) this.streams.stderr.write(ensureNewline(text));
  }

  /** Raw text on stdout (e.g. a template), whatever the mode. */
  raw(text: string): void {
    this.streams.stdout.write(ensureNewline(text));
  }

  /** A progress bar of `total` steps on stderr, or a no-op when nobody watches. */
  progress(label: string, total: number): Progress {
    if (this.json || this.streams.stderr.isTTY !== true) return { update: () => {}, stop: () => {} };
    const bar = new SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {status}`,
      stream: this.streams.stderr as NodeJS.WritableStream,
      hideCursor: true,
      clearOnComplete: false,
    });
    bar.start(total, 0, { status: '' });
    return {
      update: (done, status = '') => bar.update(done, { status }),
      stop: () => bar.stop(),
    };
  }
}

/** Renders rows as a table for people. */
export function table(head: string[], rows: (string | number)[][]): string {
  const rendered = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) rendered.push(row.map(String));
  return rendered.toString();
}

/** Renders key/value pairs as a vertical table (absent values are left out). */
export function details(pairs: [string, string | number | boolean | undefined][]): string {
  const rendered = new Table({ style: { head: [], border: [] } });
  for (const [key, value] of pairs) if (value !== undefined) rendered.push({ [key]: String(value) });
  return rendered.toString();
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
