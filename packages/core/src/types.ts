/**
 * Types every layer speaks: the limiter produces them, errors and HTTP
 * helpers format them. They import nothing, so no layer depends on another
 * through them.
 */

/** The state of one limit of one bucket, as seen by one call. */
export interface LimitStatus {
  /** The entity whose bucket this is (the requested entity or an ancestor, with cascade). */
  entity: string;
  resource: string;
  /** Limit name, e.g. `rpm`. */
  limit: string;
  /** Bucket capacity (burst ceiling). */
  capacity: number;
  /**
   * Whole tokens left after this call (before it, when the call was rejected);
   * negative while the bucket is in debt. Headers state it clamped at 0.
   */
  available: number;
  /** Tokens this call asked for (0 when the limit was not charged). */
  requested: number;
  /** True when this limit alone would have refused the request. */
  exceeded: boolean;
  /** Milliseconds until `requested` would be admissible; 0 when not exceeded. */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetAfterMs: number;
  /** Refill rate, for headers: `refillAmount` tokens every `refillPeriodMs`. */
  refillAmount: number;
  refillPeriodMs: number;
  /** 0 for the requested entity, 1 for its parent, 2 for the grandparent, ... */
  depth: number;
}

/** Tokens per limit name, e.g. `{ rpm: 1, tpm: 500 }`. */
export type Consumption = Readonly<Record<string, number>>;

/** Minimal logger; `console` fits. */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
}
