import type { BucketKey } from '@tollgate/core';
import { type LimitShift, shiftedTat } from './adjust-composition.js';
import { BucketExpression, type BucketUpdate, isIdle, type TatGuess } from './bucket-update.js';
import { maxBigInt } from './numbers.js';
import type { KeyBuilder } from './schema.js';

/** Inputs of {@link buildAdjustUpdate}. */
export interface AdjustUpdateInput {
  readonly keys: KeyBuilder;
  readonly bucket: BucketKey;
  /** The composed debt and refunds per limit name (from `composeAdjustments`). */
  readonly shifts: ReadonlyMap<string, LimitShift>;
  /** Last known tats of the bucket; decides each limit's form. */
  readonly guess: TatGuess;
  readonly nowNs: bigint;
  readonly ttlMarginSeconds: number;
}

/**
 * The conditional update that applies composed debt and refunds to one
 * bucket, leaving `max(max(tat, now) + add, now + floor)` for every limit.
 * Per limit, with `threshold = now + floor − add` (where both terms of the max
 * are equal):
 *
 * - idle (tat ≤ now or absent): `SET tat = now + max(add, floor)` if
 *   `attribute_not_exists(tat) OR tat <= now` (nothing to set when that is
 *   `now`: a full bucket stays full);
 * - busy, at or above the threshold: `ADD tat add` if `tat > now AND tat >= threshold`;
 * - busy, below it: `SET tat = now + floor` if `tat > now AND tat < threshold`.
 *
 * A single debt of `d·T` is add = floor = `d·T`; a single refund of `r·T` is
 * add = `−r·T`, floor = 0. The consumed counter of each limit is incremented
 * by the sum of its deltas. The ranges cover every stored tat, so a failed
 * condition only means a wrong guess: rebuild from the old image, write again.
 */
export function buildAdjustUpdate(input: AdjustUpdateInput): BucketUpdate {
  const { bucket, shifts, guess, nowNs } = input;
  const expression = new BucketExpression(nowNs);
  const { now } = expression;
  const tats = new Map(guess);
  for (const [name, { shift, consumed }] of shifts) {
    const tat = expression.tat(name);
    const guessed = guess.get(name);
    const threshold = nowNs + shift.floorNs - shift.addNs;
    if (isIdle(guessed, nowNs)) {
      const rise = maxBigInt(shift.addNs, shift.floorNs);
      if (rise > 0n) expression.setTat(name, nowNs + rise);
      expression.whenIdle(name);
    } else if (guessed !== undefined && guessed >= threshold) {
      if (shift.addNs !== 0n) expression.addTat(name, shift.addNs);
      expression.when(threshold > nowNs ? `${tat} >= ${expression.value(threshold)}` : `${tat} > ${now}`);
    } else {
      expression.setTat(name, nowNs + shift.floorNs);
      expression.when(`${tat} > ${now} AND ${tat} < ${expression.value(threshold)}`);
    }
    const shifted = shiftedTat(guessed, nowNs, shift);
    if (shifted === undefined) tats.delete(name);
    else tats.set(name, shifted);
    expression.addConsumed(name, consumed);
  }
  const limits = [...shifts.values()].flatMap((entry) => entry.limits);
  const expected = { entity: bucket.entity, resource: bucket.resource, tats };
  return expression.finish(input.keys, bucket, limits, expected, input.ttlMarginSeconds);
}
