import type { BucketAdjustment, Limit, LimitAdjustment } from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { maxBigInt } from './numbers.js';

/**
 * Debt and refunds do not commute (a refund stops at a full bucket, debt on
 * an idle bucket starts at `now`), but they compose exactly. On a limit's
 * busy-ness `x = max(tat, now) − now ≥ 0`, debt of `d` ns is `x → x + d` and a
 * refund of `r` ns is `x → max(x − r, 0)`; every composition of them is
 * `x → max(x + addNs, floorNs)` with `floorNs ≥ 0`. Pure: no I/O, no clock.
 */
export interface TatShift {
  readonly addNs: bigint;
  readonly floorNs: bigint;
}

/** The shift that changes nothing. */
const NO_SHIFT: TatShift = { addNs: 0n, floorNs: 0n };

/** The shift of one adjustment: debt (`delta > 0`) or a refund (`delta < 0`) in the limit's own ns. */
function shiftOf({ limit, delta }: LimitAdjustment): TatShift {
  const span = gcra.costNs(limit, Math.abs(delta));
  if (delta > 0) return { addNs: span, floorNs: span };
  if (delta < 0) return { addNs: -span, floorNs: 0n };
  return NO_SHIFT;
}

/** `then` after `first`: `max(max(x + a1, b1) + a2, b2) = max(x + a1 + a2, max(b1 + a2, b2))`. */
function composeShifts(first: TatShift, then: TatShift): TatShift {
  return {
    addNs: first.addNs + then.addNs,
    floorNs: maxBigInt(first.floorNs + then.addNs, then.floorNs),
  };
}

/**
 * The tat a shift leaves: `max(max(tat, now) + addNs, now + floorNs)`. An
 * idle bucket the shift leaves idle keeps its tat (a full bucket stays full).
 */
export function shiftedTat(tat: bigint | undefined, nowNs: bigint, shift: TatShift): bigint | undefined {
  const shifted = maxBigInt(gcra.startOf(tat, nowNs) + shift.addNs, nowNs + shift.floorNs);
  return shifted === nowNs && (tat === undefined || tat <= nowNs) ? tat : shifted;
}

/** Everything a batch of adjustments does to one limit name of one bucket. */
export interface LimitShift {
  readonly shift: TatShift;
  /** Σ delta: the consumed counter's increment. */
  readonly consumed: number;
  /** Every limit object adjusted under this name (for the TTL). */
  readonly limits: readonly Limit[];
}

/**
 * Composes the adjustments of several requests on one bucket, in arrival
 * order, per limit name (limits of one name share the stored tat, each
 * delta counted in its own limit's ns).
 */
export function composeAdjustments(buckets: readonly BucketAdjustment[]): Map<string, LimitShift> {
  const composed = new Map<string, LimitShift>();
  for (const bucket of buckets) {
    for (const adjustment of bucket.adjustments) {
      const { name } = adjustment.limit;
      const previous = composed.get(name) ?? { shift: NO_SHIFT, consumed: 0, limits: [] };
      composed.set(name, {
        shift: composeShifts(previous.shift, shiftOf(adjustment)),
        consumed: previous.consumed + adjustment.delta,
        limits: previous.limits.includes(adjustment.limit)
          ? previous.limits
          : [...previous.limits, adjustment.limit],
      });
    }
  }
  return composed;
}
