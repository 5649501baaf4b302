import { msToNs } from '../math/time.js';

/**
 * The limiter's time: a clock in ns that never goes behind a reading already
 * used. A clock stepped back then forward again would otherwise credit the
 * same refill twice.
 */
export class MonotonicClock {
  private lastNs = 0n;
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly read: () => number) {}

  /** Reads the clock; returns the latest reading in ns. */
  nowNs(): bigint {
    const nowMs = this.read();
    if (nowMs > this.lastMs) {
      this.lastMs = nowMs;
      this.lastNs = msToNs(nowMs);
    }
    return this.lastNs;
  }

  /** The latest reading in ms, without reading the clock again. */
  get latestMs(): number {
    return this.lastMs;
  }
}
