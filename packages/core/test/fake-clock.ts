/** A settable clock for limiter tests (ms since the epoch). */
export class FakeClock {
  constructor(public nowMs = 1_700_000_000_000) {}

  readonly read = (): number => this.nowMs;

  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** A logger that records warnings instead of printing them. */
export class RecordingLogger {
  readonly warnings: Array<{ message: string; details: Record<string, unknown> | undefined }> = [];

  warn(message: string, details?: Record<string, unknown>): void {
    this.warnings.push({ message, details });
  }
}
