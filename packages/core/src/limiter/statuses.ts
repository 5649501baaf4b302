import type { Limit } from '../limit.js';
import { isAdmissible, tokensLeft, untilFullNs, waitNs } from '../math/gcra.js';
import { nsToMsCeil } from '../math/time.js';
import type { BucketCharge, BucketState, LimitCharge } from '../store/store.js';
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
  // Loops rather than flatMap and find: every admitted HTTP request computes these for its headers.
  const statuses: LimitStatus[] = [];
  for (let index = 0; index < buckets.length; index += 1) {
    const bucket = buckets[index]!;
    const tats = states[index]?.tats;
    const costs = charges[index]?.charges;
    for (const limit of bucket.limits) {
      const tat = tats?.get(limit.name);
      const requested = costOf(costs, limit);
      const exceeded = !admitted && requested > 0 && !isAdmissible(tat, nowNs, limit, requested);
      const owedNs = untilFullNs(tat, nowNs);
      statuses.push({
        entity: bucket.entity,
        resource: bucket.resource,
        limit: limit.name,
        capacity: limit.capacity,
        available: tokensLeft(owedNs, limit),
        requested,
        exceeded,
        retryAfterMs: exceeded ? nsToMsCeil(waitNs(tat, nowNs, limit, requested)) : 0,
        resetAfterMs: nsToMsCeil(owedNs),
        refillAmount: limit.refillAmount,
        refillPeriodMs: limit.refillPeriodMs,
        depth: bucket.depth,
      });
    }
  }
  return statuses;
}

/** What a bucket's charges take from `limit` (0 when it is not charged). */
function costOf(costs: readonly LimitCharge[] | undefined, limit: Limit): number {
  if (costs === undefined) return 0;
  for (const charge of costs) if (charge.limit === limit) return charge.cost;
  return 0;
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
