import { assertUniqueLimitNames, type BucketAdjustment, gcra } from '@tollgate/core';
import { type BucketUpdate, bucketTtl, isIdle, stampBucket, type TatGuess } from './bucket-update.js';
import { numberValue } from './item-codec.js';
import { CONSUMED_PREFIX, type KeyBuilder, TAT_PREFIX } from './schema.js';
import { UpdateExpressionBuilder } from './update-expression.js';

/** Inputs of {@link buildAdjustUpdate}. */
export interface AdjustUpdateInput {
  readonly keys: KeyBuilder;
  readonly bucket: BucketAdjustment;
  /** Last known tats of the bucket; decides each limit's form. */
  readonly guess: TatGuess;
  readonly nowNs: bigint;
  readonly ttlMarginSeconds: number;
}

/**
 * The conditional update that applies debt and refunds to one bucket, leaving
 * exactly `adjustedTat(tat, now, limit, delta)` for every limit. Per limit, with
 * `d·T` the time the delta stands for:
 *
 * - debt, idle (tat ≤ now or absent): `SET tat = now + d·T` if `attribute_not_exists(tat) OR tat <= now`;
 * - debt, busy: `ADD tat d·T` if `tat > now`;
 * - refund, idle: nothing to write for the tat (a full bucket stays full),
 *   if `attribute_not_exists(tat) OR tat <= now`;
 * - refund, busy enough: `ADD tat −d·T` if `tat >= now + d·T`;
 * - refund, partly busy: `SET tat = now` if `tat > now AND tat < now + d·T`
 *   (a refund never lifts a bucket above its capacity).
 *
 * The consumed counter of each limit is incremented by the delta. The ranges
 * cover every stored tat, so a failed condition only means a wrong guess:
 * rebuild from the old image and write again.
 */
export function buildAdjustUpdate(input: AdjustUpdateInput): BucketUpdate {
  const { keys, bucket, guess, nowNs } = input;
  const limits = bucket.adjustments.map((adjustment) => adjustment.limit);
  assertUniqueLimitNames(limits);
  const builder = new UpdateExpressionBuilder();
  const now = builder.value(numberValue(nowNs));
  const tats = new Map(guess);
  for (const { limit, delta } of bucket.adjustments) {
    const attribute = `${TAT_PREFIX}${limit.name}`;
    const tat = builder.name(attribute);
    const guessed = guess.get(limit.name);
    const span = gcra.costNs(limit, Math.abs(delta));
    if (isIdle(guessed, nowNs)) {
      if (delta > 0) builder.set(attribute, builder.value(numberValue(nowNs + span)));
      builder.condition(`attribute_not_exists(${tat}) OR ${tat} <= ${now}`);
    } else if (delta > 0) {
      builder.add(attribute, builder.value(numberValue(span)));
      builder.condition(`${tat} > ${now}`);
    } else if (delta < 0) {
      const refundedNow = builder.value(numberValue(nowNs + span));
      if ((guessed ?? nowNs) >= nowNs + span) {
        builder.add(attribute, builder.value(numberValue(-span)));
        builder.condition(`${tat} >= ${refundedNow}`);
      } else {
        builder.set(attribute, now);
        builder.condition(`${tat} > ${now} AND ${tat} < ${refundedNow}`);
      }
    }
    const adjusted = gcra.adjustedTat(guessed, nowNs, limit, delta);
    if (adjusted === undefined) tats.delete(limit.name);
    else tats.set(limit.name, adjusted);
    if (delta !== 0) builder.add(`${CONSUMED_PREFIX}${limit.name}`, builder.value(numberValue(delta)));
  }
  const expected = { entity: bucket.entity, resource: bucket.resource, tats };
  stampBucket(builder, bucket, bucketTtl(nowNs, limits, expected, input.ttlMarginSeconds));
  return { key: keys.bucket(bucket.entity, bucket.resource), parts: builder.build(), expected };
}
