import type { BucketKey, BucketState, ChargeRequest, ChargeResult } from '@tollgate/core';
import type { TatGuess } from './bucket-update.js';
import {
  type ChargeBatch,
  type MemberDecision,
  simulateChargeBatch,
  startsBefore,
  tatsSeen,
} from './charge-batch.js';
import { buildChargeUpdate } from './charge-expression.js';
import { type BucketWriteContext, latestNowNs, writeUntilDone } from './write-context.js';

const KIND = 'charge';

/**
 * Decides a batch of charges on one item set (requests in arrival order,
 * their buckets in the same order) with one conditional write, at the latest
 * `nowNs` of the batch: UpdateItem for one bucket, TransactWriteItems for
 * several. Each request gets the result it would have had alone, after the
 * ones before it.
 *
 * The decisions are simulated on the last known tats and written with the
 * condition that makes them exact. A failed condition returns old images,
 * which replace what was known: decide again and write again (at most
 * `maxAttempts` writes). A request is decided only by a successful write, or
 * refused when old images prove that nobody in the batch fits.
 */
export async function writeCharges(
  context: BucketWriteContext,
  requests: readonly ChargeRequest[],
  signal: AbortSignal,
): Promise<ChargeResult[]> {
  const nowNs = latestNowNs(requests);
  const members = requests.map((request) => request.buckets);
  const buckets: readonly BucketKey[] = members[0] ?? [];
  const answer = (batch: ChargeBatch, starts: readonly TatGuess[]): ChargeResult[] =>
    requests.map((request, index) => {
      const decision = batch.decisions[index];
      return resultOf(request, nowNs, decision?.admitted ?? false, seenBy(buckets, starts, decision, nowNs));
    });
  return writeUntilDone(context, KIND, buckets, signal, ({ tats: known, fromImage }) => {
    let batch = simulateChargeBatch(known, nowNs, members, 'fifo');
    if (!batch.decisions.some((decision) => decision.admitted)) {
      // Old images prove that nobody fits: every member is refused by the same state.
      const proven = batch.decisions.every(
        (decision) => decision.refusedAt !== undefined && fromImage[decision.refusedAt],
      );
      if (proven) return { answer: answer(batch, known) };
      // A guess says nobody fits: charge them all, on condition that all fit. A right guess
      // fails and returns the image that refuses them (one round trip); a wrong one admits all.
      batch = simulateChargeBatch(known, nowNs, members, 'all');
    }
    const updates = buckets.map((bucket, index) =>
      buildChargeUpdate({
        keys: context.keys,
        bucket,
        terms: batch.terms[index] ?? new Map(),
        limits: batch.limits[index] ?? [],
        guess: known[index] ?? new Map(),
        nowNs,
        ttlMarginSeconds: context.ttlMarginSeconds,
      }),
    );
    for (const update of updates) context.states.advance(update.key, update.expected.tats);
    return {
      updates,
      written: (states) => {
        const [single] = updates;
        const [written] = states;
        if (updates.length === 1 && single && written) {
          // UpdateItem returned the item (ALL_NEW): every member's state is exact.
          context.states.remember(single.key, written.tats);
          return answer(batch, [startsBefore(written.tats, batch.terms[0] ?? new Map())]);
        }
        return answer(
          batch,
          updates.map((update) => update.starts),
        );
      },
    };
  });
}

/** Per bucket, the state a member saw: the starts advanced by its prefix. */
function seenBy(
  buckets: readonly BucketKey[],
  starts: readonly TatGuess[],
  decision: MemberDecision | undefined,
  nowNs: bigint,
): BucketState[] {
  return buckets.map((bucket, index) => ({
    entity: bucket.entity,
    resource: bucket.resource,
    tats: tatsSeen(starts[index] ?? new Map(), decision?.prefixNs[index] ?? new Map(), nowNs),
  }));
}

function resultOf(
  request: ChargeRequest,
  nowNs: bigint,
  admitted: boolean,
  buckets: readonly BucketState[],
): ChargeResult {
  return request.nowNs === nowNs ? { admitted, buckets } : { admitted, buckets, nowNs };
}
