import { Limit } from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { describe, expect, it } from 'vitest';

const limit = Limit.perSecond('r', 10); // T = 100 ms, tau = 1 s
const ms = (value: number): bigint => BigInt(value) * 1_000_000n;
const now = ms(1_000_000);

describe('GCRA math', () => {
  it('admits up to capacity from a new bucket and no more', () => {
    let tat: bigint | undefined;
    for (let i = 0; i < 10; i += 1) {
      expect(gcra.isAdmissible(tat, now, limit, 1)).toBe(true);
      tat = gcra.chargedTat(tat, now, limit, 1);
    }
    expect(gcra.isAdmissible(tat, now, limit, 1)).toBe(false);
    expect(gcra.waitNs(tat, now, limit, 1)).toBe(ms(100));
  });

  it('counts available tokens from tat', () => {
    expect(gcra.availableTokens(undefined, now, limit)).toBe(10);
    expect(gcra.availableTokens(now + ms(250), now, limit)).toBe(7);
    expect(gcra.availableTokens(now + ms(1000), now, limit)).toBe(0);
    // In debt: signed, rounded down (half a token short is −1 whole token).
    expect(gcra.availableTokens(now + ms(2000), now, limit)).toBe(-10);
    expect(gcra.availableTokens(now + ms(1050), now, limit)).toBe(-1);
  });

  it('lets debt push tat beyond tau, delaying admission by exactly the debt', () => {
    const full = gcra.chargedTat(undefined, now, limit, 10);
    const indebted = gcra.adjustedTat(full, now, limit, 5);
    expect(indebted).toBe(now + ms(1500));
    expect(gcra.waitNs(indebted, now, limit, 1)).toBe(ms(600));
  });

  it('never refunds above capacity', () => {
    const once = gcra.chargedTat(undefined, now, limit, 2);
    expect(gcra.adjustedTat(once, now, limit, -5)).toBe(now);
    expect(gcra.adjustedTat(undefined, now, limit, -5)).toBeUndefined();
  });

  it('reports the time until full', () => {
    expect(gcra.untilFullNs(now + ms(300), now)).toBe(ms(300));
    expect(gcra.untilFullNs(now - ms(300), now)).toBe(0n);
  });
});
