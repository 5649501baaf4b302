import { type Lease, Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { ReferenceBucket } from './reference-bucket.js';

const limitArb = fc
  .record({
    capacity: fc.integer({ min: 1, max: 40 }),
    refillAmount: fc.integer({ min: 1, max: 20 }),
    // A whole number of ms per token keeps the reference rational bucket and
    // the nanosecond GCRA on the same grid, so decisions must agree exactly.
    msPerToken: fc.integer({ min: 1, max: 3000 }),
  })
  .map(({ capacity, refillAmount, msPerToken }) => ({
    capacity,
    refillAmount,
    refillPeriodMs: refillAmount * msPerToken,
  }));

type Step =
  | { kind: 'acquire'; costs: number[] }
  | { kind: 'advance'; ms: number }
  | { kind: 'adjust'; lease: number; deltas: number[] }
  | { kind: 'commit'; lease: number }
  | { kind: 'rollback'; lease: number };

const stepArb = (limitCount: number): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .array(fc.integer({ min: 0, max: 12 }), { minLength: limitCount, maxLength: limitCount })
        .map((costs) => ({ kind: 'acquire' as const, costs })),
    },
    {
      weight: 3,
      arbitrary: fc
        .oneof(fc.integer({ min: 0, max: 4000 }), fc.double({ min: 0, max: 50, noNaN: true }))
        .map((ms) => ({ kind: 'advance' as const, ms })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          lease: fc.nat(20),
          deltas: fc.array(fc.integer({ min: -6, max: 15 }), {
            minLength: limitCount,
            maxLength: limitCount,
          }),
        })
        .map((s) => ({ kind: 'adjust' as const, ...s })),
    },
    { weight: 2, arbitrary: fc.nat(20).map((lease) => ({ kind: 'commit' as const, lease })) },
    { weight: 1, arbitrary: fc.nat(20).map((lease) => ({ kind: 'rollback' as const, lease })) },
  );

const scenarioArb = fc.array(limitArb, { minLength: 1, maxLength: 3 }).chain((shapes) =>
  fc.record({
    shapes: fc.constant(shapes),
    steps: fc.array(stepArb(shapes.length), { minLength: 1, maxLength: 40 }),
  }),
);

interface OpenLease {
  lease: Lease;
  held: number[];
  pending: number[];
}

describe('RateLimiter on MemoryStore against a reference token bucket', () => {
  it('makes the same decisions, reports the same available tokens and the same waits (to the ms)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ shapes, steps }) => {
        const clock = new FakeClock();
        const limits = shapes.map((shape, index) => Limit.custom({ name: `l${index}`, ...shape }));
        const limiter = new RateLimiter({
          store: new MemoryStore({ maxKeys: 16 }),
          configCacheMaxEntries: 16,
          denyCacheMaxEntries: 16,
          limits,
          clock: clock.read,
          logger: new RecordingLogger(),
        });
        const nowNs = (): bigint =>
          BigInt(Math.floor(clock.nowMs)) * 1_000_000n +
          BigInt(Math.floor((clock.nowMs - Math.floor(clock.nowMs)) * 1e6));
        const reference = limits.map((limit) => new ReferenceBucket(limit, nowNs()));
        const leases: OpenLease[] = [];

        for (const step of steps) {
          const now = nowNs();
          if (step.kind === 'advance') {
            clock.advance(step.ms);
          } else if (step.kind === 'acquire') {
            const costs = step.costs.map((cost, index) => Math.min(cost, limits[index]!.capacity));
            const consume = Object.fromEntries(costs.map((cost, index) => [`l${index}`, cost]));
            const expected = costs.every((cost, index) => reference[index]!.canTake(cost, now));
            const decision = await limiter.tryAcquire({ entity: 'k', consume });
            expect(decision.allowed).toBe(expected);
            if (decision.allowed) {
              costs.forEach((cost, index) => {
                reference[index]!.take(cost, now);
              });
              leases.push({ lease: decision.lease, held: costs, pending: costs.map(() => 0) });
            } else {
              const expectedWait = Math.max(
                1,
                ...costs.map((cost, index) => reference[index]!.waitMs(cost, now)),
              );
              expect(decision.retryAfterMs).toBe(expectedWait);
            }
            for (const status of decision.statuses) {
              const index = Number(status.limit.slice(1));
              expect(status.available).toBe(reference[index]!.available(now));
            }
          } else if (leases.length > 0) {
            const open = leases[step.lease % leases.length]!;
            if (step.kind === 'adjust') {
              const deltas = step.deltas.map((delta, index) =>
                Math.max(delta, -(open.held[index]! + open.pending[index]!)),
              );
              await open.lease.adjust(Object.fromEntries(deltas.map((delta, index) => [`l${index}`, delta])));
              deltas.forEach((delta, index) => {
                open.pending[index]! += delta;
              });
            } else if (step.kind === 'commit') {
              await open.lease.commit();
              open.pending.forEach((delta, index) => {
                if (delta !== 0) reference[index]!.adjust(delta, now);
              });
              leases.splice(leases.indexOf(open), 1);
            } else {
              await open.lease.rollback();
              open.held.forEach((cost, index) => {
                if (cost !== 0) reference[index]!.adjust(-cost, now);
              });
              leases.splice(leases.indexOf(open), 1);
            }
          }
          const available = await limiter.available({ entity: 'k' });
          reference.forEach((bucket, index) => {
            expect(available[`l${index}`]).toBe(bucket.available(nowNs()));
          });
        }
      }),
      { numRuns: 5000 },
    );
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
