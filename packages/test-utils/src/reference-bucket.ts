/**
 * A plain token bucket, written independently of the GCRA code: the level is
 * kept as exact rational tokens (scaled by the refill period in ns) and
 * refilled as the clock moves. The property tests check the limiter against it.
 */
export interface ReferenceLimit {
  name: string;
  capacity: number;
  refillAmount: number;
  refillPeriodMs: number;
}

export class ReferenceBucket {
  /** tokens × periodNs, so that refill (dt × amount) stays an integer. */
  private level: bigint;
  private at: bigint;
  private readonly periodNs: bigint;
  private readonly amount: bigint;
  private readonly full: bigint;

  constructor(
    readonly limit: ReferenceLimit,
    nowNs: bigint,
  ) {
    this.periodNs = BigInt(limit.refillPeriodMs) * 1_000_000n;
    this.amount = BigInt(limit.refillAmount);
    this.full = BigInt(limit.capacity) * this.periodNs;
    this.level = this.full;
    this.at = nowNs;
  }

  private refill(nowNs: bigint): void {
    if (nowNs > this.at) {
      const level = this.level + (nowNs - this.at) * this.amount;
      // biome-ignore lint/complexity/useMathMinMax: BigInt operands; Math.min throws on them.
      this.level = level > this.full ? this.full : level;
      this.at = nowNs;
    }
  }

  /** A cost of 0 leaves the limit out of the decision (as the limiter documents). */
  canTake(cost: number, nowNs: bigint): boolean {
    if (cost === 0) return true;
    this.refill(nowNs);
    return this.level >= BigInt(cost) * this.periodNs;
  }

  take(cost: number, nowNs: bigint): void {
    this.refill(nowNs);
    this.level -= BigInt(cost) * this.periodNs;
  }

  /** Positive: debt (may go below zero). Negative: refund (never above capacity). */
  adjust(delta: number, nowNs: bigint): void {
    this.refill(nowNs);
    const level = this.level - BigInt(delta) * this.periodNs;
    this.level = level > this.full ? this.full : level;
  }

  /** Whole tokens, rounded down: negative while in debt. */
  available(nowNs: bigint): number {
    this.refill(nowNs);
    const whole = this.level / this.periodNs;
    return Number(this.level < 0n && whole * this.periodNs !== this.level ? whole - 1n : whole);
  }

  /** Whole ms (rounded up) until `cost` tokens are there. */
  waitMs(cost: number, nowNs: bigint): number {
    if (cost === 0) return 0;
    this.refill(nowNs);
    const deficit = BigInt(cost) * this.periodNs - this.level;
    if (deficit <= 0n) return 0;
    const ns = (deficit + this.amount - 1n) / this.amount;
    return Number((ns + 999_999n) / 1_000_000n);
  }
}
