import { type BucketKey, type BucketState, RateLimiterUnavailable } from '@tollgate/core';
import { backoff } from './backoff.js';
import type { BucketUpdate, TatGuess } from './bucket-update.js';
import { writeBuckets } from './bucket-writer.js';
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

/** What one attempt of {@link writeUntilDone} sends, and how to answer once it is written. */
export interface WriteAttempt<T> {
  readonly updates: readonly BucketUpdate[];
  /** The answer when the write landed, from the states it left (see `BucketWriteOutcome`). */
  readonly written: (states: readonly BucketState[]) => T;
}

/** What an attempt knows of each bucket: its tats, and whether they come from an old image. */
export interface KnownBuckets {
  readonly tats: readonly TatGuess[];
  /** Per bucket, true once a failed condition returned its stored state. */
  readonly fromImage: readonly boolean[];
}

/**
 * The loop that charge and adjust writes share: starting from the last seen
 * states, build the updates, send them as one write; on a failed condition,
 * take the old images as the known states and try again, after a jittered
 * pause when a concurrent transaction got in the way. At most `maxAttempts`
 * writes. `attempt` may answer without writing (returning `{ answer }`),
 * e.g. when old images already decide every request.
 */
export async function writeUntilDone<T>(
  context: BucketWriteContext,
  kind: string,
  buckets: readonly BucketKey[],
  signal: AbortSignal,
  attempt: (known: KnownBuckets) => WriteAttempt<T> | { readonly answer: T },
): Promise<T> {
  let tats = buckets.map((bucket) =>
    context.states.guess(context.keys.bucket(bucket.entity, bucket.resource)),
  );
  const fromImage = buckets.map(() => false);
  for (let round = 0; round < context.maxAttempts; round++) {
    const next = attempt({ tats, fromImage });
    if ('answer' in next) return next.answer;
    const outcome = await writeBuckets(
      context.requests,
      kind,
      context.tableName,
      buckets,
      next.updates,
      signal,
    );
    if (outcome.written) return next.written(outcome.states);
    tats = observedOrKnown(context, buckets, tats, outcome.observed);
    outcome.observed.forEach((state, index) => {
      if (state !== undefined) fromImage[index] = true;
    });
    if (outcome.conflict) await backoff(round, signal);
  }
  throw contention(kind, context.maxAttempts);
}

/**
 * After a failed write: the old image where a condition failed, what was
 * known elsewhere. Remembers both: an image replaces what was known, and a
 * bucket whose write did not happen goes back to its known state (the
 * optimistic advance made when sending is undone).
 */
function observedOrKnown(
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
function contention(kind: string, maxAttempts: number): RateLimiterUnavailable {
  return new RateLimiterUnavailable(
    `${kind}: the bucket changed under every one of ${maxAttempts} conditional writes (extreme contention)`,
  );
}
