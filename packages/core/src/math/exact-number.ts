/**
 * Integer division in plain numbers, exact while the operands stay below
 * {@link EXACT_BELOW}: `Math.floor(a / b)` alone can be one off when the
 * rounded quotient lands on a whole number, so the result is checked by
 * multiplying back (exact, as every product stays below 2^53).
 */

/** Operands below this (2^52) keep every intermediate product of the divisions here exact. */
export const EXACT_BELOW = 2 ** 52;

/** The same bound as a BigInt, to test BigInt values before converting them. */
export const EXACT_BELOW_NS = 2n ** 52n;

/** `floor(a / b)` for integers `|a| < 2^52` and `0 < b < 2^52`. */
export function floorDiv(a: number, b: number): number {
  const q = Math.floor(a / b);
  if (q * b > a) return q - 1;
  if ((q + 1) * b <= a) return q + 1;
  return q;
}

/** `ceil(a / b)` for integers `|a| < 2^52` and `0 < b < 2^52`. */
export function ceilDiv(a: number, b: number): number {
  // `0 −`, not unary minus: a quotient of 0 is +0, never −0.
  return 0 - floorDiv(-a, b);
}
