import { type BucketKey, gcra, type Limit } from '@tollgate/core';
import { type BucketUpdate, bucketTtl, stampBucket, type TatGuess } from './bucket-update.js';
import { type LimitTerm, tatsSeen, writeRange } from './charge-batch.js';
import { numberValue } from './item-codec.js';
import { CONSUMED_PREFIX, type KeyBuilder, TAT_PREFIX } from './schema.js';
import { UpdateExpressionBuilder } from './update-expression.js';

/** Inputs of {@link buildChargeUpdate}. */
export interface ChargeUpdateInput {
  readonly keys: KeyBuilder;
  readonly bucket: BucketKey;
  /** What the batch asks of each limit of the bucket (from `simulateChargeBatch`). */
  readonly terms: ReadonlyMap<string, LimitTerm>;
  /** Every limit the batch uses on the bucket (for the TTL). */
  readonly limits: readonly Limit[];
  /** The known tats the batch was decided against; they pick each limit's form. */
  readonly guess: TatGuess;
  readonly nowNs: bigint;
  readonly ttlMarginSeconds: number;
}

/** A charge write, and the starts (`max(tat, now)` per limit) it assumes. */
export interface ChargeUpdate extends BucketUpdate {
  /** The starts implied by the guess, inside the write's condition; the base of each member's state. */
  readonly starts: TatGuess;
}

/**
 * The conditional update that writes a batch of charges on one bucket, with
 * no read. Its condition is exactly the set of stored tats that give the
 * batch's decisions; per limit, with `start = max(tat, now)` and the term's
 * ceiling and floor:
 *
 * - idle form (guessed tat ≤ now or absent, and the decisions hold at
 *   `start = now`): `SET tat = now + occupied` if `attribute_not_exists(tat) OR tat <= now`;
 * - busy form: `ADD tat occupied` if `tat > max(now, floor) AND tat <= ceiling`.
 *
 * Either form leaves `max(tat, now) + occupied`. A limit that only witnesses a
 * rejection gets its condition and no update. The consumed counter of each
 * limit is incremented by the admitted tokens in the same write.
 */
export function buildChargeUpdate(input: ChargeUpdateInput): ChargeUpdate {
  const { keys, bucket, terms, guess, nowNs } = input;
  const builder = new UpdateExpressionBuilder();
  const now = builder.value(numberValue(nowNs));
  const starts = new Map(guess);
  const occupied = new Map<string, bigint>();
  for (const [name, term] of terms) {
    const attribute = `${TAT_PREFIX}${name}`;
    const tat = builder.name(attribute);
    const { occupiedNs } = term;
    const range = writeRange(term, guess.get(name), nowNs);
    if (range.form === 'idle') {
      if (occupiedNs > 0n) {
        builder.set(attribute, builder.value(numberValue(nowNs + occupiedNs)));
        starts.set(name, nowNs);
      }
      builder.condition(`attribute_not_exists(${tat}) OR ${tat} <= ${now}`);
    } else {
      const { aboveNs, atMostNs } = range;
      const above = aboveNs === nowNs ? now : builder.value(numberValue(aboveNs));
      if (occupiedNs > 0n) builder.add(attribute, builder.value(numberValue(occupiedNs)));
      builder.condition(
        atMostNs === undefined
          ? `${tat} > ${above}`
          : `${tat} > ${above} AND ${tat} <= ${builder.value(numberValue(atMostNs))}`,
      );
      starts.set(name, clamp(gcra.startOf(guess.get(name), nowNs), aboveNs + 1n, atMostNs));
    }
    if (occupiedNs > 0n) occupied.set(name, occupiedNs);
    if (term.consumed > 0) {
      builder.add(`${CONSUMED_PREFIX}${name}`, builder.value(numberValue(term.consumed)));
    }
  }
  const expected = {
    entity: bucket.entity,
    resource: bucket.resource,
    tats: tatsSeen(starts, occupied, nowNs),
  };
  stampBucket(builder, bucket, bucketTtl(nowNs, input.limits, expected, input.ttlMarginSeconds));
  return { key: keys.bucket(bucket.entity, bucket.resource), parts: builder.build(), expected, starts };
}

/**
 * The guessed start moved into the condition's range: when a write succeeds,
 * the stored tat was in that range, so the closest point is the best estimate
 * (a transaction returns no item to read it from).
 */
function clamp(start: bigint, lowest: bigint, highest: bigint | undefined): bigint {
  if (highest !== undefined && start > highest) return highest;
  return start < lowest ? lowest : start;
}
