/**
 * The property test of DESIGN §3, shared by every store: random sequences of
 * acquires, adjustments, commits, rollbacks and clock steps on one limiter,
 * checked step by step against {@link ReferenceBucket} (same decisions, same
 * available tokens, same waits to the millisecond).
 */
import { type Lease, Limit, type Logger, RateLimiter, type Store } from '@tollgate/core';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ReferenceBucket } from './reference-bucket.js';

/** Silent logger for limiters built by the hundreds. */
const quiet: Logger = { warn: () => undefined };

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

/** A limit set (1–3 limits on whole-millisecond token intervals) and up to `maxSteps` steps. */
export const scenarioArb = (maxSteps: number) =>
  fc.array(limitArb, { minLength: 1, maxLength: 3 }).chain((shapes) =>
    fc.record({
      shapes: fc.constant(shapes),
      steps: fc.array(stepArb(shapes.length), { minLength: 1, maxLength: maxSteps }),
    }),
  );

interface OpenLease {
  lease: Lease;
  held: number[];
  pending: number[];
}

/** One generated scenario. */
export type Scenario = {
  shapes: Array<{ capacity: number; refillAmount: number; refillPeriodMs: number }>;
  steps: Step[];
};

/**
 * Runs one scenario on a limiter over `store` (entity `entity`, a fresh key per
 * scenario) and asserts every step against the reference model.
 */
export async function checkScenario(
  store: Store,
  entity: string,
  { shapes, steps }: Scenario,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  let nowMs = 1_700_000_000_000;
  const limits = shapes.map((shape, index) => Limit.custom({ name: `l${index}`, ...shape }));
  const limiter = new RateLimiter({
    store,
    limits,
    clock: () => nowMs,
    logger: quiet,
    configCacheMaxEntries: 16,
    denyCacheMaxEntries: 16,
    timeoutMs: options.timeoutMs ?? 500,
  });
  const nowNs = (): bigint =>
    BigInt(Math.floor(nowMs)) * 1_000_000n + BigInt(Math.floor((nowMs - Math.floor(nowMs)) * 1e6));
  const reference = limits.map((limit) => new ReferenceBucket(limit, nowNs()));
  const leases: OpenLease[] = [];

  for (const step of steps) {
    const now = nowNs();
    if (step.kind === 'advance') {
      nowMs += step.ms;
    } else if (step.kind === 'acquire') {
      const costs = step.costs.map((cost, index) => Math.min(cost, limits[index]!.capacity));
      const consume = Object.fromEntries(costs.map((cost, index) => [`l${index}`, cost]));
      const expected = costs.every((cost, index) => reference[index]!.canTake(cost, now));
      const decision = await limiter.tryAcquire({ entity, consume });
      expect(decision.allowed).toBe(expected);
      if (decision.allowed) {
        costs.forEach((cost, index) => {
          reference[index]!.take(cost, now);
        });
        leases.push({ lease: decision.lease, held: costs, pending: costs.map(() => 0) });
      } else {
        const expectedWait = Math.max(1, ...costs.map((cost, index) => reference[index]!.waitMs(cost, now)));
        expect(decision.retryAfterMs).toBe(expectedWait);
      }
      for (const status of decision.statuses) {
        expect(status.available).toBe(reference[Number(status.limit.slice(1))]!.available(now));
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
    const available = await limiter.available({ entity });
    reference.forEach((bucket, index) => {
      expect(available[`l${index}`]).toBe(bucket.available(nowNs()));
    });
  }
}

/** Asserts `runs` random scenarios against the reference model, each on a fresh entity. */
export async function assertMatchesReference(
  store: Store,
  options: { runs: number; maxSteps: number; timeoutMs?: number },
): Promise<void> {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(scenarioArb(options.maxSteps), async (scenario) => {
      run += 1;
      await checkScenario(store, `scenario-${run}`, scenario, options);
    }),
    { numRuns: options.runs },
  );
}
