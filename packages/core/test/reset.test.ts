import {
  Limit,
  MemoryStore,
  RateLimiter,
  RateLimiterUnavailable,
  ReservingStore,
  type Store,
  ValidationError,
} from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { asRemote, countingStore } from './helpers.js';

const RPM = Limit.perMinute('rpm', 3);
const TPM = Limit.perMinute('tpm', 1000);

function setup(store: Store = countingStore(), limits: readonly Limit[] = [RPM, TPM]) {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ store, limits, clock: clock.read });
  return { clock, limiter, store };
}

async function exhaust(limiter: RateLimiter, entity: string, resource?: string): Promise<void> {
  for (;;) {
    const decision = await limiter.tryAcquire({ entity, ...(resource === undefined ? {} : { resource }) });
    if (!decision.allowed) return;
    await decision.lease.commit();
  }
}

describe('reset', () => {
  it.each([
    ['in process', () => new MemoryStore({ maxKeys: 100 })],
    ['behind a network (plan and deny caches)', () => asRemote()],
  ])('admits a refused key again at once (%s)', async (_, makeStore) => {
    const { limiter } = setup(makeStore());
    await exhaust(limiter, 'k');
    // A repeat is answered from the deny cache: reset must drop that memory too.
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(false);

    expect(await limiter.reset({ entity: 'k' })).toBe(1);

    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 3, tpm: 1000 });
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
  });

  it('asks the store after a reset instead of answering from the deny cache', async () => {
    const store = countingStore();
    const { limiter } = setup(store);
    await exhaust(limiter, 'k');
    const charges = store.calls['charge'] ?? 0;
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(false);
    expect(store.calls['charge']).toBe(charges);
    await limiter.reset({ entity: 'k', resource: 'default' });
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect(store.calls['charge']).toBe(charges + 1);
  });

  it('keeps stored limits: a reset key gets exactly its own limit again', async () => {
    const { limiter } = setup();
    await limiter.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 2)]);
    await exhaust(limiter, 'k');
    await limiter.reset({ entity: 'k' });
    expect(await limiter.getLimits({ entity: 'k' })).toEqual([Limit.perMinute('rpm', 2)]);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(false);
  });

  it('keeps the entity record and recorded usage', async () => {
    const { limiter } = setup();
    const record = await limiter.createEntity({ id: 'k', name: 'Key', metadata: { plan: 'pro' } });
    const lease = await limiter.acquire({ entity: 'k', resource: 'chat', consume: { rpm: 1, tpm: 400 } });
    await lease.adjust({ tpm: 100 });
    await lease.commit();
    const hours = await limiter.getUsage({ entity: 'k', window: 'hour' });
    const days = await limiter.getUsage({ entity: 'k', window: 'day' });
    expect(hours[0]?.consumed).toEqual({ rpm: 1, tpm: 500 });

    expect(await limiter.reset({ entity: 'k' })).toBe(1);

    expect(await limiter.getEntity('k')).toEqual(record);
    expect(await limiter.getUsage({ entity: 'k', window: 'hour' })).toEqual(hours);
    expect(await limiter.getUsage({ entity: 'k', window: 'day' })).toEqual(days);
    // Later use adds to the same windows.
    await (await limiter.acquire({ entity: 'k', resource: 'chat', consume: { rpm: 1, tpm: 1 } })).commit();
    expect((await limiter.getUsage({ entity: 'k', window: 'hour' }))[0]?.consumed).toEqual({
      rpm: 2,
      tpm: 501,
    });
  });

  it("leaves a cascade parent's bucket as the key's spending left it", async () => {
    const { limiter } = setup(countingStore(), [Limit.perMinute('rpm', 100)]);
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 3)]);
    await limiter.createEntity({ id: 'key', parent: 'org', cascade: true });
    await exhaust(limiter, 'key');
    expect(await limiter.available({ entity: 'org' })).toEqual({ rpm: 0 });

    expect(await limiter.reset({ entity: 'key' })).toBe(1);

    expect(await limiter.available({ entity: 'org' })).toEqual({ rpm: 0 });
    const decision = await limiter.tryAcquire({ entity: 'key' });
    expect(decision.allowed).toBe(false);
    expect(decision.statuses.find((status) => status.entity === 'org')).toMatchObject({ exceeded: true });
    expect(decision.statuses.find((status) => status.entity === 'key')).toMatchObject({ available: 100 });
    // Resetting the parent itself frees the chain.
    await limiter.reset({ entity: 'org' });
    expect((await limiter.tryAcquire({ entity: 'key' })).allowed).toBe(true);
  });

  it('resets one resource and leaves the others, or every resource without one', async () => {
    const { limiter } = setup();
    for (const resource of ['chat', 'embed', 'image']) await exhaust(limiter, 'k', resource);
    await exhaust(limiter, 'other', 'chat');

    expect(await limiter.reset({ entity: 'k', resource: 'chat' })).toBe(1);
    expect((await limiter.available({ entity: 'k', resource: 'chat' }))['rpm']).toBe(3);
    expect((await limiter.available({ entity: 'k', resource: 'embed' }))['rpm']).toBe(0);
    expect((await limiter.tryAcquire({ entity: 'k', resource: 'embed' })).allowed).toBe(false);

    // The chat bucket holds no state any more: two buckets to reset.
    expect(await limiter.reset({ entity: 'k' })).toBe(2);
    for (const resource of ['chat', 'embed', 'image'])
      expect((await limiter.tryAcquire({ entity: 'k', resource })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'other', resource: 'chat' })).allowed).toBe(false);
  });

  it('answers 0 for a key with nothing to reset', async () => {
    const { limiter } = setup();
    expect(await limiter.reset({ entity: 'never-seen' })).toBe(0);
    expect(await limiter.reset({ entity: 'never-seen', resource: 'chat' })).toBe(0);
  });

  it.each([
    ['no scope', undefined, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['an array', ['k'], 'ERR_TOLLGATE_INVALID_OPTION'],
    ['no entity', {}, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an empty entity', { entity: '' }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['a non-string entity', { entity: 7 }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an empty resource', { entity: 'k', resource: '' }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an over-long resource', { entity: 'k', resource: 'r'.repeat(257) }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['a lone surrogate', { entity: 'k\uD800' }, 'ERR_TOLLGATE_INVALID_KEY'],
  ])('refuses %s with a coded ValidationError and changes nothing', async (_, scope, code) => {
    const store = countingStore();
    const { limiter } = setup(store);
    await exhaust(limiter, 'k');
    const error = await limiter.reset(scope as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe(code);
    expect(store.calls['resetBuckets'] ?? 0).toBe(0);
    expect((await limiter.available({ entity: 'k' }))['rpm']).toBe(0);
  });

  it('reports a failing store as unavailable, never as a limit', async () => {
    const inner = new MemoryStore({ maxKeys: 10 });
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'resetBuckets') return () => Promise.reject(new Error('connection reset'));
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { limiter } = setup(store);
    const error = await limiter.reset({ entity: 'k' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimiterUnavailable);
  });
});

describe('reset through a ReservingStore', () => {
  it('gives back the blocks it holds on the buckets, and the key is full again', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore();
    const limit = Limit.perDay('req', 1000);
    const store = new ReservingStore(inner, { maxShare: 0.1, blockTtlMs: 60_000, clock: clock.read });
    const limiter = new RateLimiter({ store, limits: [limit], clock: clock.read });
    for (let index = 0; index < 50; index += 1) {
      expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
      clock.advance(1);
    }
    expect((await limiter.tryAcquire({ entity: 'other' })).allowed).toBe(true);
    expect(store.heldTokens().get('1:kdefault|req')).toBeGreaterThan(0);
    const othersBlock = store.heldTokens().get('5:otherdefault|req');
    expect(othersBlock).toBeGreaterThan(0);

    expect(await limiter.reset({ entity: 'k' })).toBe(1);

    expect(store.heldTokens().has('1:kdefault|req')).toBe(false);
    expect(store.heldTokens().get('5:otherdefault|req')).toBe(othersBlock);
    const direct = new RateLimiter({ store: inner, limits: [limit], clock: clock.read });
    expect(await direct.available({ entity: 'k' })).toEqual({ req: 1000 });
    // Usage counts what was admitted, not the tokens a block held unused.
    const [hour] = await direct.getUsage({ entity: 'k', window: 'hour' });
    expect(hour?.consumed).toEqual({ req: 50 });
    await store.close();
  });
});
