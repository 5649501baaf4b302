import { availableTokens, isAdmissible, untilFullNs, waitNs } from '../math/gcra.js';
import { nsToMsCeil } from '../math/time.js';
import type { BucketCharge, BucketState } from '../store/store.js';
import type { LimitStatus } from '../types.js';
import type { PlannedBucket } from './plan.js';

/**
 * One status per limit of every planned bucket, computed from the bucket
 * states a store returned: after the charge when admitted, before it (the
 * state that refused) when rejected.
 */
export function statusesOf(
  buckets: readonly PlannedBucket[],
  charges: readonly BucketCharge[],
  states: readonly BucketState[],
  nowNs: bigint,
  admitted: boolean,
): LimitStatus[] {
  return buckets.flatMap((bucket, index) => {
    const tats = states[index]?.tats;
    const costs = charges[index]?.charges;
    return bucket.limits.map((limit) => {
      const tat = tats?.get(limit.name);
      const requested = costs?.find((charge) => charge.limit === limit)?.cost ?? 0;
      const exceeded = !admitted && requested > 0 && !isAdmissible(tat, nowNs, limit, requested);
      return {
        entity: bucket.entity,
        resource: bucket.resource,
        limit: limit.name,
        capacity: limit.capacity,
        available: availableTokens(tat, nowNs, limit),
        requested,
        exceeded,
        retryAfterMs: exceeded ? nsToMsCeil(waitNs(tat, nowNs, limit, requested)) : 0,
        resetAfterMs: nsToMsCeil(untilFullNs(tat, nowNs)),
        refillAmount: limit.refillAmount,
        refillPeriodMs: limit.refillPeriodMs,
        depth: bucket.depth,
      };
    });
  });
}

/** The exact wait of a rejection: the largest wait over the limits that refused, in ns. */
export function rejectionWaitNs(
  charges: readonly BucketCharge[],
  states: readonly BucketState[],
  nowNs: bigint,
): bigint {
  let longest = 0n;
  charges.forEach((bucket, index) => {
    for (const { limit, cost } of bucket.charges) {
      const wait = waitNs(states[index]?.tats.get(limit.name), nowNs, limit, cost);
      if (wait > longest) longest = wait;
    }
  });
  return longest;
}

/** True iff every charge is admissible against `states` (used to answer from the deny cache). */
export function allAdmissible(
  charges: readonly BucketCharge[],
  states: readonly BucketState[],
  nowNs: bigint,
): boolean {
  return charges.every((bucket, index) =>
    bucket.charges.every(({ limit, cost }) =>
      isAdmissible(states[index]?.tats.get(limit.name), nowNs, limit, cost),
    ),
  );
}
