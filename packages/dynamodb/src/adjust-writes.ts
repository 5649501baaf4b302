import type { AdjustRequest, BucketAdjustment } from '@tollgate/core';
import { composeAdjustments } from './adjust-composition.js';
import { buildAdjustUpdate } from './adjust-expression.js';
import { backoff } from './backoff.js';
import { writeBuckets } from './bucket-writer.js';
import { type BucketWriteContext, contention, latestNowNs, observedOrKnown } from './write-context.js';

const KIND = 'adjust';

/**
 * Applies a batch of adjustments on one item set (requests in arrival order,
 * their buckets in the same order) with one conditional write at the latest
 * `nowNs` of the batch: per limit, the debt and refunds composed exactly, in
 * order. Never refused: a failed condition only means a wrong guess of a
 * form, corrected from the old image (at most `maxAttempts` writes).
 */
export async function writeAdjustments(
  context: BucketWriteContext,
  requests: readonly AdjustRequest[],
  signal: AbortSignal,
): Promise<undefined[]> {
  const nowNs = latestNowNs(requests);
  const buckets = requests[0]?.buckets ?? [];
  const shifts = buckets.map((_, index) =>
    composeAdjustments(
      requests.flatMap((request): BucketAdjustment[] => {
        const bucket = request.buckets[index];
        return bucket ? [bucket] : [];
      }),
    ),
  );
  let known = buckets.map((bucket) =>
    context.states.guess(context.keys.bucket(bucket.entity, bucket.resource)),
  );
  for (let attempt = 0; attempt < context.maxAttempts; attempt++) {
    const updates = buckets.map((bucket, index) =>
      buildAdjustUpdate({
        keys: context.keys,
        bucket,
        shifts: shifts[index] ?? new Map(),
        guess: known[index] ?? new Map(),
        nowNs,
        ttlMarginSeconds: context.ttlMarginSeconds,
      }),
    );
    const outcome = await writeBuckets(context.requests, KIND, context.tableName, buckets, updates, signal);
    if (outcome.written) {
      updates.forEach((update, index) => {
        const state = outcome.states[index];
        if (state) context.states.remember(update.key, state.tats);
      });
      return requests.map(() => undefined);
    }
    known = observedOrKnown(context, buckets, known, outcome.observed);
    if (outcome.conflict) await backoff(attempt, signal);
  }
  throw contention(KIND, context.maxAttempts);
}
