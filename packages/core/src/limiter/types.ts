import type { LongKeyPolicy } from '../ids.js';
import type { Limit } from '../limit.js';
import type { Store } from '../store/store.js';
import type { Consumption, Logger } from '../types.js';

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

/** Where `available` and `timeUntilAvailable` look. */
export interface BucketQuery {
  entity: string;
  resource?: string;
  limits?: readonly Limit[];
}

/** Input of {@link RateLimiter.createEntity}. */
export interface CreateEntityInput {
  id: string;
  /** Parent entity (e.g. the organisation of an API key); it must exist. */
  parent?: string;
  /** Charge the parent (and its cascading ancestors) on every acquire of this entity. Default false. */
  cascade?: boolean;
  name?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Input of {@link RateLimiter.updateEntity}: each field present replaces the
 * stored one, an absent field keeps it.
 */
export interface UpdateEntityInput {
  /**
   * The new parent, which must exist and must not be the entity or one of its
   * descendants; `null` removes the parent.
   */
  parent?: string | null;
  /** Whether acquires of this entity also charge its parent (and its cascading ancestors). */
  cascade?: boolean;
  /** A display name; `null` removes it. */
  name?: string | null;
  /** Replaces the metadata whole; `null` removes it. */
  metadata?: Record<string, unknown> | null;
}

/** Input of {@link RateLimiter.getUsage}. */
export interface UsageRequest {
  entity: string;
  resource?: string;
  window: 'hour' | 'day';
  /** Inclusive start, ms since the epoch or a Date. */
  from?: number | Date;
  /** Exclusive end, ms since the epoch or a Date. */
  to?: number | Date;
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
  /**
   * How long stored limits and entities of a shared store are cached, in ms
   * (default 10 000; 0 disables). An in-process store (`MemoryStore`) is read
   * directly on every decision: nothing to cache, nothing stale.
   */
  configCacheTtlMs?: number;
  /**
   * Most (entity, resource) plans cached for a shared store (default
   * 100 000); the config cache behind them holds up to four entries per plan.
   * Size it to the keys active within the TTL: a plan that falls out costs a
   * config read (on DynamoDB, one BatchGetItem).
   */
  configCacheMaxEntries?: number;
  /**
   * Which entities may have a stored record or limit set of their own.
   * Return `false` for those that never do (client IP addresses, say):
   * their decisions read no entity record and no entity-scoped limit set,
   * only the shared `{ resource }` and `{}` sets (cached like any config)
   * and the defaults. On a shared store a key met for the first time, or
   * again after `configCacheTtlMs`, then costs one round trip (the charge)
   * instead of two. Default: every entity may have config.
   *
   * Called with the entity id as stored (a long id already hashed) on every
   * plan of an entity's own bucket; keep it cheap and pure. This limiter
   * refuses `createEntity`, `updateEntity` and `setLimits` for an entity it
   * returns `false` for (`ERR_TOLLGATE_INVALID_KEY`), since it would never
   * read what they store; config another process stores for such an
   * entity is ignored here.
   *
   * @example
   * import { isIP } from 'node:net';
   * // API keys have plans stored per key; IP addresses (from `ipKey`) never do.
   * new RateLimiter({ store, limits, hasStoredConfig: (entity) => isIP(entity.split('/')[0]!) === 0 });
   */
  hasStoredConfig?: (entity: string) => boolean;
  /** Answer repeated rejections locally until their wait ends (default true). */
  denyCache?: boolean;
  /** Most buckets remembered by the deny cache (default 10 000). */
  denyCacheMaxEntries?: number;
  /** Receives coded warnings (degraded mode). Default: `console`. */
  logger?: Logger;
  /**
   * What to do with an entity id longer than `MAX_ID_LENGTH` (256)
   * characters, such as a JWT or a bearer token used as the key:
   *
   * - `'hash'` (default): key it by `hashedEntityId(id)`, `sha256:` and the
   *   base64url SHA-256 of the id, 50 characters. The same long key maps to
   *   the same bucket in every process and every call that takes an entity id
   *   (acquire, available, reset, createEntity, setLimits, getUsage, ...).
   *   Ids up to 256 characters are used as they are, so no existing bucket
   *   moves. Statuses, leases and entity records show the hashed id.
   * - `'reject'`: refuse it with `ERR_TOLLGATE_INVALID_KEY` (HTTP adapters
   *   answer 400).
   *
   * Either way an id with a lone surrogate is `ERR_TOLLGATE_INVALID_KEY`,
   * and no error message or response body repeats the key.
   *
   * @example
   * new RateLimiter({ store, limits, longKeys: 'reject' }); // keys must be 256 characters at most
   */
  longKeys?: LongKeyPolicy;
}
