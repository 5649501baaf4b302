import type { AdjustRequest, BucketAdjustment } from '@tollgate/core';
import { composeAdjustments } from './adjust-composition.js';
import { buildAdjustUpdate } from './adjust-expression.js';
import { type BucketWriteContext, latestNowNs, writeUntilDone } from './write-context.js';

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
  return writeUntilDone(context, KIND, buckets, signal, ({ tats: known }) => {
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
    return {
      updates,
      written: (states) => {
        updates.forEach((update, index) => {
          const state = states[index];
          if (state) context.states.remember(update.key, state.tats);
        });
        return requests.map(() => undefined);
      },
    };
  });
}
