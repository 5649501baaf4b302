import { Limit, MemoryStore, RateLimiter, ReservingStore } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { countingStore } from './helpers.js';

const never = new AbortController().signal;

/** Tokens the inner store has charged on the bucket (k, default): capacity − available. */
async function chargedIn(inner: MemoryStore, limit: Limit, clock: FakeClock): Promise<number> {
  const limiter = new RateLimiter({ store: inner, limits: [limit], clock: clock.read });
  return limit.capacity - ((await limiter.available({ entity: 'k' }))[limit.name] ?? 0);
}

describe('ReservingStore', () => {
  it('serves most decisions from a block, one inner write per block', async () => {
    const clock = new FakeClock();
    const inner = countingStore();
    const store = new ReservingStore(inner, { maxShare: 0.1, blockTtlMs: 1000, clock: clock.read });
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 10_000)], clock: clock.read });
    for (let index = 0; index < 500; index += 1) {
      expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
      clock.advance(1);
    }
    expect(inner.calls['charge']).toBeLessThanOrEqual(50);
    expect(store.stats()['reserved']?.calls).toBeGreaterThanOrEqual(450);
  });

  it('never admits more than the bucket across several processes sharing one store', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore();
    const limit = Limit.perDay('req', 1000);
    const processes = Array.from({ length: 4 }, () => {
      const store = new ReservingStore(inner, { maxShare: 0.05, clock: clock.read });
      return { store, limiter: new RateLimiter({ store, limits: [limit], clock: clock.read }) };
    });
    let admitted = 0;
    for (let round = 0; round < 400; round += 1) {
      for (const { limiter } of processes) {
        if ((await limiter.tryAcquire({ entity: 'k' })).allowed) admitted += 1;
      }
      clock.advance(1);
    }
    expect(admitted).toBeLessThanOrEqual(1000);
    // What is missing is held in blocks: at most 4 processes × 5% of the capacity.
    expect(admitted).toBeGreaterThanOrEqual(1000 - 4 * 50);
    const held = processes.reduce(
      (sum, { store }) => sum + [...store.heldTokens().values()].reduce((a, b) => a + b, 0),
      0,
    );
    expect(admitted + held).toBe(1000);
    await Promise.all(processes.map(({ store }) => store.close()));
    expect(await chargedIn(inner, limit, clock)).toBe(admitted);
  });

  it('returns unused tokens when a block expires and on close', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore();
    const limit = Limit.perDay('req', 1000);
    const store = new ReservingStore(inner, { maxShare: 0.1, blockTtlMs: 1000, clock: clock.read });
    const limiter = new RateLimiter({ store, limits: [limit], clock: clock.read });
    for (let index = 0; index < 20; index += 1) await limiter.acquire({ entity: 'k' });
    expect(await chargedIn(inner, limit, clock)).toBeGreaterThan(20);
    clock.advance(1000);
    await limiter.acquire({ entity: 'k' }); // finds its block expired: refunded, then a new write
    await store.close();
    expect(await chargedIn(inner, limit, clock)).toBe(21);
    expect(store.heldTokens().size).toBe(0);
  });

  it('decides exactly, without a block, when the bucket has no room for one', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore();
    const limit = Limit.perDay('req', 10);
    const store = new ReservingStore(inner, { maxShare: 1, clock: clock.read });
    const limiter = new RateLimiter({ store, limits: [limit], clock: clock.read, denyCache: false });
    let admitted = 0;
    for (let index = 0; index < 30; index += 1)
      if ((await limiter.tryAcquire({ entity: 'k' })).allowed) admitted += 1;
    expect(admitted).toBe(10);
    await store.close();
    expect(await chargedIn(inner, limit, clock)).toBe(10);
  });

  it('leaves limits it does not reserve to the inner store', async () => {
    const inner = countingStore();
    const store = new ReservingStore(inner, { limits: ['tpm'] });
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 1000)] });
    for (let index = 0; index < 10; index += 1) await limiter.acquire({ entity: 'k' });
    expect(inner.calls['charge']).toBe(10);
    await store.getBuckets({ keys: [{ entity: 'k', resource: 'default' }], signal: never });
  });

  it('refuses options that make no sense with coded errors', () => {
    const inner = new MemoryStore();
    expect(() => new ReservingStore(inner, { maxShare: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'maxShare' }),
    );
    expect(() => new ReservingStore(inner, { blockTtlMs: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'blockTtlMs' }),
    );
  });
});
