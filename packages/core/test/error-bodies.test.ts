import {
  HttpRateLimit,
  Limit,
  type LimitStatus,
  MemoryStore,
  RateLimitExceeded,
  RateLimiter,
  ValidationError,
} from '@tollgate/core';
import { validateId } from '@tollgate/core/internal';
import { describe, expect, it } from 'vitest';

const status = (over: Partial<LimitStatus>): LimitStatus => ({
  entity: 'sk-live-key',
  resource: 'chat',
  limit: 'rpm',
  capacity: 10,
  available: 4,
  requested: 1,
  exceeded: false,
  retryAfterMs: 0,
  resetAfterMs: 36_000,
  refillAmount: 10,
  refillPeriodMs: 60_000,
  depth: 0,
  ...over,
});

const statuses = [
  status({}),
  status({ entity: 'org-internal-1', depth: 1, available: 0, exceeded: true, retryAfterMs: 6000 }),
  status({ entity: 'holding-internal-2', depth: 2, limit: 'tpm', capacity: 1000, available: 900 }),
];

describe('RateLimitExceeded bodies', () => {
  const error = new RateLimitExceeded(statuses, 6000);

  it('names limits by scope, with no entity id, by default and in JSON.stringify', () => {
    const body = error.toJSON();
    expect(body).toEqual({
      error: 'rate_limit_exceeded',
      message: 'Rate limit exceeded (parent.rpm); retry in 6000 ms',
      retryAfterMs: 6000,
      limits: statuses.map(({ entity: _entity, ...rest }, depth) => ({
        scope: ['self', 'parent', 'ancestor'][depth],
        ...rest,
      })),
    });
    const sent = JSON.stringify(error);
    expect(JSON.parse(sent)).toEqual(body);
    for (const id of ['sk-live-key', 'org-internal-1', 'holding-internal-2']) expect(sent).not.toContain(id);
  });

  it('names every entity with exposeEntities, and keeps statuses and message complete on the error', () => {
    const body = error.toBody({ exposeEntities: true });
    expect(body.message).toBe(error.message);
    expect(body.limits.map((limit) => [limit.scope, limit.entity])).toEqual([
      ['self', 'sk-live-key'],
      ['parent', 'org-internal-1'],
      ['ancestor', 'holding-internal-2'],
    ]);
    expect(error.statuses.map((s) => s.entity)).toEqual([
      'sk-live-key',
      'org-internal-1',
      'holding-internal-2',
    ]);
    expect(error.message).toContain('org-internal-1');
  });
});

describe('ValidationError bodies', () => {
  it('sends a fixed message per code by default, the full one with exposeEntities', () => {
    const error = new ValidationError(
      'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY',
      '`consume.rpm` is 5, above the capacity 2 of `org-internal-1`; it could never be admitted',
      'consume.rpm',
    );
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: 'invalid_request',
      code: 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY',
      message: '`consume.rpm` is above the capacity of a limit that applies; it could never be admitted',
      field: 'consume.rpm',
    });
    expect(error.toBody({ exposeEntities: true }).message).toBe(error.message);
  });

  it('describes a rejected id by type or length, never by its content', () => {
    const messages = [
      'sk-live-'.padEnd(300, 'q'),
      '',
      ['sk-live-a', 'sk-live-b'],
      { key: 'sk-live-c' },
      42,
    ].map((value) => {
      try {
        validateId(value, 'entity');
      } catch (error) {
        return (error as ValidationError).message;
      }
      return 'accepted';
    });
    expect(messages).toEqual([
      'Expected `entity` to be a string of 1 to 256 characters, got a string of 300 characters',
      'Expected `entity` to be a string of 1 to 256 characters, got an empty string',
      'Expected `entity` to be a string of 1 to 256 characters, got an array',
      'Expected `entity` to be a string of 1 to 256 characters, got an object',
      'Expected `entity` to be a string of 1 to 256 characters, got a number',
    ]);
  });
});

describe('HttpRateLimit exposeEntities', () => {
  it('is validated at construction', () => {
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 10 }),
      limits: [Limit.perMinute('rpm', 1)],
    });
    expect(() => new HttpRateLimit({ limiter, exposeEntities: 'yes' as never }, () => undefined)).toThrow(
      'Expected `exposeEntities` to be a boolean, got `"yes"` (string)',
    );
  });
});
