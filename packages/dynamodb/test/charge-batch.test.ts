import { type BucketCharge, Limit } from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { composeAdjustments, shiftedTat } from '../src/adjust-composition.js';
import type { TatGuess } from '../src/bucket-update.js';
import { inRange, simulateChargeBatch, tatsSeen, writeRange } from '../src/charge-batch.js';

const NOW = 1_800_000_000_000_000_000n;
const NAMES = ['rpm', 'tpm'] as const;

/** Limits of the two names, several per name (the same stored tat, different T and tau). */
const limitArb = fc
  .record({
    name: fc.constantFrom(...NAMES),
    capacity: fc.integer({ min: 1, max: 12 }),
    refillAmount: fc.integer({ min: 1, max: 7 }),
    refillPeriodMs: fc.integer({ min: 1, max: 50 }),
  })
  .map((spec) => Limit.custom(spec));

/** A known or stored tat near now: absent, idle or busy up to a few buckets' worth. */
const tatArb = fc.option(
  fc.bigInt({ min: -200_000_000n, max: 1_200_000_000n }).map((offset) => NOW + offset),
  { nil: undefined },
);

const stateArb = (buckets: number) =>
  fc.array(
    fc.record({ rpm: tatArb, tpm: tatArb }).map((tats) => {
      const state = new Map<string, bigint>();
      for (const name of NAMES) {
        const tat = tats[name];
        if (tat !== undefined) state.set(name, tat);
      }
      return state as TatGuess;
    }),
    { minLength: buckets, maxLength: buckets },
  );

const chargesArb = fc
  .uniqueArray(limitArb, { minLength: 1, maxLength: 2, selector: (limit) => limit.name })
  .chain((limits) =>
    fc
      .tuple(...limits.map((limit) => fc.integer({ min: 1, max: limit.capacity })))
      .map((costs) => limits.map((limit, index) => ({ limit, cost: costs[index] ?? 1 }))),
  );

const membersArb = (buckets: number) =>
  fc.array(
    fc
      .array(chargesArb, { minLength: buckets, maxLength: buckets })
      .map((perBucket) =>
        perBucket.map((charges, index): BucketCharge => ({ entity: `e${index}`, resource: 'r', charges })),
      ),
    { minLength: 1, maxLength: 10 },
  );

const batchArb = fc
  .integer({ min: 1, max: 2 })
  .chain((buckets) => fc.record({ known: stateArb(buckets), members: membersArb(buckets) }));

/** The reference: each member decided alone, one after another, with the core GCRA math. */
function sequential(known: readonly TatGuess[], members: readonly (readonly BucketCharge[])[]) {
  const tats = known.map((state) => new Map(state));
  return members.map((buckets) => {
    const admitted = buckets.every((bucket, index) =>
      bucket.charges.every(({ limit, cost }) =>
        gcra.isAdmissible(tats[index]?.get(limit.name), NOW, limit, cost),
      ),
    );
    if (admitted) {
      buckets.forEach((bucket, index) => {
        for (const { limit, cost } of bucket.charges) {
          tats[index]?.set(limit.name, gcra.chargedTat(tats[index]?.get(limit.name), NOW, limit, cost));
        }
      });
    }
    return { admitted, seen: tats.map((state) => new Map(state)) };
  });
}

/** Tats compared as GCRA sees them: `max(tat, now)` (an idle tat is as good as `now`). */
function starts(state: TatGuess): Record<string, bigint> {
  return Object.fromEntries(NAMES.map((name) => [name, gcra.startOf(state.get(name), NOW)]));
}

describe('simulateChargeBatch', () => {
  it('decides each member as if alone, in arrival order, and reports the state it saw', () => {
    fc.assert(
      fc.property(batchArb, ({ known, members }) => {
        const batch = simulateChargeBatch(known, NOW, members, 'fifo');
        const expected = sequential(known, members);
        batch.decisions.forEach((decision, index) => {
          const reference = expected[index];
          expect(decision.admitted).toBe(reference?.admitted);
          known.forEach((state, bucket) => {
            const seen = tatsSeen(state, decision.prefixNs[bucket] ?? new Map(), NOW);
            expect(starts(seen)).toEqual(starts(reference?.seen[bucket] ?? new Map()));
          });
        });
      }),
      { numRuns: 500 },
    );
  });

  it('conditions the write on exactly the stored tats that give the same decisions', () => {
    // Any stored state inside every limit's range gives the simulated decisions and states;
    // the known state itself is always inside (a right guess never fails its condition).
    const storedArb = batchArb.chain(({ known, members }) =>
      fc.record({
        known: fc.constant(known),
        members: fc.constant(members),
        stored: stateArb(known.length),
        pick: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
      }),
    );
    fc.assert(
      fc.property(storedArb, ({ known, members, stored, pick }) => {
        const batch = simulateChargeBatch(known, NOW, members, 'fifo');
        const ranges = batch.terms.map((terms, bucket) =>
          [...terms].map(([name, term]) => ({
            name,
            range: writeRange(term, known[bucket]?.get(name), NOW),
          })),
        );
        ranges.forEach((limits, bucket) => {
          for (const { name, range } of limits)
            expect(inRange(range, known[bucket]?.get(name), NOW)).toBe(true);
        });
        // Move some stored tats onto the edges of their ranges, where an off-by-one would show.
        const candidate = stored.map((state, bucket) => {
          const tats = new Map(state);
          ranges[bucket]?.forEach(({ name, range }, index) => {
            const choice = pick[(bucket * 2 + index) % pick.length];
            if (range.form === 'busy' && choice === 1) tats.set(name, range.aboveNs + 1n);
            if (range.form === 'busy' && choice === 2 && range.atMostNs !== undefined)
              tats.set(name, range.atMostNs);
            if (choice === 3) tats.set(name, known[bucket]?.get(name) ?? NOW);
          });
          return tats as TatGuess;
        });
        const accepted = ranges.every((limits, bucket) =>
          limits.every(({ name, range }) => inRange(range, candidate[bucket]?.get(name), NOW)),
        );
        if (!accepted) return;
        const expected = sequential(candidate, members);
        batch.decisions.forEach((decision, index) => {
          expect(decision.admitted).toBe(expected[index]?.admitted);
          candidate.forEach((state, bucket) => {
            const seen = tatsSeen(state, decision.prefixNs[bucket] ?? new Map(), NOW);
            expect(starts(seen)).toEqual(starts(expected[index]?.seen[bucket] ?? new Map()));
          });
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('admits the first 6 of 10 equal requests when 6 fit, and charges nothing for the rest', () => {
    const limit = Limit.perMinute('rpm', 10);
    const known = [new Map([['rpm', NOW + 4n * limit.emissionIntervalNs]])];
    const member = [{ entity: 'k', resource: 'r', charges: [{ limit, cost: 1 }] }];
    const batch = simulateChargeBatch(known, NOW, Array(10).fill(member), 'fifo');
    expect(batch.decisions.map((decision) => decision.admitted)).toEqual([
      ...Array(6).fill(true),
      ...Array(4).fill(false),
    ]);
    expect(batch.terms[0]?.get('rpm')).toMatchObject({
      occupiedNs: 6n * limit.emissionIntervalNs,
      consumed: 6,
    });
  });

  it('lets a later, smaller request through after a refused one', () => {
    const limit = Limit.perMinute('tpm', 10);
    const member = (cost: number) => [{ entity: 'k', resource: 'r', charges: [{ limit, cost }] }];
    const batch = simulateChargeBatch([new Map()], NOW, [member(4), member(4), member(4), member(1)], 'fifo');
    expect(batch.decisions.map((decision) => decision.admitted)).toEqual([true, true, false, true]);
    expect(batch.terms[0]?.get('tpm')).toMatchObject({
      occupiedNs: 9n * limit.emissionIntervalNs,
      consumed: 9,
    });
  });
});

describe('composeAdjustments', () => {
  const adjustmentsArb = fc.array(
    limitArb
      .filter((limit) => limit.name === 'tpm')
      .chain((limit) =>
        fc
          .integer({ min: -limit.capacity, max: limit.capacity })
          .filter((delta) => delta !== 0)
          .map((delta) => ({ limit, delta })),
      ),
    { minLength: 1, maxLength: 8 },
  );

  it('equals applying the deltas one by one, in order', () => {
    fc.assert(
      fc.property(tatArb, adjustmentsArb, (tat, adjustments) => {
        let sequentialTat = tat;
        for (const { limit, delta } of adjustments)
          sequentialTat = gcra.adjustedTat(sequentialTat, NOW, limit, delta);
        const composed = composeAdjustments([{ entity: 'k', resource: 'r', adjustments }]).get('tpm');
        expect(composed).toBeDefined();
        const shifted = shiftedTat(tat, NOW, composed?.shift ?? { addNs: 0n, floorNs: 0n });
        expect(gcra.startOf(shifted, NOW)).toBe(gcra.startOf(sequentialTat, NOW));
        expect(composed?.consumed).toBe(adjustments.reduce((sum, { delta }) => sum + delta, 0));
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps an idle bucket as it is when the adjustments leave it full', () => {
    const limit = Limit.perMinute('tpm', 10);
    const composed = composeAdjustments([
      { entity: 'k', resource: 'r', adjustments: [{ limit, delta: 2 }] },
      { entity: 'k', resource: 'r', adjustments: [{ limit, delta: -5 }] },
    ]).get('tpm');
    expect(shiftedTat(undefined, NOW, composed?.shift ?? { addNs: 0n, floorNs: 0n })).toBeUndefined();
    expect(
      shiftedTat(NOW + 3n * limit.emissionIntervalNs, NOW, composed?.shift ?? { addNs: 0n, floorNs: 0n }),
    ).toBe(NOW);
  });
});
