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

  it('counts available tokens the same in plain numbers and in BigInt, beyond 2^52 ns of debt or window', () => {
    // The reference: floor((tau − owed) / T) in BigInt only.
    const reference = (tat: bigint, limit: Limit): number => {
      const free = limit.tauNs - (tat > now ? tat - now : 0n);
      const whole = free / limit.emissionIntervalNs;
      return Number(free < 0n && whole * limit.emissionIntervalNs !== free ? whole - 1n : whole);
    };
    const yearly = Limit.perDay('yearly', 1, { burst: 5_000 }); // tau ≈ 13.7 years, far above 2^52 ns (52 days)
    const exactBound = 2n ** 52n;
    for (const subject of [limit, yearly]) {
      for (const owed of [
        0n,
        1n,
        ms(50),
        ms(1050),
        exactBound - 1n,
        exactBound,
        exactBound + 1n,
        3n * exactBound,
      ]) {
        const tat = now + owed;
        expect(gcra.availableTokens(tat, now, subject)).toBe(reference(tat, subject));
        expect(gcra.tokensLeft(owed, subject)).toBe(reference(tat, subject));
      }
    }
  });

  it('reports the time until full', () => {
    expect(gcra.untilFullNs(now + ms(300), now)).toBe(ms(300));
    expect(gcra.untilFullNs(now - ms(300), now)).toBe(0n);
  });
});
