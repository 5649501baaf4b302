import type { Limit } from '../limit.js';
import type { Store } from '../store/store.js';
import type { Lease } from './lease.js';

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

/** What to take, and from whom. */
export interface AcquireRequest {
  /** Who is charged: an API key, a user, an IP key. */
  entity: string;
  /** What is being used; defaults to `'default'`. */
  resource?: string;
  /** Tokens per limit; default: 1 of every limit that applies. */
  consume?: Consumption;
  /** Limits for this call only, overriding every stored or default limit. */
  limits?: readonly Limit[];
  /**
   * Aborts the call: it rejects with the signal's reason, and a charge that
   * lands in the store after the abort is refunded.
   */
  signal?: AbortSignal;
}

/** Client-side throttling: wait for capacity instead of failing. */
export interface WaitOptions {
  /** Longest total wait; if the computed wait is longer, `acquire` throws at once. */
  maxMs: number;
  /** Aborts the wait (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Options of `acquire`. */
export interface AcquireOptions extends AcquireRequest {
  /** Wait until allowed (up to `maxMs`) instead of throwing `RateLimitExceeded`. */
  wait?: WaitOptions;
}

/** The answer of `tryAcquire`. */
export type Decision =
  | {
      readonly allowed: true;
      readonly lease: Lease;
      readonly statuses: readonly LimitStatus[];
      /** True when the store was unavailable and `onUnavailable: 'allow'` let the request through. */
      readonly degraded: boolean;
    }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      readonly statuses: readonly LimitStatus[];
      /** The error `acquire` would have thrown. */
      readonly error: import('../errors.js').RateLimitExceeded;
      readonly degraded: false;
    };

/** Where `available` and `timeUntilAvailable` look. */
export interface BucketQuery {
  entity: string;
  resource?: string;
  limits?: readonly Limit[];
}

/** Minimal logger; `console` fits. */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
}

/** Constructor options of `RateLimiter`. */
export interface RateLimiterOptions {
  /** Where buckets, entities and stored limits live. */
  store: Store;
  /** Limits used when no stored limit set applies. */
  limits?: readonly Limit[];
  /** What to do when the store fails or misses its deadline: `'block'` (default) throws, `'allow'` admits degraded. */
  onUnavailable?: 'block' | 'allow';
  /** Deadline of each store call in ms (default 500). */
  timeoutMs?: number;
  /** Clock in ms since the epoch (may be fractional); default `Date.now`. */
  clock?: () => number;
  /** How long stored limits and entities are cached, in ms (default 10 000; 0 disables). */
  configCacheTtlMs?: number;
  /**
   * Most (entity, resource) plans cached (default 100 000, as many as
   * `MemoryStore` keeps buckets); the config cache behind them holds up to
   * four entries per plan. Size it to the keys active within the TTL: a plan
   * that falls out costs a config read (on DynamoDB, one BatchGetItem).
   */
  configCacheMaxEntries?: number;
  /** Answer repeated rejections locally until their wait ends (default true). */
  denyCache?: boolean;
  /** Most buckets remembered by the deny cache (default 10 000). */
  denyCacheMaxEntries?: number;
  /** Receives coded warnings (degraded mode). Default: `console`. */
  logger?: Logger;
}
