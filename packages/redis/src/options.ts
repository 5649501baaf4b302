import { describeValue, ValidationError } from '@tollgate/core';
import { positiveInteger } from '@tollgate/core/internal';
import type { Cluster, Redis } from 'ioredis';

/** An ioredis client: a single node (`new Redis(...)`) or a cluster (`new Cluster(...)`). */
export type RedisClient = Redis | Cluster;

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /**
   * The ioredis client to use. The store does not connect, quit or
   * reconfigure it (it only defines its two scripts on it); `close()` leaves it
   * open. For fast failure while Redis is down, create it with
   * `enableOfflineQueue: false` (see docs/redis.md, "Failure behaviour").
   */
  client: RedisClient;
  /** Starts every key, so several apps or environments can share one Redis (default `tollgate:`). */
  prefix?: string;
  /**
   * The Redis Cluster hash tag of an entity's keys (default: the entity id).
   * A cascade's script touches the buckets of an entity and its ancestors, so
   * on a Cluster every entity of one cascade must map to the same tag, e.g.
   * its organisation: `(id) => id.split('/')[0]`. Irrelevant on a single node.
   */
  hashTag?: (entity: string) => string;
  /** Milliseconds a bucket is kept after it is full again (default 1000). */
  expiryMarginMs?: number;
  /**
   * Combine concurrent charges (and settles) of this store on the same buckets
   * into one script call, decided one after another in arrival order
   * (default true). See docs/redis.md, "Coalescing".
   */
  coalesce?: boolean;
  /** How long hourly usage snapshots are kept after their hour ends, in ms (default 31 days). */
  hourlyUsageRetentionMs?: number;
  /** How long daily usage snapshots are kept after their day ends, in ms (default 400 days). */
  dailyUsageRetentionMs?: number;
}

/** Options after validation, with defaults applied. */
export interface ResolvedRedisStoreOptions {
  readonly client: RedisClient;
  readonly prefix: string;
  readonly hashTag: (entity: string) => string;
  readonly expiryMarginMs: number;
  readonly coalesce: boolean;
  readonly hourlyUsageRetentionMs: number;
  readonly dailyUsageRetentionMs: number;
}

const DAY_MS = 86_400_000;

/** Validates the options with exact messages. Does no I/O. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', `Expected RedisStore options to be an object, got ${describeValue(options)}`);
  }
  const { client, prefix, hashTag } = options;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.defineCommand !== 'function' ||
    typeof client.hgetall !== 'function'
  ) {
    throw invalid(
      'client',
      `Expected \`client\` to be an ioredis Redis or Cluster, got ${describeValue(client)}`,
    );
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix))) {
    throw invalid(
      'prefix',
      `Expected \`prefix\` to be a string of at most 64 characters without braces, got ${describeValue(prefix)}`,
    );
  }
  if (hashTag !== undefined && typeof hashTag !== 'function') {
    throw invalid('hashTag', `Expected \`hashTag\` to be a function, got ${describeValue(hashTag)}`);
  }
  if (options.coalesce !== undefined && typeof options.coalesce !== 'boolean') {
    throw invalid(
      'coalesce',
      `Expected \`coalesce\` to be a boolean, got ${describeValue(options.coalesce)}`,
    );
  }
  return {
    client,
    prefix: prefix ?? 'tollgate:',
    hashTag: hashTag ?? ((entity) => entity),
    expiryMarginMs: positiveInteger('expiryMarginMs', options.expiryMarginMs ?? 1000),
    coalesce: options.coalesce ?? true,
    hourlyUsageRetentionMs: positiveInteger(
      'hourlyUsageRetentionMs',
      options.hourlyUsageRetentionMs ?? 31 * DAY_MS,
    ),
    dailyUsageRetentionMs: positiveInteger(
      'dailyUsageRetentionMs',
      options.dailyUsageRetentionMs ?? 400 * DAY_MS,
    ),
  };
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}
