import { Limit, ValidationError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';

describe('Limit', () => {
  it('builds per-period limits with the rate as capacity unless a burst is given', () => {
    expect(Limit.perMinute('rpm', 100).toJSON()).toEqual({
      name: 'rpm',
      capacity: 100,
      refillAmount: 100,
      refillPeriodMs: 60_000,
    });
    expect(Limit.perSecond('rps', 5, { burst: 20 }).toJSON()).toEqual({
      name: 'rps',
      capacity: 20,
      refillAmount: 5,
      refillPeriodMs: 1000,
    });
    expect(Limit.perHour('h', 7).refillPeriodMs).toBe(3_600_000);
    expect(Limit.perDay('d', 7).refillPeriodMs).toBe(86_400_000);
  });

  it('computes the emission interval rounded up to a whole nanosecond and tau as capacity × interval', () => {
    const exact = Limit.perMinute('rpm', 100);
    expect(exact.emissionIntervalNs).toBe(600_000_000n);
    expect(exact.tauNs).toBe(60_000_000_000n);
    const inexact = Limit.perMinute('rpm', 7);
    expect(inexact.emissionIntervalNs).toBe(8_571_428_572n);
    expect(inexact.tauNs).toBe(7n * 8_571_428_572n);
  });

  it.each([
    ['a name starting with a digit', () => Limit.perMinute('1rpm', 1)],
    ['an empty name', () => Limit.perMinute('', 1)],
    ['a name longer than 64 characters', () => Limit.perMinute(`a${'b'.repeat(64)}`, 1)],
    ['a zero rate', () => Limit.perMinute('rpm', 0)],
    ['a negative rate', () => Limit.perMinute('rpm', -5)],
    ['a fractional rate', () => Limit.perMinute('rpm', 1.5)],
    ['NaN', () => Limit.perMinute('rpm', Number.NaN)],
    ['a zero burst', () => Limit.perMinute('rpm', 5, { burst: 0 })],
    [
      'a refill faster than one token per ns',
      () => Limit.custom({ name: 'x', capacity: 1, refillAmount: 2_000_000, refillPeriodMs: 1 }),
    ],
    ['a missing period', () => Limit.custom({ name: 'x', capacity: 1, refillAmount: 1 } as never)],
  ])('rejects %s with ERR_TOLLGATE_INVALID_LIMIT', (_, build) => {
    expect(build).toThrow(ValidationError);
    try {
      build();
    } catch (error) {
      expect((error as ValidationError).code).toBe('ERR_TOLLGATE_INVALID_LIMIT');
    }
  });

  it('names the field and the bad value in the message', () => {
    expect(() => Limit.perMinute('rpm', -1)).toThrow(
      'Expected `rate` of limit `rpm` to be a positive integer up to 1000000000000000, got `-1` (number)',
    );
  });

  it('round-trips through its definition', () => {
    const limit = Limit.perMinute('tpm', 10_000, { burst: 20_000 });
    expect(Limit.fromDefinition(limit.toJSON())).toEqual(limit);
  });

  it('is immutable', () => {
    const limit = Limit.perMinute('rpm', 1);
    expect(Object.isFrozen(limit)).toBe(true);
  });
});
