import { setMaxListeners } from 'node:events';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type BucketCharge,
  type ChargeResult,
  Limit,
  type LimitAdjustment,
  type StoreCallStats,
} from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { DynamoDBStore, type DynamoDBStoreOptions, KeyBuilder } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  localClientConfig,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let local: DynamoDBLocal;
let tableName: string;
let namespaces = 0;
// One signal for every call, as the limiter shares one deadline signal between calls: the SDK
// adds a listener per request in flight, so it may hold more than Node's default of 10.
const signal = new AbortController().signal;
setMaxListeners(0, signal);
const T0 = BigInt(Date.now()) * 1_000_000n;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
});
afterAll(() => local.stop());

function freshStore(options: Partial<DynamoDBStoreOptions> = {}): { store: DynamoDBStore; keys: KeyBuilder } {
  const namespace = options.namespace ?? `coalesce-${++namespaces}`;
  return {
    store: new DynamoDBStore({ tableName, client: local.client, namespace, ...options }),
    keys: new KeyBuilder(namespace),
  };
}

function bucket(entity: string, ...charges: [Limit, number][]): BucketCharge {
  return { entity, resource: 'chat', charges: charges.map(([limit, cost]) => ({ limit, cost })) };
}

function statsOf(store: DynamoDBStore, kind: string): StoreCallStats {
  return store.stats()[kind] ?? { calls: 0, roundTrips: 0, readCapacityUnits: 0, writeCapacityUnits: 0 };
}

/** The stored tat and consumed counter of one limit, read consistently. */
async function stored(keys: KeyBuilder, entity: string, limit: string) {
  const key = keys.bucket(entity, 'chat');
  const output = await local.client.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { PK: { S: key.PK }, SK: { S: key.SK } },
      ConsistentRead: true,
    }),
  );
  const tat = output.Item?.[`tat:${limit}`]?.N;
  const consumed = output.Item?.[`consumed:${limit}`]?.N;
  return { tat: tat === undefined ? undefined : BigInt(tat), consumed: Number(consumed ?? 0) };
}

/**
 * Charges `queued` behind a first charge (`blocker`) on the same item set:
 * the blocker's write is in flight when the others arrive, so they go out
 * together as the next write.
 */
async function behindOneWrite(
  store: DynamoDBStore,
  blocker: readonly BucketCharge[],
  queued: readonly (readonly BucketCharge[])[],
  nowNs = T0,
): Promise<{ first: ChargeResult; results: ChargeResult[] }> {
  const first = store.charge({ nowNs, buckets: blocker, signal });
  const results = Promise.all(queued.map((buckets) => store.charge({ nowNs, buckets, signal })));
  return { first: await first, results: await results };
}

/** Each member decided alone, one after another, with the core math: [admitted, tat seen]. */
function sequentially(start: bigint | undefined, nowNs: bigint, costs: readonly [Limit, number][]) {
  let tat = start;
  return costs.map(([limit, cost]) => {
    if (!gcra.isAdmissible(tat, nowNs, limit, cost)) return { admitted: false, tat };
    tat = gcra.chargedTat(tat, nowNs, limit, cost);
    return { admitted: true, tat };
  });
}

describe('DynamoDBStore coalescing, in arrival order', () => {
  const rpm = Limit.perMinute('rpm', 10);
  const other = Limit.perMinute('other', 1000);

  it('admits exactly the first 6 of 10 queued requests when 6 fit, with the sequential waits', async () => {
    const { store, keys } = freshStore();
    await store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 4])], signal });
    store.resetStats();
    const { results } = await behindOneWrite(
      store,
      [bucket('k', [other, 1])],
      Array.from({ length: 10 }, () => [bucket('k', [rpm, 1])]),
    );
    expect(results.map((result) => result.admitted)).toEqual([
      ...Array(6).fill(true),
      ...Array(4).fill(false),
    ]);
    const reference = sequentially(T0 + 4n * rpm.emissionIntervalNs, T0, Array(10).fill([rpm, 1]));
    results.forEach((result, index) => {
      const tat = result.buckets[0]?.tats.get('rpm');
      expect(tat).toBe(reference[index]?.tat);
      if (!result.admitted) expect(gcra.waitNs(tat, T0, rpm, 1)).toBe(rpm.emissionIntervalNs);
    });
    expect(await stored(keys, 'k', 'rpm')).toEqual({ tat: T0 + 10n * rpm.emissionIntervalNs, consumed: 10 });
    // The blocker's write and ONE write for the ten.
    expect(statsOf(store, 'charge')).toMatchObject({ calls: 11, roundTrips: 2 });
  });

  it('admits the first two and the last of costs 4, 4, 4, 1 on 10 tokens', async () => {
    const { store, keys } = freshStore();
    const tpm = Limit.perMinute('tpm', 10);
    const { results } = await behindOneWrite(
      store,
      [bucket('k', [other, 1])],
      [[bucket('k', [tpm, 4])], [bucket('k', [tpm, 4])], [bucket('k', [tpm, 4])], [bucket('k', [tpm, 1])]],
    );
    expect(results.map((result) => result.admitted)).toEqual([true, true, false, true]);
    const T = tpm.emissionIntervalNs;
    expect(results.map((result) => result.buckets[0]?.tats.get('tpm'))).toEqual([
      T0 + 4n * T,
      T0 + 8n * T,
      T0 + 8n * T,
      T0 + 9n * T,
    ]);
    expect(await stored(keys, 'k', 'tpm')).toEqual({ tat: T0 + 9n * T, consumed: 9 });
  });

  it('decides a batch whose guess is stale from the old image', async () => {
    // A's client holds back the answer to its first write until B has charged the bucket,
    // so A builds the next batch from a state that is no longer stored.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holdNext = true;
    const client = new DynamoDBClient(localClientConfig(local.endpoint));
    client.middlewareStack.add(
      (next) => async (args) => {
        const output = await next(args);
        if (holdNext) {
          holdNext = false;
          await held;
        }
        return output;
      },
      { step: 'initialize', name: 'holdFirstAnswer' },
    );
    const { store: a, keys } = freshStore({ client });
    const { store: b } = freshStore({ namespace: a.namespace ?? '' });
    const first = a.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal });
    const queued = Array.from({ length: 5 }, () =>
      a.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal }),
    );
    // Wait until A's first write is stored, then let B take 7 more tokens.
    for (let tries = 0; (await stored(keys, 'k', 'rpm')).consumed < 1 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await b.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 7])], signal });
    release();
    expect((await first).admitted).toBe(true);
    const results = await Promise.all(queued);
    // 8 taken: A's guess says 9 free, the image says 2.
    expect(results.map((result) => result.admitted)).toEqual([true, true, false, false, false]);
    expect(results.map((result) => result.buckets[0]?.tats.get('rpm'))).toEqual(
      [9n, 10n, 10n, 10n, 10n].map((tokens) => T0 + tokens * rpm.emissionIntervalNs),
    );
    expect(await stored(keys, 'k', 'rpm')).toEqual({ tat: T0 + 10n * rpm.emissionIntervalNs, consumed: 10 });
    // The first write, the batch's failed write, the batch's exact write.
    expect(statsOf(a, 'charge')).toMatchObject({ calls: 6, roundTrips: 3 });
    client.destroy();
  });

  it('checks each member with its own limits, costs and overrides against the shared tats', async () => {
    const { store, keys } = freshStore();
    const tight = Limit.perMinute('rpm', 4); // an override of rpm with the same stored tat
    const tpm = Limit.perMinute('tpm', 100);
    const bigTpm = Limit.custom({ name: 'tpm', capacity: 150, refillAmount: 100, refillPeriodMs: 60_000 });
    // rpm: T = 6 s, tau = 60 s; its override: T = 15 s, tau = 60 s. tpm: T = 0.6 s, tau 100 or 150 tokens.
    const members: [Limit, number, Limit, number][] = [
      [rpm, 1, tpm, 40], // rpm 6 s, tpm 40
      [tight, 2, tpm, 50], // rpm 36 s, tpm 90
      [rpm, 1, tpm, 30], // tpm short: 90 + 30 > 100
      [tight, 1, bigTpm, 30], // rpm 51 s; the wider tpm takes 120 of 150
      [tight, 1, tpm, 5], // short for the override: 51 + 15 > 60 s
      [rpm, 2, bigTpm, 5], // short: 51 + 12 > 60 s
      [rpm, 1, bigTpm, 5], // fits after the refused ones: rpm 57 s, tpm 125 of 150
    ];
    const { results } = await behindOneWrite(
      store,
      [bucket('k', [other, 1])],
      members.map(([r, rc, t, tc]) => [bucket('k', [r, rc], [t, tc])]),
    );
    // The reference: the same members one after another with the core math.
    let rpmTat: bigint | undefined;
    let tpmTat: bigint | undefined;
    const expected = members.map(([r, rc, t, tc]) => {
      const admitted = gcra.isAdmissible(rpmTat, T0, r, rc) && gcra.isAdmissible(tpmTat, T0, t, tc);
      if (admitted) {
        rpmTat = gcra.chargedTat(rpmTat, T0, r, rc);
        tpmTat = gcra.chargedTat(tpmTat, T0, t, tc);
      }
      return { admitted, rpm: rpmTat, tpm: tpmTat };
    });
    expect(expected.map((entry) => entry.admitted)).toEqual([true, true, false, true, false, false, true]);
    results.forEach((result, index) => {
      expect(result.admitted).toBe(expected[index]?.admitted);
      expect(result.buckets[0]?.tats.get('rpm')).toBe(expected[index]?.rpm);
      expect(result.buckets[0]?.tats.get('tpm')).toBe(expected[index]?.tpm);
    });
    expect(await stored(keys, 'k', 'rpm')).toEqual({ tat: rpmTat, consumed: 1 + 2 + 1 + 1 });
    expect(await stored(keys, 'k', 'tpm')).toEqual({ tat: tpmTat, consumed: 40 + 50 + 30 + 5 });
  });

  it('decides a cascade batch in one TransactWriteItems, exactly', async () => {
    const { store, keys } = freshStore();
    const perKey = Limit.perMinute('rpm', 100);
    const org = Limit.perMinute('org', 5);
    const chain = (cost: number) => [bucket('key', [perKey, 1]), bucket('org', [org, cost])];
    store.resetStats();
    const { first, results } = await behindOneWrite(
      store,
      [bucket('key', [other, 1]), bucket('org', [other, 1])],
      [chain(2), chain(2), chain(2), chain(1), chain(1)],
    );
    expect(first.admitted).toBe(true);
    expect(results.map((result) => result.admitted)).toEqual([true, true, false, true, false]);
    const T = org.emissionIntervalNs;
    expect(results.map((result) => result.buckets[1]?.tats.get('org'))).toEqual(
      [2n, 4n, 4n, 5n, 5n].map((tokens) => T0 + tokens * T),
    );
    expect(await stored(keys, 'org', 'org')).toEqual({ tat: T0 + 5n * T, consumed: 5 });
    expect(await stored(keys, 'key', 'rpm')).toEqual({
      tat: T0 + 3n * perKey.emissionIntervalNs,
      consumed: 3,
    });
    expect(statsOf(store, 'charge')).toMatchObject({ calls: 6, roundTrips: 2 });
  });

  it('rejects a queued request whose signal aborts, alone, and charges nothing for it', async () => {
    const { store, keys } = freshStore();
    const controller = new AbortController();
    const first = store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal });
    const kept = store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal });
    const aborted = store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 3])], signal: controller.signal });
    const last = store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal });
    const reason = new Error('deadline of this request');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect((await first).admitted).toBe(true);
    expect((await kept).admitted).toBe(true);
    expect((await last).admitted).toBe(true);
    expect(await stored(keys, 'k', 'rpm')).toEqual({ tat: T0 + 3n * rpm.emissionIntervalNs, consumed: 3 });
  });

  it('decides a batch at its latest now and says so in the results', async () => {
    const { store } = freshStore();
    const first = store.charge({ nowNs: T0, buckets: [bucket('k', [rpm, 1])], signal });
    const early = store.charge({ nowNs: T0 + 5n, buckets: [bucket('k', [rpm, 1])], signal });
    const late = store.charge({ nowNs: T0 + 9n, buckets: [bucket('k', [rpm, 1])], signal });
    expect((await first).nowNs).toBeUndefined();
    expect((await early).nowNs).toBe(T0 + 9n);
    expect((await late).nowNs).toBeUndefined();
    expect((await late).buckets[0]?.tats.get('rpm')).toBe(T0 + 3n * rpm.emissionIntervalNs);
  });
});

describe('DynamoDBStore coalescing against the same requests one by one (property)', () => {
  const other = Limit.perMinute('other', 1000);
  const rpms = [Limit.perMinute('rpm', 10), Limit.perMinute('rpm', 6)];
  const tpms = [
    Limit.perMinute('tpm', 100),
    Limit.custom({ name: 'tpm', capacity: 60, refillAmount: 100, refillPeriodMs: 60_000 }),
  ];
  const memberArb = fc
    .record({
      rpm: fc.constantFrom(...rpms),
      rpmCost: fc.integer({ min: 1, max: 6 }),
      tpm: fc.option(fc.constantFrom(...tpms), { nil: undefined }),
      tpmCost: fc.integer({ min: 1, max: 60 }),
    })
    .map(({ rpm, rpmCost, tpm, tpmCost }): [Limit, number][] =>
      tpm === undefined
        ? [[rpm, rpmCost]]
        : [
            [rpm, rpmCost],
            [tpm, tpmCost],
          ],
    );

  it('admits and reports exactly what deciding them in arrival order gives, also from a stale guess', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          before: fc.array(memberArb, { maxLength: 2 }),
          between: fc.option(memberArb, { nil: undefined }),
          refund: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
          queue: fc.array(memberArb, { minLength: 1, maxLength: 8 }),
        }),
        async ({ before, between, refund, queue }) => {
          // A's client holds back the answer to the first write of the queue until B has
          // charged, so the batch behind it is built on a guess that is no longer stored.
          let arrived: () => void = () => {};
          const answered = new Promise<void>((resolve) => {
            arrived = resolve;
          });
          let release: () => void = () => {};
          const held = new Promise<void>((resolve) => {
            release = resolve;
          });
          let holdNext = false;
          const client = new DynamoDBClient(localClientConfig(local.endpoint));
          client.middlewareStack.add(
            (next) => async (args) => {
              const output = await next(args);
              if (holdNext) {
                holdNext = false;
                arrived();
                await held;
              }
              return output;
            },
            { step: 'initialize', name: 'holdAnswer' },
          );
          const { store: a, keys } = freshStore({ client });
          const { store: b } = freshStore({ namespace: a.namespace ?? '' });
          const tats = new Map<string, bigint>();
          const reference = (charges: [Limit, number][]) => {
            const admitted = charges.every(([limit, cost]) =>
              gcra.isAdmissible(tats.get(limit.name), T0, limit, cost),
            );
            if (admitted) {
              for (const [limit, cost] of charges)
                tats.set(limit.name, gcra.chargedTat(tats.get(limit.name), T0, limit, cost));
            }
            return { admitted, tats: new Map(tats) };
          };
          for (const charges of before) {
            const result = await a.charge({ nowNs: T0, buckets: [bucket('k', ...charges)], signal });
            expect(result.admitted).toBe(reference(charges).admitted);
          }
          holdNext = true;
          const first = a.charge({ nowNs: T0, buckets: [bucket('k', [other, 1])], signal });
          const results = Promise.all(
            queue.map((charges) => a.charge({ nowNs: T0, buckets: [bucket('k', ...charges)], signal })),
          );
          await answered;
          if (between !== undefined) {
            const result = await b.charge({ nowNs: T0, buckets: [bucket('k', ...between)], signal });
            expect(result.admitted).toBe(reference(between).admitted);
          }
          if (refund !== undefined) {
            // A refund by B leaves A's guess too busy: A may think nobody in its batch fits.
            const limit = rpms[0]!;
            await b.adjust({
              nowNs: T0,
              buckets: [{ entity: 'k', resource: 'chat', adjustments: [{ limit, delta: -refund }] }],
              signal,
            });
            const refunded = gcra.adjustedTat(tats.get('rpm'), T0, limit, -refund);
            if (refunded === undefined) tats.delete('rpm');
            else tats.set('rpm', refunded);
          }
          release();
          expect((await first).admitted).toBe(true);
          const decided = await results;
          queue.forEach((charges, index) => {
            const expected = reference(charges);
            const result = decided[index];
            expect(result?.admitted).toBe(expected.admitted);
            for (const name of ['rpm', 'tpm']) {
              expect(gcra.startOf(result?.buckets[0]?.tats.get(name), T0)).toBe(
                gcra.startOf(expected.tats.get(name), T0),
              );
            }
          });
          for (const name of ['rpm', 'tpm']) {
            const { tat } = await stored(keys, 'k', name);
            expect(gcra.startOf(tat, T0)).toBe(gcra.startOf(tats.get(name), T0));
          }
          client.destroy();
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe('DynamoDBStore coalesced settles', () => {
  it('equal the same adjustments applied one by one', async () => {
    const tpm = Limit.perMinute('tpm', 10);
    const rpm = Limit.perMinute('rpm', 10);
    const now = T0 + 1_000n;
    // Crossing zero busy-ness on the way (a refund stops at a full bucket), ending busy.
    const sequence: LimitAdjustment[][] = [
      [{ limit: tpm, delta: -2 }],
      [
        { limit: tpm, delta: -6 },
        { limit: rpm, delta: 3 },
      ],
      [{ limit: tpm, delta: 4 }],
      [
        { limit: tpm, delta: -1 },
        { limit: rpm, delta: -5 },
      ],
      [
        { limit: tpm, delta: 2 },
        { limit: rpm, delta: 1 },
      ],
    ];
    const run = async (coalesce: boolean) => {
      const { store, keys } = freshStore({ coalesce });
      await store.charge({ nowNs: T0, buckets: [bucket('k', [tpm, 5], [rpm, 2])], signal });
      store.resetStats();
      const adjust = (adjustments: LimitAdjustment[]) =>
        store.adjust({ nowNs: now, buckets: [{ entity: 'k', resource: 'chat', adjustments }], signal });
      if (coalesce) await Promise.all(sequence.map(adjust));
      else for (const adjustments of sequence) await adjust(adjustments);
      return {
        tpm: await stored(keys, 'k', 'tpm'),
        rpm: await stored(keys, 'k', 'rpm'),
        stats: statsOf(store, 'adjust'),
      };
    };
    const coalesced = await run(true);
    const oneByOne = await run(false);
    expect(coalesced.tpm).toEqual(oneByOne.tpm);
    expect(coalesced.rpm).toEqual(oneByOne.rpm);
    // 5 → 3 → 0 (not −3) → 4 → 3 → 5 tokens busy.
    expect(coalesced.tpm).toEqual({ tat: now + 5n * tpm.emissionIntervalNs, consumed: 2 });
    expect(coalesced.stats).toMatchObject({ calls: 5, roundTrips: 2 });
    expect(oneByOne.stats).toMatchObject({ calls: 5, roundTrips: 5 });
  });
});

describe('DynamoDBStore round trips per decision', () => {
  const roomy = Limit.perMinute('rpm', 1_000_000);
  const concurrent = (store: DynamoDBStore) =>
    Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        store.charge({ nowNs: T0 + BigInt(index), buckets: [bucket('hot', [roomy, 1])], signal }),
      ),
    );

  it('is at most 0.5 for 50 concurrent admitted charges on one key with coalescing', async () => {
    const { store } = freshStore();
    const results = await concurrent(store);
    expect(results.every((result) => result.admitted)).toBe(true);
    const { calls, roundTrips } = statsOf(store, 'charge');
    expect(calls).toBe(50);
    expect(roundTrips).toBeLessThanOrEqual(0.5 * calls);
  });

  it('is one or more per decision with coalesce: false', async () => {
    const { store } = freshStore({ coalesce: false });
    const results = await concurrent(store);
    expect(results.every((result) => result.admitted)).toBe(true);
    const { calls, roundTrips } = statsOf(store, 'charge');
    expect(calls).toBe(50);
    expect(roundTrips).toBeGreaterThanOrEqual(calls);
  });

  it('refuses a coalesce option that is not a boolean, with an exact message', () => {
    expect(
      () => new DynamoDBStore({ tableName, client: local.client, coalesce: 'yes' as unknown as boolean }),
    ).toThrow('Expected `coalesce` to be a boolean, got `"yes"` (string)');
  });
});
