/**
 * Exact conversions between DynamoDB numbers (decimal strings of up to 38
 * significant digits) and the integers Tollgate stores. `tat` values are
 * nanoseconds around 1.8e18, beyond `Number.MAX_SAFE_INTEGER`, so they are
 * never routed through a `number`.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * Parses a DynamoDB number that holds an integer, exactly, as a bigint.
 * Accepts the plain form DynamoDB returns (`"1800000000000000000"`) and, for
 * robustness, decimal or exponent forms of an integer (`"1.8E+18"`).
 *
 * @throws TypeError when the text is not a number or not an integer.
 */
export function parseBigIntNumber(text: string): bigint {
  const match = DECIMAL.exec(text);
  if (!match) throw new TypeError(`Expected a DynamoDB number, got ${JSON.stringify(text)}`);
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  let digits = whole + fraction;
  let scale = exponent - fraction.length;
  while (scale < 0 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale += 1;
  }
  if (scale < 0) {
    if (/^0*$/.test(digits)) return 0n;
    throw new TypeError(`Expected an integer DynamoDB number, got ${JSON.stringify(text)}`);
  }
  const magnitude = BigInt(digits === '' ? '0' : digits) * 10n ** BigInt(scale);
  return sign === '-' ? -magnitude : magnitude;
}

/** Parses a DynamoDB number that fits a double (counters, capacities, timestamps in ms). */
export function parseNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value)) throw new TypeError(`Expected a DynamoDB number, got ${JSON.stringify(text)}`);
  return value;
}

/** Nanoseconds → whole epoch seconds, rounded up (for the TTL attribute). */
export function nsToEpochSecondsCeil(ns: bigint): number {
  const seconds = ns <= 0n ? 0n : (ns + 999_999_999n) / 1_000_000_000n;
  return Number(seconds);
}

/** The larger of two bigints (`Math.max` takes numbers only). */
export function maxBigInt(a: bigint, b: bigint): bigint {
  return a < b ? b : a;
}
