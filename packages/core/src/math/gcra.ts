/**
 * GCRA on integer nanoseconds. Pure: no I/O, no clock, no floating point in
 * any decision (reported token counts use plain numbers only where exact).
 *
 * A bucket's whole state is `tat`, the instant at which it would be full
 * again; `undefined` means never used (full). With T = emissionIntervalNs and
 * tau = tauNs, a cost c is admissible iff `max(tat, now) + c·T − now ≤ tau`.
 */

import { EXACT_BELOW_NS, floorDiv } from './exact-number.js';

/** The two numbers of a limit that the math needs. */
export interface GcraLimit {
  readonly emissionIntervalNs: bigint;
  readonly tauNs: bigint;
  readonly capacity: number;
}

/** `max(tat, now)`: where the next charge starts from. */
export function startOf(tat: bigint | undefined, nowNs: bigint): bigint {
  return tat === undefined || tat < nowNs ? nowNs : tat;
}

/** c·T: the time a cost of `cost` tokens occupies. */
export function costNs(limit: GcraLimit, cost: number): bigint {
  // One token is the common case: skip the conversion and the product.
  return cost === 1 ? limit.emissionIntervalNs : BigInt(cost) * limit.emissionIntervalNs;
}

/** True iff `cost` tokens can be taken now. */
export function isAdmissible(
  tat: bigint | undefined,
  nowNs: bigint,
  limit: GcraLimit,
  cost: number,
): boolean {
  return startOf(tat, nowNs) + costNs(limit, cost) - nowNs <= limit.tauNs;
}

/** The new `tat` after admitting `cost` tokens (check {@link isAdmissible} first). */
export function chargedTat(tat: bigint | undefined, nowNs: bigint, limit: GcraLimit, cost: number): bigint {
  return startOf(tat, nowNs) + costNs(limit, cost);
}

/**
 * The new `tat` after taking `cost` tokens, or undefined when they are not
 * admissible now: {@link isAdmissible} and {@link chargedTat} in one pass.
 */
export function tryChargeTat(
  tat: bigint | undefined,
  nowNs: bigint,
  limit: GcraLimit,
  cost: number,
): bigint | undefined {
  const next = startOf(tat, nowNs) + costNs(limit, cost);
  return next - nowNs <= limit.tauNs ? next : undefined;
}

/** Nanoseconds until `cost` tokens are admissible; 0 if they are now. */
export function waitNs(tat: bigint | undefined, nowNs: bigint, limit: GcraLimit, cost: number): bigint {
  const wait = startOf(tat, nowNs) + costNs(limit, cost) - limit.tauNs - nowNs;
  return wait > 0n ? wait : 0n;
}

/**
 * Whole tokens available now: `floor((now + tau − max(tat, now)) / T)`, at
 * most the capacity and negative while the bucket is in debt (after
 * adjustments above what was charged), so callers can see how deep.
 */
export function availableTokens(tat: bigint | undefined, nowNs: bigint, limit: GcraLimit): number {
  return tokensLeft(untilFullNs(tat, nowNs), limit);
}

/**
 * {@link availableTokens} from {@link untilFullNs}'s answer `owedNs`:
 * `floor((tau − owed) / T)`, as `now + tau − max(tat, now)` is `tau − owed`.
 */
export function tokensLeft(owedNs: bigint, limit: GcraLimit): number {
  const { tauNs, emissionIntervalNs } = limit;
  if (owedNs < EXACT_BELOW_NS && tauNs < EXACT_BELOW_NS && emissionIntervalNs < EXACT_BELOW_NS) {
    return floorDiv(Number(tauNs) - Number(owedNs), Number(emissionIntervalNs));
  }
  const free = tauNs - owedNs;
  const whole = free / emissionIntervalNs;
  // BigInt division truncates toward zero; debt must round down (−0.5 token is −1 whole token).
  return Number(free < 0n && whole * emissionIntervalNs !== free ? whole - 1n : whole);
}

/** Nanoseconds until the bucket is full again (0 when full). */
export function untilFullNs(tat: bigint | undefined, nowNs: bigint): bigint {
  return tat === undefined || tat <= nowNs ? 0n : tat - nowNs;
}

/**
 * The new `tat` after an adjustment that is never refused: a positive delta is
 * debt (may push the bucket below zero), a negative delta a refund (never above
 * capacity, i.e. `tat` never below `now`). Returns `tat` unchanged for 0.
 */
export function adjustedTat(
  tat: bigint | undefined,
  nowNs: bigint,
  limit: GcraLimit,
  delta: number,
): bigint | undefined {
  if (delta > 0) return startOf(tat, nowNs) + costNs(limit, delta);
  if (delta < 0) {
    if (tat === undefined || tat <= nowNs) return tat;
    const refunded = tat - costNs(limit, -delta);
    return refunded > nowNs ? refunded : nowNs;
  }
  return tat;
}
