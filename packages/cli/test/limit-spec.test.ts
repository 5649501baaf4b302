import { ValidationError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { formatLimitSpec, parseLimitSpec } from '../src/limit-spec.js';

describe('limit specs', () => {
  it('parses name:rate/period with the rate as the burst', () => {
    expect(parseLimitSpec('rpm:100/min').toJSON()).toEqual({
      name: 'rpm',
      capacity: 100,
      refillAmount: 100,
      refillPeriodMs: 60_000,
    });
  });

  it('parses an explicit burst', () => {
    expect(parseLimitSpec('tpm:10000/min:20000').toJSON()).toEqual({
      name: 'tpm',
      capacity: 20_000,
      refillAmount: 10_000,
      refillPeriodMs: 60_000,
    });
  });

  it('parses periods with a count and long or short unit names', () => {
    expect(parseLimitSpec('uploads:5/10s').refillPeriodMs).toBe(10_000);
    expect(parseLimitSpec('a:1/500ms').refillPeriodMs).toBe(500);
    expect(parseLimitSpec('b:1/hour').refillPeriodMs).toBe(3_600_000);
    expect(parseLimitSpec('c:1/2h').refillPeriodMs).toBe(7_200_000);
    expect(parseLimitSpec('d:1000/day').refillPeriodMs).toBe(86_400_000);
    expect(parseLimitSpec('e:1/5minutes').refillPeriodMs).toBe(300_000);
  });

  it('rejects specs without a period, with unknown units or bad names, naming the expected form', () => {
    for (const bad of [
      'rpm:100',
      'rpm:100/fortnight',
      'rpm:-1/min',
      '1rpm:100/min',
      'rpm:100/min:',
      'rpm:0/min',
    ]) {
      expect(() => parseLimitSpec(bad), bad).toThrow(ValidationError);
    }
    expect(() => parseLimitSpec('rpm:100')).toThrow(/name:rate\/period\[:burst\]/);
  });

  it('formats a limit back into the spec that parses to it', () => {
    for (const spec of [
      'rpm:100/min',
      'tpm:10000/min:20000',
      'uploads:5/10s',
      'daily:1000/day',
      'x:3/90s',
      'y:1/1500ms',
    ]) {
      expect(formatLimitSpec(parseLimitSpec(spec).toJSON())).toBe(spec);
    }
  });
});
