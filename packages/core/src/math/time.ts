import { ceilDiv, EXACT_BELOW_NS } from './exact-number.js';

/** Converts a clock reading in (possibly fractional) milliseconds to integer nanoseconds. */
export function msToNs(ms: number): bigint {
  if (Number.isSafeInteger(ms)) return BigInt(ms) * 1_000_000n;
  const whole = Math.floor(ms);
  const fractionNs = Math.floor((ms - whole) * 1e6);
  return BigInt(whole) * 1_000_000n + BigInt(fractionNs);
}

/** Nanoseconds to whole milliseconds, rounded up (a wait is never reported short). */
export function nsToMsCeil(ns: bigint): number {
  if (ns <= 0n) return 0;
  // Most waits are far below 2^52 ns (52 days): no BigInt arithmetic then.
  if (ns < EXACT_BELOW_NS) return ceilDiv(Number(ns), 1_000_000);
  return Number((ns + 999_999n) / 1_000_000n);
}
