import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';

/** A limiter on a small MemoryStore; the deny cache is off so every decision reads the store. */
function setup(maxKeys: number, limits: readonly Limit[]) {
  const clock = new FakeClock();
  const store = new MemoryStore({ maxKeys });
  const limiter = new RateLimiter({ store, limits, clock: clock.read, denyCache: false });
  return { clock, store, limiter };
}

describe('MemoryStore eviction when full', () => {
  it('keeps refusing a key that spent its budget through a flood of 10 000 invented keys', async () => {
    const { clock, store, limiter } = setup(100, [Limit.perHour('rph', 5)]);
    for (let i = 0; i < 5; i += 1) await limiter.acquire({ entity: 'spent' });
    expect((await limiter.tryAcquire({ entity: 'spent' })).allowed).toBe(false);
    for (let i = 0; i < 10_000; i += 1) {
      clock.advance(1);
      expect((await limiter.tryAcquire({ entity: `invented-${i}` })).allowed).toBe(true);
    }
    expect(store.size).toBe(100);
    expect(await limiter.available({ entity: 'spent' })).toEqual({ rph: 0 });
    expect((await limiter.tryAcquire({ entity: 'spent' })).allowed).toBe(false);
  });

  it('keeps a bucket in debt beyond its capacity through a flood', async () => {
    const { clock, limiter } = setup(50, [Limit.perMinute('rpm', 10)]);
    const lease = await limiter.acquire({ entity: 'debtor' });
    await lease.adjust({ rpm: 19 });
    await lease.commit();
    for (let i = 0; i < 5_000; i += 1) await limiter.tryAcquire({ entity: `invented-${i}` });
    expect((await limiter.tryAcquire({ entity: 'debtor' })).allowed).toBe(false);
    // 20 tokens owed at 6 s each: a bucket merely emptied would be full after 60 s.
    clock.advance(60_000);
    expect(await limiter.available({ entity: 'debtor' })).toEqual({ rpm: 0 });
    clock.advance(6_000);
    expect(await limiter.available({ entity: 'debtor' })).toEqual({ rpm: 1 });
  });

  it('evicts an idle bucket before any busy one, even a more recently used idle one', async () => {
    const { store, limiter } = setup(3, [Limit.perMinute('rpm', 10)]);
    await limiter.acquire({ entity: 'deep', consume: { rpm: 10 } });
    await limiter.acquire({ entity: 'shallow', consume: { rpm: 1 } });
    // Charged and refunded: full again, and the most recently used of the three.
    await (await limiter.acquire({ entity: 'refunded' })).rollback();
    await limiter.acquire({ entity: 'new' });
    expect(store.size).toBe(3);
    const held = await store.getBuckets({
      signal: new AbortController().signal,
      keys: ['deep', 'shallow', 'refunded', 'new'].map((entity) => ({ entity, resource: 'default' })),
    });
    expect(held.map((bucket) => bucket.tats.size)).toEqual([1, 1, 0, 1]);
    expect(await limiter.available({ entity: 'deep' })).toEqual({ rpm: 0 });
    expect(await limiter.available({ entity: 'shallow' })).toEqual({ rpm: 9 });
  });

  it('evicts the busy bucket owing the least time, not the least recently used', async () => {
    const { clock, limiter } = setup(3, [Limit.perMinute('rpm', 10)]);
    await limiter.acquire({ entity: 'oldest-deepest', consume: { rpm: 10 } });
    clock.advance(1000);
    await limiter.acquire({ entity: 'owes-two', consume: { rpm: 2 } });
    await limiter.acquire({ entity: 'owes-one', consume: { rpm: 1 } });
    await limiter.acquire({ entity: 'new' });
    expect(await limiter.available({ entity: 'oldest-deepest' })).toEqual({ rpm: 0 });
    expect(await limiter.available({ entity: 'owes-two' })).toEqual({ rpm: 8 });
    expect(await limiter.available({ entity: 'owes-one' })).toEqual({ rpm: 10 });
    expect(await limiter.available({ entity: 'new' })).toEqual({ rpm: 9 });
  });

  it('never evicts a bucket of the charge it is making', async () => {
    const { store, limiter } = setup(2, [Limit.perMinute('rpm', 10)]);
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 100)]);
    await limiter.createEntity({ id: 'key', parent: 'org', cascade: true });
    await limiter.acquire({ entity: 'other', consume: { rpm: 10 } });
    // Inserting `org` finds the store full; `key`, just charged and owing least, must stay.
    await limiter.acquire({ entity: 'key' });
    expect(store.size).toBe(2);
    expect(await limiter.available({ entity: 'key' })).toEqual({ rpm: 9 });
    expect(await limiter.available({ entity: 'org' })).toEqual({ rpm: 99 });
  });
});

describe('MemoryStore state and usage', () => {
  const signal = new AbortController().signal;
  const rpm = Limit.perMinute('rpm', 10);
  const charge = (store: MemoryStore, entity: string, nowNs: bigint, cost = 1) =>
    store.charge({
      nowNs,
      signal,
      buckets: [{ entity, resource: 'default', charges: [{ limit: rpm, cost }] }],
    });
  /** Charges bucket `k` each `[limit, cost]` at once. */
  const chargeK = (store: MemoryStore, nowNs: bigint, ...charges: [Limit, number][]) =>
    store.charge({
      nowNs,
      signal,
      buckets: [
        { entity: 'k', resource: 'default', charges: charges.map(([limit, cost]) => ({ limit, cost })) },
      ],
    });

  it('hands out states that keep showing the instant they were taken', async () => {
    const store = new MemoryStore();
    const first = await charge(store, 'k', 0n);
    const tatAfterFirst = first.buckets[0]?.tats.get('rpm');
    await charge(store, 'k', 0n, 3);
    await store.adjust({
      nowNs: 0n,
      signal,
      buckets: [{ entity: 'k', resource: 'default', adjustments: [{ limit: rpm, delta: 2 }] }],
    });
    expect(first.buckets[0]?.tats.get('rpm')).toBe(tatAfterFirst);
    expect([...(first.buckets[0]?.tats ?? [])]).toEqual([['rpm', rpm.emissionIntervalNs]]);
    const [now] = await store.getBuckets({ signal, keys: [{ entity: 'k', resource: 'default' }] });
    expect(now?.tats.get('rpm')).toBe(6n * rpm.emissionIntervalNs);
    // A copy a caller makes (as the limiter does for its deny cache) keeps the map.
    expect(new Map({ ...now! }.tats)).toEqual(new Map([['rpm', 6n * rpm.emissionIntervalNs]]));
  });

  it('hands out states of a bucket with several limits that later charges do not change', async () => {
    const store = new MemoryStore();
    const tpm = Limit.perMinute('tpm', 1000);
    const both = (nowNs: bigint, tokens: number) => chargeK(store, nowNs, [rpm, 1], [tpm, tokens]);
    const first = await both(0n, 10);
    const seen = [...(first.buckets[0]?.tats ?? [])];
    expect(seen).toEqual([
      ['rpm', rpm.emissionIntervalNs],
      ['tpm', 10n * tpm.emissionIntervalNs],
    ]);
    await both(0n, 100);
    expect([...(first.buckets[0]?.tats ?? [])]).toEqual(seen);
    // A limit that joins later does not show in a state taken before it.
    await charge(store, 'k', 0n);
    expect(first.buckets[0]?.tats.size).toBe(2);
  });

  it('answers a charge of one limit with the state of every limit of the bucket', async () => {
    const store = new MemoryStore();
    const tpm = Limit.perMinute('tpm', 1000);
    const one = (limit: Limit, cost: number) => chargeK(store, 0n, [limit, cost]);
    const alone = await one(rpm, 1);
    expect([...(alone.buckets[0]?.tats ?? [])]).toEqual([['rpm', rpm.emissionIntervalNs]]);
    expect(alone.buckets[0]).toMatchObject({ entity: 'k', resource: 'default' });
    const beside = await one(tpm, 7);
    expect(beside.admitted).toBe(true);
    expect([...(beside.buckets[0]?.tats ?? [])]).toEqual([
      ['rpm', rpm.emissionIntervalNs],
      ['tpm', 7n * tpm.emissionIntervalNs],
    ]);
    // The first answer is a snapshot: the second charge does not show in it.
    expect(alone.buckets[0]?.tats.size).toBe(1);
  });

  it('counts usage per limit, including limits charged alone and refunds', async () => {
    const store = new MemoryStore();
    const tpm = Limit.perMinute('tpm', 1000);
    const constructorLimit = Limit.perMinute('constructor', 10);
    await chargeK(store, 0n, [rpm, 1], [tpm, 40]);
    await chargeK(store, 0n, [constructorLimit, 2]);
    await store.adjust({
      nowNs: 0n,
      signal,
      buckets: [{ entity: 'k', resource: 'default', adjustments: [{ limit: tpm, delta: -15 }] }],
    });
    const { snapshots } = await store.getUsage({ entity: 'k', window: 'hour' });
    expect(snapshots.map((snapshot) => snapshot.consumed)).toEqual([{ rpm: 1, tpm: 25, constructor: 2 }]);
    expect(Object.hasOwn(snapshots[0]!.consumed, 'constructor')).toBe(true);
  });

  it('keeps the usage of evicted buckets, and one snapshot per window when a key comes back', async () => {
    const store = new MemoryStore({ maxKeys: 2 });
    const hourNs = 3_600_000_000_000n;
    const start = 10n * hourNs;
    await charge(store, 'k', start, 2);
    // Two more keys push `k` (idle again after a minute) out of the store.
    await charge(store, 'a', start + 60_000_000_000n);
    await charge(store, 'b', start + 120_000_000_000n);
    expect(store.size).toBe(2);
    await charge(store, 'k', start + 180_000_000_000n, 3);
    const { snapshots } = await store.getUsage({ entity: 'k', window: 'hour' });
    expect(snapshots).toEqual([
      {
        entity: 'k',
        resource: 'default',
        window: 'hour',
        start: Number(start / 1_000_000n),
        consumed: { rpm: 5 },
      },
    ]);
    // The next hour starts a new snapshot; the last one is kept.
    await charge(store, 'k', start + hourNs, 1);
    const { snapshots: both } = await store.getUsage({ entity: 'k', window: 'hour' });
    expect(both.map((snapshot) => snapshot.consumed)).toEqual([{ rpm: 5 }, { rpm: 1 }]);
    const { snapshots: days } = await store.getUsage({ entity: 'k', window: 'day' });
    expect(days.map((snapshot) => snapshot.consumed)).toEqual([{ rpm: 6 }]);
  });
});
