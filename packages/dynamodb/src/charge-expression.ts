import type { BucketKey, Limit } from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { BucketExpression, type BucketUpdate, type TatGuess } from './bucket-update.js';
import { type LimitTerm, tatsSeen, writeRange } from './charge-batch.js';
import type { KeyBuilder } from './schema.js';

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
  const { bucket, terms, guess, nowNs } = input;
  const expression = new BucketExpression(nowNs);
  const { now } = expression;
  const starts = new Map(guess);
  const occupied = new Map<string, bigint>();
  for (const [name, term] of terms) {
    const tat = expression.tat(name);
    const { occupiedNs } = term;
    const range = writeRange(term, guess.get(name), nowNs);
    if (range.form === 'idle') {
      if (occupiedNs > 0n) {
        expression.setTat(name, nowNs + occupiedNs);
        starts.set(name, nowNs);
      }
      expression.whenIdle(name);
    } else {
      const { aboveNs, atMostNs } = range;
      const above = aboveNs === nowNs ? now : expression.value(aboveNs);
      if (occupiedNs > 0n) expression.addTat(name, occupiedNs);
      expression.when(
        atMostNs === undefined
          ? `${tat} > ${above}`
          : `${tat} > ${above} AND ${tat} <= ${expression.value(atMostNs)}`,
      );
      starts.set(name, clamp(gcra.startOf(guess.get(name), nowNs), aboveNs + 1n, atMostNs));
    }
    if (occupiedNs > 0n) occupied.set(name, occupiedNs);
    if (term.consumed > 0) expression.addConsumed(name, term.consumed);
  }
  const expected = {
    entity: bucket.entity,
    resource: bucket.resource,
    tats: tatsSeen(starts, occupied, nowNs),
  };
  return {
    ...expression.finish(input.keys, bucket, input.limits, expected, input.ttlMarginSeconds),
    starts,
  };
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
