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
