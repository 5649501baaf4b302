import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ceilDiv, EXACT_BELOW, floorDiv } from '../src/math/exact-number.js';
import { nsToMsCeil } from '../src/math/time.js';

/** BigInt floor division, the reference: BigInt `/` truncates toward zero. */
function floorDivReference(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a < 0n && q * b !== a ? q - 1n : q;
}

const below = EXACT_BELOW - 1;
const dividend = fc.oneof(
  fc.integer({ min: -below, max: below }),
  // Near the bound and near multiples of the divisor, where a rounded quotient can land on a whole number.
  fc.integer({ min: 0, max: 1_000 }).map((offset) => below - offset),
  fc.integer({ min: 0, max: 1_000 }).map((offset) => -below + offset),
);
const divisor = fc.oneof(fc.integer({ min: 1, max: below }), fc.integer({ min: 1, max: 1_000 }));

describe('exact division in plain numbers', () => {
  it('floors and ceils exactly as BigInt does, for every operand below 2^52', () => {
    fc.assert(
      fc.property(dividend, divisor, (a, b) => {
        const floor = floorDivReference(BigInt(a), BigInt(b));
        expect(floorDiv(a, b)).toBe(Number(floor));
        expect(ceilDiv(a, b)).toBe(Number(-floorDivReference(-BigInt(a), BigInt(b))));
      }),
      { numRuns: 20_000 },
    );
  });

  it('is exact where Math.floor(a / b) alone is one off', () => {
    // (2^52 − 1) / (2^52 − 2) is just above 1; a quotient just below a whole number rounds up to it.
    const a = 4_503_599_627_370_495; // 2^52 − 1
    expect(floorDiv(a - 1, a)).toBe(0);
    expect(floorDiv(-(a - 1), a)).toBe(-1);
    const b = 3;
    const n = 1_501_199_875_790_165; // n·3 = 2^52 − 1
    expect(floorDiv(n * b - 1, b)).toBe(n - 1);
    expect(ceilDiv(n * b - 1, b)).toBe(n);
  });

  it('rounds nanoseconds up to milliseconds the same on both sides of 2^52', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 60n }), (ns) => {
        expect(nsToMsCeil(ns)).toBe(Number((ns + 999_999n) / 1_000_000n));
      }),
      { numRuns: 20_000 },
    );
    expect(nsToMsCeil(2n ** 52n - 1n)).toBe(4_503_599_628);
    expect(nsToMsCeil(1n)).toBe(1);
    expect(nsToMsCeil(1_000_000n)).toBe(1);
    expect(nsToMsCeil(1_000_001n)).toBe(2);
    expect(nsToMsCeil(0n)).toBe(0);
  });
});
