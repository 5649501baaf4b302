import { assertUniqueLimitNames, type BucketCharge, gcra } from '@tollgate/core';
import { type BucketUpdate, bucketTtl, isIdle, stampBucket, type TatGuess } from './bucket-update.js';
import { numberValue } from './item-codec.js';
import { CONSUMED_PREFIX, type KeyBuilder, TAT_PREFIX } from './schema.js';
import { UpdateExpressionBuilder } from './update-expression.js';

/** Inputs of {@link buildChargeUpdate}. */
export interface ChargeUpdateInput {
  readonly keys: KeyBuilder;
  readonly bucket: BucketCharge;
  /** Last known tats of the bucket; decides each limit's form. */
  readonly guess: TatGuess;
  readonly nowNs: bigint;
  readonly ttlMarginSeconds: number;
}

/**
 * The conditional update that charges every limit of one bucket at once, with
 * no read. Per limit, from the guessed tat:
 *
 * - idle form (tat ≤ now or absent): `SET tat = now + c·T`
 *   if `attribute_not_exists(tat) OR tat <= now`;
 * - busy form (tat > now): `ADD tat c·T` if `tat > now AND tat <= now + tau − c·T`.
 *
 * Either form succeeds exactly when the stored tat is in its range and the
 * charge is admissible, and then leaves `max(tat, now) + c·T`. The consumed
 * counter of each limit is incremented by the cost in the same write. When a
 * condition fails, the old image decides: retry with the right forms, or reject.
 */
export function buildChargeUpdate(input: ChargeUpdateInput): BucketUpdate {
  const { keys, bucket, guess, nowNs } = input;
  const limits = bucket.charges.map((charge) => charge.limit);
  assertUniqueLimitNames(limits);
  const builder = new UpdateExpressionBuilder();
  const now = builder.value(numberValue(nowNs));
  const tats = new Map(guess);
  for (const { limit, cost } of bucket.charges) {
    const attribute = `${TAT_PREFIX}${limit.name}`;
    const tat = builder.name(attribute);
    const guessed = guess.get(limit.name);
    const occupied = gcra.costNs(limit, cost);
    if (isIdle(guessed, nowNs)) {
      builder.set(attribute, builder.value(numberValue(nowNs + occupied)));
      builder.condition(`attribute_not_exists(${tat}) OR ${tat} <= ${now}`);
    } else {
      const threshold = builder.value(numberValue(nowNs + limit.tauNs - occupied));
      builder.add(attribute, builder.value(numberValue(occupied)));
      builder.condition(`${tat} > ${now} AND ${tat} <= ${threshold}`);
    }
    tats.set(limit.name, gcra.chargedTat(guessed, nowNs, limit, cost));
    builder.add(`${CONSUMED_PREFIX}${limit.name}`, builder.value(numberValue(cost)));
  }
  const expected = { entity: bucket.entity, resource: bucket.resource, tats };
  stampBucket(builder, bucket, bucketTtl(nowNs, limits, expected, input.ttlMarginSeconds));
  return { key: keys.bucket(bucket.entity, bucket.resource), parts: builder.build(), expected };
}
