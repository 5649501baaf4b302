import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { assertMatchesReference } from '@tollgate/test-utils';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';

describe('RateLimiter on MemoryStore against a reference token bucket', () => {
  it('makes the same decisions, reports the same available tokens and the same waits (to the ms)', async () => {
    await assertMatchesReference(new MemoryStore({ maxKeys: 64 }), { runs: 5000, maxSteps: 40 });
  }, 120_000);

  it('never admits more than the exact bucket when the refill rate is not a whole number of ns per token', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 200 }),
        async (capacity, refillAmount, gaps) => {
          const clock = new FakeClock();
          // 7 tokens per 60 001 ms: 8 571 571 428.57 ns per token, rounded up by the limiter.
          const shape = {
            name: 'r',
            capacity,
            refillAmount: refillAmount * 7,
            refillPeriodMs: 60_001 * refillAmount,
          };
          const limiter = new RateLimiter({
            store: new MemoryStore({ maxKeys: 16 }),
            configCacheMaxEntries: 16,
            denyCacheMaxEntries: 16,
            limits: [Limit.custom(shape)],
            clock: clock.read,
            logger: new RecordingLogger(),
          });
          const start = clock.nowMs;
          let admitted = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            if ((await limiter.tryAcquire({ entity: 'k' })).allowed) admitted += 1;
          }
          const elapsedMs = clock.nowMs - start;
          const exactAllowance =
            capacity + Math.floor((elapsedMs * shape.refillAmount) / shape.refillPeriodMs);
          expect(admitted).toBeLessThanOrEqual(exactAllowance);
        },
      ),
      { numRuns: 1000 },
    );
  }, 120_000);
});
