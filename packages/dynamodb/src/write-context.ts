import { type BucketKey, type BucketState, RateLimiterUnavailable } from '@tollgate/core';
import type { TatGuess } from './bucket-update.js';
import { maxBigInt } from './numbers.js';
import type { KeyBuilder } from './schema.js';
import type { BucketStateCache } from './state-cache.js';
import type { TableRequests } from './table-requests.js';

/** What the charge and adjust write loops share with the store. */
export interface BucketWriteContext {
  readonly requests: TableRequests;
  readonly tableName: string;
  readonly keys: KeyBuilder;
  /** Last seen bucket states: the forms of the next write are picked from them. */
  readonly states: BucketStateCache;
  readonly maxAttempts: number;
  readonly ttlMarginSeconds: number;
}

/**
 * After a failed write: the old image where a condition failed, what was
 * known elsewhere. Remembers both: an image replaces what was known, and a
 * bucket whose write did not happen goes back to its known state (the
 * optimistic advance made when sending is undone).
 */
export function observedOrKnown(
  context: BucketWriteContext,
  buckets: readonly BucketKey[],
  known: readonly TatGuess[],
  observed: readonly (BucketState | undefined)[],
): TatGuess[] {
  return buckets.map((bucket, index) => {
    const tats = observed[index]?.tats ?? known[index] ?? new Map<string, bigint>();
    context.states.remember(context.keys.bucket(bucket.entity, bucket.resource), tats);
    return tats;
  });
}

/** The instant a batch is decided at: the latest `nowNs` of its requests. */
export function latestNowNs(requests: readonly { readonly nowNs: bigint }[]): bigint {
  return requests.reduce((latest, request) => maxBigInt(latest, request.nowNs), requests[0]?.nowNs ?? 0n);
}

/** The error when every one of `maxAttempts` writes found the bucket changed. */
export function contention(kind: string, maxAttempts: number): RateLimiterUnavailable {
  return new RateLimiterUnavailable(
    `${kind}: the bucket changed under every one of ${maxAttempts} conditional writes (extreme contention)`,
  );
}
