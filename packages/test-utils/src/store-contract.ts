import { setMaxListeners } from 'node:events';
import {
  type BucketCharge,
  type BucketState,
  EntityError,
  type EntityRecord,
  Limit,
  type LimitDefinition,
  type Store,
  type UsageSnapshot,
} from '@tollgate/core';
import { gcra, scopeKey } from '@tollgate/core/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** A store under test, fresh for each test. */
export interface StoreFixture {
  readonly store: Store;
  /** Releases the store (and whatever the fixture made for it). */
  cleanup(): Promise<void>;
  /**
   * Makes usage snapshots readable through `getUsage`. For DynamoDB that is
   * the aggregator's job, so its fixture writes the snapshot items; when
   * absent, snapshots are produced by charges at the window start (stores
   * that record usage themselves, like `MemoryStore`). Only hourly snapshots
   * are seeded.
   */
  seedUsage?(snapshots: readonly UsageSnapshot[]): Promise<void>;
}

/** What the store under test offers beyond the required methods. */
export interface StoreContractOptions {
  /** The store implements `stats()` (default true). */
  stats?: boolean;
}

const NS_PER_MS = 1_000_000n;
const HOUR_MS = 3_600_000;

/**
 * The `Store` contract: what `MemoryStore`, `DynamoDBStore` and any custom
 * store must do, checked exactly (tats to the nanosecond, all-or-nothing
 * charges, refunds never above capacity, entity and limit records, usage
 * paging). `makeStore` is called before every test.
 *
 * @example
 * describeStoreContract('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<StoreFixture>,
  options: StoreContractOptions = {},
): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;
    // One signal for every call, as the limiter shares one deadline signal between calls: the SDK
    // adds a listener per request in flight, so it may hold more than Node's default of 10.
    const signal = new AbortController().signal;
    setMaxListeners(0, signal);
    // A realistic clock (ms precision) so that TTLs derived from it lie in the future.
    const T0 = BigInt(Date.now()) * NS_PER_MS;
    const ms = (value: number): bigint => BigInt(value) * NS_PER_MS;
    let sequence = 0;
    const id = (label: string): string => `${label}-${process.pid}-${++sequence}`;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    const charge = (nowNs: bigint, buckets: BucketCharge[]) => store.charge({ nowNs, buckets, signal });
    const one = (entity: string, resource: string, ...charges: [Limit, number][]): BucketCharge => ({
      entity,
      resource,
      charges: charges.map(([limit, cost]) => ({ limit, cost })),
    });
    const tatOf = async (entity: string, resource: string, limit: string): Promise<bigint | undefined> => {
      const [state] = await store.getBuckets({ keys: [{ entity, resource }], signal });
      return state?.tats.get(limit);
    };
    const entityRecord = (entityId: string, extra: Partial<EntityRecord> = {}): EntityRecord => ({
      id: entityId,
      cascade: false,
      createdAt: '2026-01-02T03:04:05.000Z',
      ...extra,
    });

    describe('charge', () => {
      it('admits a charge on a new bucket and returns the tat it wrote', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const entity = id('new');
        const result = await charge(T0, [one(entity, 'chat', [rpm, 3])]);
        expect(result.admitted).toBe(true);
        expect(result.buckets).toHaveLength(1);
        expect(result.buckets[0]?.entity).toBe(entity);
        expect(result.buckets[0]?.resource).toBe('chat');
        expect(result.buckets[0]?.tats.get('rpm')).toBe(T0 + 3n * rpm.emissionIntervalNs);
      });

      it('admits exactly the capacity, then rejects with the stored tat and writes nothing', async () => {
        const rpm = Limit.perMinute('rpm', 5);
        const entity = id('cap');
        for (let index = 0; index < 5; index++) {
          const result = await charge(T0, [one(entity, 'chat', [rpm, 1])]);
          expect(result.admitted).toBe(true);
          expect(result.buckets[0]?.tats.get('rpm')).toBe(T0 + BigInt(index + 1) * rpm.emissionIntervalNs);
        }
        const rejected = await charge(T0, [one(entity, 'chat', [rpm, 1])]);
        expect(rejected.admitted).toBe(false);
        expect(rejected.buckets[0]?.tats.get('rpm')).toBe(T0 + rpm.tauNs);
        expect(await tatOf(entity, 'chat', 'rpm')).toBe(T0 + rpm.tauNs);
      });

      it('continues from the stored tat while the bucket is busy', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const entity = id('busy');
        await charge(T0, [one(entity, 'chat', [rpm, 2])]);
        const result = await charge(T0 + ms(1500), [one(entity, 'chat', [rpm, 1])]);
        expect(result.admitted).toBe(true);
        expect(result.buckets[0]?.tats.get('rpm')).toBe(T0 + 3n * rpm.emissionIntervalNs);
      });

      it('restarts from now once the bucket is full again', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const entity = id('idle');
        await charge(T0, [one(entity, 'chat', [rpm, 10])]);
        const later = T0 + ms(10 * 60_000);
        const result = await charge(later, [one(entity, 'chat', [rpm, 4])]);
        expect(result.admitted).toBe(true);
        expect(result.buckets[0]?.tats.get('rpm')).toBe(later + 4n * rpm.emissionIntervalNs);
      });

      it('admits again exactly when the wait computed from the rejection has passed', async () => {
        const limit = Limit.custom({ name: 'calls', capacity: 3, refillAmount: 1, refillPeriodMs: 7 });
        const entity = id('wait');
        await charge(T0, [one(entity, 'chat', [limit, 3])]);
        const rejected = await charge(T0, [one(entity, 'chat', [limit, 2])]);
        expect(rejected.admitted).toBe(false);
        const wait = gcra.waitNs(rejected.buckets[0]?.tats.get('calls'), T0, limit, 2);
        expect(wait).toBe(2n * limit.emissionIntervalNs);
        expect((await charge(T0 + wait - 1n, [one(entity, 'chat', [limit, 2])])).admitted).toBe(false);
        const admitted = await charge(T0 + wait, [one(entity, 'chat', [limit, 2])]);
        expect(admitted.admitted).toBe(true);
        expect(admitted.buckets[0]?.tats.get('calls')).toBe(T0 + 5n * limit.emissionIntervalNs);
      });

      it('rejects without charging any limit when one limit of the bucket is short', async () => {
        const rpm = Limit.perMinute('rpm', 100);
        const tpm = Limit.perMinute('tpm', 1000);
        const entity = id('multi');
        expect((await charge(T0, [one(entity, 'chat', [rpm, 1], [tpm, 900])])).admitted).toBe(true);
        const rejected = await charge(T0, [one(entity, 'chat', [rpm, 1], [tpm, 101])]);
        expect(rejected.admitted).toBe(false);
        expect(rejected.buckets[0]?.tats.get('tpm')).toBe(T0 + 900n * tpm.emissionIntervalNs);
        expect(await tatOf(entity, 'chat', 'rpm')).toBe(T0 + rpm.emissionIntervalNs);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(T0 + 900n * tpm.emissionIntervalNs);
        const admitted = await charge(T0, [one(entity, 'chat', [rpm, 1], [tpm, 100])]);
        expect(admitted.admitted).toBe(true);
        expect(admitted.buckets[0]?.tats.get('rpm')).toBe(T0 + 2n * rpm.emissionIntervalNs);
        expect(admitted.buckets[0]?.tats.get('tpm')).toBe(T0 + tpm.tauNs);
      });

      it('mixes busy and idle limits in one charge', async () => {
        const rps = Limit.perSecond('rps', 10);
        const rph = Limit.perHour('rph', 100);
        const entity = id('mixed');
        await charge(T0, [one(entity, 'chat', [rps, 10], [rph, 10])]);
        // Two seconds later the per-second limit is idle again, the per-hour one still busy.
        const later = T0 + ms(2000);
        const result = await charge(later, [one(entity, 'chat', [rps, 1], [rph, 1])]);
        expect(result.admitted).toBe(true);
        expect(result.buckets[0]?.tats.get('rps')).toBe(later + rps.emissionIntervalNs);
        expect(result.buckets[0]?.tats.get('rph')).toBe(T0 + 11n * rph.emissionIntervalNs);
      });

      it('applies changed limit numbers on the next charge', async () => {
        const entity = id('change');
        const generous = Limit.perMinute('rpm', 10);
        await charge(T0, [one(entity, 'chat', [generous, 5])]);
        const strict = Limit.perMinute('rpm', 5);
        // tat = T0 + 30 s; with T = 12 s and tau = 60 s only 2 more fit.
        expect((await charge(T0, [one(entity, 'chat', [strict, 3])])).admitted).toBe(false);
        const admitted = await charge(T0, [one(entity, 'chat', [strict, 2])]);
        expect(admitted.admitted).toBe(true);
        expect(admitted.buckets[0]?.tats.get('rpm')).toBe(T0 + ms(30_000) + 2n * strict.emissionIntervalNs);
      });

      it('charges several buckets together and returns each state in request order', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const child = id('child');
        const parent = id('parent');
        await charge(T0, [one(parent, 'chat', [rpm, 4])]);
        const result = await charge(T0, [one(child, 'chat', [rpm, 1]), one(parent, 'chat', [rpm, 1])]);
        expect(result.admitted).toBe(true);
        expect(result.buckets.map((bucket) => bucket.entity)).toEqual([child, parent]);
        expect(result.buckets[0]?.tats.get('rpm')).toBe(T0 + rpm.emissionIntervalNs);
        expect(result.buckets[1]?.tats.get('rpm')).toBe(T0 + 5n * rpm.emissionIntervalNs);
      });

      it('rejects every bucket when one bucket is short, and returns the short tat', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const small = Limit.perMinute('rpm', 3);
        const child = id('child');
        const parent = id('parent');
        await charge(T0, [one(parent, 'chat', [small, 3])]);
        const result = await charge(T0, [one(child, 'chat', [rpm, 1]), one(parent, 'chat', [small, 1])]);
        expect(result.admitted).toBe(false);
        expect(result.buckets.map((bucket) => bucket.entity)).toEqual([child, parent]);
        expect(result.buckets[1]?.tats.get('rpm')).toBe(T0 + small.tauNs);
        expect(await tatOf(child, 'chat', 'rpm')).toBeUndefined();
        expect(await tatOf(parent, 'chat', 'rpm')).toBe(T0 + small.tauNs);
      });

      it('keeps buckets of other resources and entities untouched', async () => {
        const rpm = Limit.perMinute('rpm', 2);
        const entity = id('separate');
        const other = id('other');
        await charge(T0, [one(entity, 'chat', [rpm, 2])]);
        expect((await charge(T0, [one(entity, 'embed', [rpm, 2])])).admitted).toBe(true);
        expect((await charge(T0, [one(other, 'chat', [rpm, 2])])).admitted).toBe(true);
        expect((await charge(T0, [one(entity, 'chat', [rpm, 1])])).admitted).toBe(false);
      });

      it('keeps tats beyond 2^53 exact to the nanosecond', async () => {
        const odd = Limit.custom({ name: 'odd', capacity: 7, refillAmount: 3, refillPeriodMs: 1001 });
        const entity = id('exact');
        const now = T0 + 123_457n;
        const result = await charge(now, [one(entity, 'chat', [odd, 5])]);
        expect(result.buckets[0]?.tats.get('odd')).toBe(now + 5n * odd.emissionIntervalNs);
        expect(await tatOf(entity, 'chat', 'odd')).toBe(now + 5n * odd.emissionIntervalNs);
      });
    });

    describe('adjust', () => {
      const tpm = Limit.perMinute('tpm', 1000);
      const adjust = (nowNs: bigint, entity: string, ...deltas: [Limit, number][]) =>
        store.adjust({
          nowNs,
          buckets: [
            { entity, resource: 'chat', adjustments: deltas.map(([limit, delta]) => ({ limit, delta })) },
          ],
          signal,
        });

      it('puts a new bucket into debt from now', async () => {
        const entity = id('debt-new');
        await adjust(T0, entity, [tpm, 1500]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(T0 + 1500n * tpm.emissionIntervalNs);
      });

      it('adds debt to a busy bucket', async () => {
        const entity = id('debt-busy');
        await charge(T0, [one(entity, 'chat', [tpm, 600])]);
        await adjust(T0 + ms(1000), entity, [tpm, 700]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(T0 + 1300n * tpm.emissionIntervalNs);
        const wait = gcra.waitNs(T0 + 1300n * tpm.emissionIntervalNs, T0 + ms(1000), tpm, 1);
        expect((await charge(T0 + ms(1000) + wait - 1n, [one(entity, 'chat', [tpm, 1])])).admitted).toBe(
          false,
        );
        expect((await charge(T0 + ms(1000) + wait, [one(entity, 'chat', [tpm, 1])])).admitted).toBe(true);
      });

      it('adds debt to an idle bucket from now, not from the old tat', async () => {
        const entity = id('debt-idle');
        await charge(T0, [one(entity, 'chat', [tpm, 10])]);
        const later = T0 + ms(120_000);
        await adjust(later, entity, [tpm, 50]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(later + 50n * tpm.emissionIntervalNs);
      });

      it('refunds a busy bucket by the refunded tokens', async () => {
        const entity = id('refund');
        await charge(T0, [one(entity, 'chat', [tpm, 800])]);
        await adjust(T0 + ms(100), entity, [tpm, -300]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(T0 + 500n * tpm.emissionIntervalNs);
      });

      it('never refunds a bucket above its capacity', async () => {
        const entity = id('refund-cap');
        await charge(T0, [one(entity, 'chat', [tpm, 100])]);
        const later = T0 + ms(3000);
        await adjust(later, entity, [tpm, -100]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(later);
        expect((await charge(later, [one(entity, 'chat', [tpm, 1000])])).admitted).toBe(true);
        expect((await charge(later, [one(entity, 'chat', [tpm, 1])])).admitted).toBe(false);
      });

      it('lands exactly on now when the refund equals what is left of the tat', async () => {
        const entity = id('refund-edge');
        await charge(T0, [one(entity, 'chat', [tpm, 100])]);
        const later = T0 + 40n * tpm.emissionIntervalNs;
        await adjust(later, entity, [tpm, -60]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(later);
      });

      it('leaves an idle or new bucket full on a refund', async () => {
        const entity = id('refund-idle');
        await adjust(T0, entity, [tpm, -5]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBeUndefined();
        await charge(T0, [one(entity, 'chat', [tpm, 5])]);
        const later = T0 + ms(60_000);
        await adjust(later, entity, [tpm, -5]);
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(T0 + 5n * tpm.emissionIntervalNs);
      });

      it('adjusts several buckets and limits at once, each like adjustedTat', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const child = id('adj-child');
        const parent = id('adj-parent');
        await charge(T0, [one(child, 'chat', [rpm, 5], [tpm, 500]), one(parent, 'chat', [tpm, 900])]);
        const now = T0 + ms(500);
        await store.adjust({
          nowNs: now,
          buckets: [
            {
              entity: child,
              resource: 'chat',
              adjustments: [
                { limit: rpm, delta: -2 },
                { limit: tpm, delta: 250 },
              ],
            },
            { entity: parent, resource: 'chat', adjustments: [{ limit: tpm, delta: -950 }] },
          ],
          signal,
        });
        expect(await tatOf(child, 'chat', 'rpm')).toBe(
          gcra.adjustedTat(T0 + 5n * rpm.emissionIntervalNs, now, rpm, -2),
        );
        expect(await tatOf(child, 'chat', 'tpm')).toBe(T0 + 750n * tpm.emissionIntervalNs);
        expect(await tatOf(parent, 'chat', 'tpm')).toBe(now);
      });
    });

    it('matches the GCRA math over a long mixed sequence of charges, adjustments and clock steps', async () => {
      const rps = Limit.custom({ name: 'rps', capacity: 5, refillAmount: 5, refillPeriodMs: 1000 });
      const tpm = Limit.custom({ name: 'tpm', capacity: 300, refillAmount: 200, refillPeriodMs: 60_000 });
      const limits = [rps, tpm];
      const entity = id('sequence');
      const model = new Map<string, bigint>();
      let seed = 42;
      const random = (below: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed % below;
      };
      let now = T0;
      for (let step = 0; step < 60; step++) {
        now += ms(random(700));
        const costs = limits.map((limit) => 1 + random(limit === rps ? 3 : 120));
        if (random(4) === 0) {
          const deltas = limits.map((_limit, index) =>
            random(2) === 0 ? -(costs[index] ?? 1) : (costs[index] ?? 1),
          );
          await store.adjust({
            nowNs: now,
            buckets: [
              {
                entity,
                resource: 'chat',
                adjustments: limits.map((limit, index) => ({ limit, delta: deltas[index] ?? 1 })),
              },
            ],
            signal,
          });
          limits.forEach((limit, index) => {
            const tat = gcra.adjustedTat(model.get(limit.name), now, limit, deltas[index] ?? 1);
            if (tat !== undefined) model.set(limit.name, tat);
          });
        } else {
          const expected = limits.every((limit, index) =>
            gcra.isAdmissible(model.get(limit.name), now, limit, costs[index] ?? 1),
          );
          const result = await charge(now, [
            {
              entity,
              resource: 'chat',
              charges: limits.map((limit, index) => ({ limit, cost: costs[index] ?? 1 })),
            },
          ]);
          expect(result.admitted, `step ${step}`).toBe(expected);
          if (expected) {
            limits.forEach((limit, index) => {
              model.set(limit.name, gcra.chargedTat(model.get(limit.name), now, limit, costs[index] ?? 1));
            });
          }
          for (const limit of limits) {
            expect(result.buckets[0]?.tats.get(limit.name), `step ${step} ${limit.name}`).toBe(
              model.get(limit.name),
            );
          }
        }
      }
    });

    describe('getBuckets', () => {
      it('reads states in request order without changing them, empty for unknown buckets', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const entity = id('read');
        await charge(T0, [one(entity, 'chat', [rpm, 2])]);
        const keys = [
          { entity, resource: 'chat' },
          { entity, resource: 'never' },
          { entity: id('nobody'), resource: 'chat' },
          { entity, resource: 'chat' },
        ];
        const states: BucketState[] = await store.getBuckets({ keys, signal });
        expect(states.map(({ entity: e, resource }) => ({ entity: e, resource }))).toEqual(keys);
        expect(states[0]?.tats.get('rpm')).toBe(T0 + 2n * rpm.emissionIntervalNs);
        expect(states[1]?.tats.size).toBe(0);
        expect(states[2]?.tats.size).toBe(0);
        expect(states[3]?.tats.get('rpm')).toBe(T0 + 2n * rpm.emissionIntervalNs);
        expect(await tatOf(entity, 'chat', 'rpm')).toBe(T0 + 2n * rpm.emissionIntervalNs);
      });

      it('answers an empty key list with an empty list', async () => {
        expect(await store.getBuckets({ keys: [], signal })).toEqual([]);
      });
    });

    describe('entities', () => {
      it('creates an entity and reads it back field for field', async () => {
        const parent = entityRecord(id('org'));
        const child = entityRecord(id('key'), {
          parent: parent.id,
          cascade: true,
          name: 'Production key',
          metadata: { plan: 'pro', seats: 3, tags: ['a', 'b'], nested: { on: true, none: null } },
        });
        await store.createEntity(parent, signal);
        await store.createEntity(child, signal);
        const loaded = await store.loadConfig({ entityIds: [child.id, parent.id], scopes: [], signal });
        expect(loaded.entities.get(child.id)).toEqual(child);
        expect(loaded.entities.get(parent.id)).toEqual(parent);
      });

      it('refuses a duplicate id with ERR_TOLLGATE_ENTITY_EXISTS and keeps the original', async () => {
        const original = entityRecord(id('dup'), { name: 'first' });
        await store.createEntity(original, signal);
        const error = await store
          .createEntity({ ...original, name: 'second' }, signal)
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(EntityError);
        expect((error as EntityError).code).toBe('ERR_TOLLGATE_ENTITY_EXISTS');
        expect((error as EntityError).entity).toBe(original.id);
        const loaded = await store.loadConfig({ entityIds: [original.id], scopes: [], signal });
        expect(loaded.entities.get(original.id)?.name).toBe('first');
      });

      it('keeps ids with delimiters, escapes and unicode apart', async () => {
        const base = id('x');
        const ids = [
          base,
          `${base}#`,
          `${base}#ENTITY`,
          `${base}/slash`,
          `${base}%23`,
          `${base}%2523`,
          `${base} space`,
          `${base}-ключ-🔑`,
          `E#${base}`,
          `NS#${base}`,
        ];
        for (const entityId of ids)
          await store.createEntity(entityRecord(entityId, { name: entityId }), signal);
        const loaded = await store.loadConfig({ entityIds: ids, scopes: [], signal });
        expect([...loaded.entities.keys()].sort()).toEqual([...ids].sort());
        for (const entityId of ids) expect(loaded.entities.get(entityId)?.name).toBe(entityId);
      });

      it('keeps buckets apart when an id contains the key delimiter', async () => {
        const rpm = Limit.perMinute('rpm', 1);
        const base = id('delim');
        const pairs: [string, string][] = [
          [base, 'a#b'],
          [`${base}#a`, 'b'],
          [`${base}#BUCKET#a`, 'b'],
          [base, '#BUCKET#a#b'],
          [`${base}%23a`, 'b'],
        ];
        for (const [entity, resource] of pairs) {
          const result = await charge(T0, [one(entity, resource, [rpm, 1])]);
          expect(result.admitted, `${entity} / ${resource}`).toBe(true);
        }
      });

      it('lists every child of a parent, and only those', async () => {
        const parent = id('parent');
        const other = id('other');
        await store.createEntity(entityRecord(parent), signal);
        await store.createEntity(entityRecord(other), signal);
        const children = Array.from({ length: 30 }, (_, index) => `${parent}-child-${index}#/%é`);
        await Promise.all(
          children.map((child) =>
            store.createEntity(entityRecord(child, { parent, cascade: true }), new AbortController().signal),
          ),
        );
        await store.createEntity(entityRecord(id('stranger'), { parent: other }), signal);
        const listed = await store.getChildren(parent, signal);
        expect(listed.map((child) => child.id).sort()).toEqual([...children].sort());
        expect(listed.every((child) => child.parent === parent && child.cascade)).toBe(true);
        expect(await store.getChildren(id('childless'), signal)).toEqual([]);
      });

      it('deletes an entity with its limit sets, buckets and usage, and nothing else', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const parent = id('org');
        const doomed = id('doomed');
        const neighbour = `${doomed}0`;
        await store.createEntity(entityRecord(parent), signal);
        await store.createEntity(entityRecord(doomed, { parent }), signal);
        await store.createEntity(entityRecord(neighbour), signal);
        for (const entity of [doomed, neighbour]) {
          await store.putLimits({ entity }, [rpm.toJSON()], signal);
          await store.putLimits({ entity, resource: 'chat' }, [rpm.toJSON()], signal);
          await charge(T0, [one(entity, 'chat', [rpm, 1]), one(entity, 'embed', [rpm, 1])]);
        }
        await store.putLimits({ resource: 'chat' }, [rpm.toJSON()], signal);
        const start = hourStart(T0);
        await seed([
          { entity: doomed, resource: 'chat', window: 'hour', start, consumed: { tokens: 1 } },
          { entity: neighbour, resource: 'chat', window: 'hour', start, consumed: { tokens: 1 } },
        ]);

        expect(await store.deleteEntity(doomed, signal)).toBe(true);

        const scopes = [
          { entity: doomed },
          { entity: doomed, resource: 'chat' },
          { entity: neighbour },
          { resource: 'chat' },
        ];
        const loaded = await store.loadConfig({ entityIds: [doomed, neighbour, parent], scopes, signal });
        expect([...loaded.entities.keys()].sort()).toEqual([neighbour, parent].sort());
        expect([...loaded.limits.keys()].sort()).toEqual(
          [scopeKey({ entity: neighbour }), scopeKey({ resource: 'chat' })].sort(),
        );
        expect(await tatOf(doomed, 'chat', 'rpm')).toBeUndefined();
        expect(await tatOf(doomed, 'embed', 'rpm')).toBeUndefined();
        expect(await tatOf(neighbour, 'chat', 'rpm')).toBe(T0 + rpm.emissionIntervalNs);
        expect((await store.getUsage({ entity: doomed, window: 'hour' }, signal)).snapshots).toEqual([]);
        expect(
          (await store.getUsage({ entity: neighbour, window: 'hour' }, signal)).snapshots.length,
        ).toBeGreaterThan(0);
        expect(await store.getChildren(parent, signal)).toEqual([]);
      });

      it('reports false for an entity that does not exist, and still removes its buckets', async () => {
        const rpm = Limit.perMinute('rpm', 10);
        const ghost = id('ghost');
        await charge(T0, [one(ghost, 'chat', [rpm, 1])]);
        expect(await store.deleteEntity(ghost, signal)).toBe(false);
        expect(await tatOf(ghost, 'chat', 'rpm')).toBeUndefined();
        expect(await store.deleteEntity(ghost, signal)).toBe(false);
      });
    });

    describe('updateEntity', () => {
      it('re-parents an entity: listed under the new parent only, every other field kept', async () => {
        const before = id('org-a');
        const after = `${id('org-b')}#/%é`;
        const child = entityRecord(id('moved'), {
          parent: before,
          cascade: true,
          name: 'Key',
          metadata: { plan: 'pro' },
        });
        await store.createEntity(entityRecord(before), signal);
        await store.createEntity(entityRecord(after), signal);
        await store.createEntity(child, signal);

        const updated = await store.updateEntity(child.id, { parent: after }, signal);

        expect(updated).toEqual({ ...child, parent: after });
        const loaded = await store.loadConfig({ entityIds: [child.id], scopes: [], signal });
        expect(loaded.entities.get(child.id)).toEqual(updated);
        expect(await store.getChildren(before, signal)).toEqual([]);
        expect(await store.getChildren(after, signal)).toEqual([updated]);
      });

      it('gives a root entity a parent, and takes it away again with null', async () => {
        const parent = id('org');
        const root = entityRecord(id('root'), { name: 'Root' });
        await store.createEntity(entityRecord(parent), signal);
        await store.createEntity(root, signal);

        expect(await store.updateEntity(root.id, { parent }, signal)).toEqual({ ...root, parent });
        expect((await store.getChildren(parent, signal)).map((entity) => entity.id)).toEqual([root.id]);

        expect(await store.updateEntity(root.id, { parent: null }, signal)).toEqual(root);
        const loaded = await store.loadConfig({ entityIds: [root.id], scopes: [], signal });
        expect(loaded.entities.get(root.id)).toEqual(root);
        expect(await store.getChildren(parent, signal)).toEqual([]);
      });

      it('changes cascade, name and metadata, keeps what is absent, removes what is null', async () => {
        const parent = id('org');
        const entity = entityRecord(id('renamed'), { parent, name: 'Old', metadata: { seats: 1 } });
        await store.createEntity(entityRecord(parent), signal);
        await store.createEntity(entity, signal);

        const renamed = await store.updateEntity(
          entity.id,
          { cascade: true, name: 'New', metadata: { seats: 5, tags: ['x'] } },
          signal,
        );
        expect(renamed).toEqual({
          ...entity,
          cascade: true,
          name: 'New',
          metadata: { seats: 5, tags: ['x'] },
        });

        const bare = await store.updateEntity(entity.id, { name: null, metadata: null }, signal);
        expect(bare).toEqual({ id: entity.id, parent, cascade: true, createdAt: entity.createdAt });
        const loaded = await store.loadConfig({ entityIds: [entity.id], scopes: [], signal });
        expect(loaded.entities.get(entity.id)).toEqual(bare);
        expect(await store.getChildren(parent, signal)).toEqual([bare]);
      });

      it('refuses an unknown id with ERR_TOLLGATE_ENTITY_NOT_FOUND and creates nothing', async () => {
        const parent = id('org');
        const ghost = id('ghost');
        await store.createEntity(entityRecord(parent), signal);
        const error = await store.updateEntity(ghost, { parent, name: 'x' }, signal).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EntityError);
        expect((error as EntityError).code).toBe('ERR_TOLLGATE_ENTITY_NOT_FOUND');
        expect((error as EntityError).entity).toBe(ghost);
        const loaded = await store.loadConfig({ entityIds: [ghost], scopes: [], signal });
        expect(loaded.entities.size).toBe(0);
        expect(await store.getChildren(parent, signal)).toEqual([]);
      });

      it('keeps the entity deletable after a move, and its old parent childless', async () => {
        const before = id('org-a');
        const after = id('org-b');
        const child = entityRecord(id('leaf'), { parent: before });
        for (const record of [entityRecord(before), entityRecord(after), child])
          await store.createEntity(record, signal);
        await store.updateEntity(child.id, { parent: after }, signal);
        expect(await store.deleteEntity(child.id, signal)).toBe(true);
        expect(await store.getChildren(before, signal)).toEqual([]);
        expect(await store.getChildren(after, signal)).toEqual([]);
      });
    });

    describe('resetBuckets', () => {
      const rpm = Limit.perMinute('rpm', 3);
      const tpm = Limit.perMinute('tpm', 100);

      it('empties one resource of an entity and leaves its other resources and other entities alone', async () => {
        const entity = id('reset-one');
        const other = id('reset-other');
        await charge(T0, [one(entity, 'chat', [rpm, 3], [tpm, 50])]);
        await charge(T0, [one(entity, 'embed', [rpm, 2])]);
        await charge(T0, [one(other, 'chat', [rpm, 3])]);

        expect(await store.resetBuckets({ entity, resource: 'chat' }, signal)).toBe(1);

        expect(await tatOf(entity, 'chat', 'rpm')).toBeUndefined();
        expect(await tatOf(entity, 'chat', 'tpm')).toBeUndefined();
        expect(await tatOf(entity, 'embed', 'rpm')).toBe(T0 + 2n * rpm.emissionIntervalNs);
        expect(await tatOf(other, 'chat', 'rpm')).toBe(T0 + rpm.tauNs);
        // Full again: the whole capacity fits, starting from now.
        const again = await charge(T0, [one(entity, 'chat', [rpm, 3], [tpm, 100])]);
        expect(again.admitted).toBe(true);
        expect(again.buckets[0]?.tats.get('rpm')).toBe(T0 + rpm.tauNs);
        expect((await charge(T0, [one(other, 'chat', [rpm, 1])])).admitted).toBe(false);
      });

      it('empties every bucket of an entity when no resource is given, and no other entity', async () => {
        const entity = id('reset-all');
        const neighbours = [`${entity}0`, `${entity}#chat`, `${entity}:chat`, `${entity}*`];
        const resources = ['chat', 'embed', 'a#b', 'a:b*'];
        for (const resource of resources) await charge(T0, [one(entity, resource, [rpm, 3])]);
        for (const neighbour of neighbours) await charge(T0, [one(neighbour, 'chat', [rpm, 1])]);

        expect(await store.resetBuckets({ entity }, signal)).toBe(resources.length);

        for (const resource of resources) expect(await tatOf(entity, resource, 'rpm')).toBeUndefined();
        for (const neighbour of neighbours)
          expect(await tatOf(neighbour, 'chat', 'rpm')).toBe(T0 + rpm.emissionIntervalNs);
      });

      it('counts only buckets that held state', async () => {
        const entity = id('reset-count');
        await charge(T0, [one(entity, 'chat', [rpm, 1])]);
        expect(await store.resetBuckets({ entity, resource: 'never' }, signal)).toBe(0);
        expect(await store.resetBuckets({ entity: id('nobody') }, signal)).toBe(0);
        expect(await store.resetBuckets({ entity }, signal)).toBe(1);
        expect(await store.resetBuckets({ entity }, signal)).toBe(0);
        expect(await store.resetBuckets({ entity, resource: 'chat' }, signal)).toBe(0);
      });

      it('keeps the entity record, its limit sets and its usage', async () => {
        const entity = id('reset-keeps');
        const record = entityRecord(entity, { name: 'Kept', metadata: { plan: 'pro' } });
        await store.createEntity(record, signal);
        await store.putLimits({ entity }, [rpm.toJSON()], signal);
        await store.putLimits({ entity, resource: 'chat' }, [tpm.toJSON()], signal);
        const start = hourStart(T0);
        await seed([
          { entity, resource: 'chat', window: 'hour', start, consumed: { tokens: 7 } },
          { entity, resource: 'embed', window: 'hour', start, consumed: { tokens: 2 } },
        ]);
        await charge(T0, [one(entity, 'chat', [rpm, 2])]);
        const usageBefore = (await store.getUsage({ entity, window: 'hour' }, signal)).snapshots;
        expect(usageBefore.length).toBeGreaterThan(0);

        expect(await store.resetBuckets({ entity }, signal)).toBeGreaterThan(0);

        const scopes = [{ entity }, { entity, resource: 'chat' }];
        const loaded = await store.loadConfig({ entityIds: [entity], scopes, signal });
        expect(loaded.entities.get(entity)).toEqual(record);
        expect(loaded.limits.get(scopeKey({ entity }))).toEqual([rpm.toJSON()]);
        expect(loaded.limits.get(scopeKey({ entity, resource: 'chat' }))).toEqual([tpm.toJSON()]);
        expect((await store.getUsage({ entity, window: 'hour' }, signal)).snapshots).toEqual(usageBefore);
        expect(await tatOf(entity, 'chat', 'rpm')).toBeUndefined();
      });

      it('leaves a bucket that charges and settles normally afterwards', async () => {
        const entity = id('reset-then');
        await charge(T0, [one(entity, 'chat', [tpm, 100])]);
        await store.resetBuckets({ entity, resource: 'chat' }, signal);
        const later = T0 + ms(10);
        expect((await charge(later, [one(entity, 'chat', [tpm, 60])])).admitted).toBe(true);
        await store.adjust({
          nowNs: later,
          buckets: [{ entity, resource: 'chat', adjustments: [{ limit: tpm, delta: -20 }] }],
          signal,
        });
        expect(await tatOf(entity, 'chat', 'tpm')).toBe(later + 40n * tpm.emissionIntervalNs);
      });
    });

    describe('limit sets and loadConfig', () => {
      const set = (...limits: Limit[]): LimitDefinition[] => limits.map((limit) => limit.toJSON());

      it('keeps the four scopes apart and keys them by scopeKey', async () => {
        const entity = id('scoped');
        const resource = id('model');
        const scopes = [{ entity, resource }, { entity }, { resource }, {}];
        const sets = scopes.map((_, index) =>
          set(Limit.perMinute('rpm', 10 + index), Limit.perHour('tph', 1000 + index)),
        );
        for (const [index, scope] of scopes.entries())
          await store.putLimits(scope, sets[index] ?? [], signal);
        const loaded = await store.loadConfig({ entityIds: [], scopes, signal });
        expect(loaded.limits.size).toBe(4);
        for (const [index, scope] of scopes.entries())
          expect(loaded.limits.get(scopeKey(scope))).toEqual(sets[index]);
        await store.deleteLimits({}, signal);
      });

      it('loads entities and limit sets together and omits what is missing', async () => {
        const entity = id('both');
        await store.createEntity(entityRecord(entity), signal);
        await store.putLimits({ entity }, set(Limit.perSecond('rps', 5, { burst: 20 })), signal);
        const loaded = await store.loadConfig({
          entityIds: [entity, id('missing')],
          scopes: [{ entity }, { entity, resource: 'nothing' }, { resource: id('nothing') }],
          signal,
        });
        expect([...loaded.entities.keys()]).toEqual([entity]);
        expect([...loaded.limits.keys()]).toEqual([scopeKey({ entity })]);
        expect(loaded.limits.get(scopeKey({ entity }))).toEqual([
          { name: 'rps', capacity: 20, refillAmount: 5, refillPeriodMs: 1000 },
        ]);
        const empty = await store.loadConfig({ entityIds: [], scopes: [], signal });
        expect(empty.entities.size + empty.limits.size).toBe(0);
      });

      it('replaces a limit set and deletes it, reporting whether one existed', async () => {
        const scope = { entity: id('replace'), resource: 'chat' };
        await store.putLimits(scope, set(Limit.perMinute('rpm', 1)), signal);
        await store.putLimits(scope, set(Limit.perMinute('rpm', 2), Limit.perDay('rpd', 3)), signal);
        const loaded = await store.loadConfig({ entityIds: [], scopes: [scope], signal });
        expect(loaded.limits.get(scopeKey(scope))).toEqual(
          set(Limit.perMinute('rpm', 2), Limit.perDay('rpd', 3)),
        );
        expect(await store.deleteLimits(scope, signal)).toBe(true);
        expect(await store.deleteLimits(scope, signal)).toBe(false);
        expect((await store.loadConfig({ entityIds: [], scopes: [scope], signal })).limits.size).toBe(0);
      });
    });

    describe('usage', () => {
      it('pages usage snapshots oldest first, without losing or repeating any', async () => {
        const entity = id('usage');
        const start = hourStart(T0) - 20 * HOUR_MS;
        const snapshots: UsageSnapshot[] = [];
        for (let hour = 0; hour < 7; hour++) {
          for (const resource of ['r1', 'r2']) {
            snapshots.push({
              entity,
              resource,
              window: 'hour',
              start: start + hour * HOUR_MS,
              consumed: { rpm: hour + 1, tpm: 10 * (hour + 1) },
            });
          }
        }
        await seed([
          ...snapshots,
          { entity: id('elsewhere'), resource: 'r1', window: 'hour', start, consumed: { rpm: 1 } },
        ]);
        const pages: UsageSnapshot[][] = [];
        let cursor: string | undefined;
        do {
          const page = await store.getUsage({ entity, window: 'hour', pageSize: 3, cursor }, signal);
          pages.push(page.snapshots);
          cursor = page.cursor;
        } while (cursor !== undefined && pages.length < 20);
        expect(pages.every((page) => page.length <= 3)).toBe(true);
        expect(pages.slice(0, -1).every((page) => page.length === 3)).toBe(true);
        expect(pages.flat()).toEqual(snapshots);
      });

      it('filters usage by resource and by window bounds, from inclusive and to exclusive', async () => {
        const entity = id('usage-filter');
        const start = hourStart(T0) - 10 * HOUR_MS;
        const snapshots: UsageSnapshot[] = [];
        for (let hour = 0; hour < 5; hour++) {
          for (const resource of ['r1', 'r2']) {
            snapshots.push({
              entity,
              resource,
              window: 'hour',
              start: start + hour * HOUR_MS,
              consumed: { rpm: 1 + hour },
            });
          }
        }
        await seed(snapshots);
        const onlyR2 = await store.getUsage({ entity, resource: 'r2', window: 'hour', pageSize: 2 }, signal);
        expect(onlyR2.snapshots).toEqual(snapshots.filter((s) => s.resource === 'r2').slice(0, 2));
        expect(onlyR2.cursor).toBeDefined();
        const rest = await store.getUsage(
          { entity, resource: 'r2', window: 'hour', cursor: onlyR2.cursor },
          signal,
        );
        expect(rest.snapshots).toEqual(snapshots.filter((s) => s.resource === 'r2').slice(2));
        expect(rest.cursor).toBeUndefined();
        const from = start + HOUR_MS;
        const to = start + 3 * HOUR_MS;
        const bounded = await store.getUsage({ entity, window: 'hour', from, to }, signal);
        expect(bounded.snapshots).toEqual(snapshots.filter((s) => s.start >= from && s.start < to));
        expect(bounded.cursor).toBeUndefined();
      });
    });

    it.runIf(options.stats !== false)('counts calls per kind of call', async () => {
      expect(store.stats).toBeTypeOf('function');
      if (!store.stats) return;
      const rpm = Limit.perMinute('rpm', 10);
      const entity = id('stats');
      const before = store.stats();
      await charge(T0, [one(entity, 'chat', [rpm, 1])]);
      await charge(T0, [one(entity, 'chat', [rpm, 1])]);
      await store.getBuckets({ keys: [{ entity, resource: 'chat' }], signal });
      const after = store.stats();
      expect((after['charge']?.calls ?? 0) - (before['charge']?.calls ?? 0)).toBe(2);
      expect((after['getBuckets']?.calls ?? 0) - (before['getBuckets']?.calls ?? 0)).toBe(1);
    });

    async function seed(snapshots: readonly UsageSnapshot[]): Promise<void> {
      if (fixture.seedUsage) return fixture.seedUsage(snapshots);
      for (const snapshot of snapshots) {
        const charges = Object.entries(snapshot.consumed).map(([limitName, cost]) => ({
          limit: Limit.custom({ name: limitName, capacity: 1e9, refillAmount: 1e6, refillPeriodMs: 1 }),
          cost,
        }));
        const result = await store.charge({
          nowNs: BigInt(snapshot.start) * NS_PER_MS,
          buckets: [{ entity: snapshot.entity, resource: snapshot.resource, charges }],
          signal,
        });
        if (!result.admitted)
          throw new Error(`Could not seed usage of ${snapshot.entity} at ${snapshot.start}`);
      }
    }
  });
}

function hourStart(nowNs: bigint): number {
  const nowMs = Number(nowNs / NS_PER_MS);
  return nowMs - (nowMs % HOUR_MS);
}
