import {
  type AcquireRequest,
  type ChargeRequest,
  type ChargeResult,
  isRateLimitExceeded,
  Limit,
  MemoryStore,
  RateLimitExceeded,
  RateLimiter,
  RateLimiterUnavailable,
  type Store,
  ValidationError,
} from '@tollgate/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { asRemote, countingStore, failingStore } from './helpers.js';

function setup(limits = [Limit.perMinute('rpm', 3), Limit.perMinute('tpm', 1000)]) {
  const clock = new FakeClock();
  const store = countingStore();
  const logger = new RecordingLogger();
  const limiter = new RateLimiter({ store, limits, clock: clock.read, logger });
  return { clock, store, logger, limiter };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('acquire and tryAcquire', () => {
  it('admits up to the capacity, then throws RateLimitExceeded with the exact wait', async () => {
    const { limiter } = setup();
    for (let i = 0; i < 3; i += 1) await limiter.acquire({ entity: 'k', consume: { rpm: 1 } });
    const error = await limiter.acquire({ entity: 'k', consume: { rpm: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitExceeded);
    expect((error as RateLimitExceeded).retryAfterMs).toBe(20_000);
    expect((error as RateLimitExceeded).code).toBe('ERR_TOLLGATE_RATE_LIMITED');
  });

  it('rejects without charging when any limit is short', async () => {
    const { limiter } = setup();
    await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 900 } });
    const decision = await limiter.tryAcquire({ entity: 'k', consume: { rpm: 1, tpm: 200 } });
    expect(decision.allowed).toBe(false);
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 100 });
    if (!decision.allowed) {
      const tpm = decision.statuses.find((s) => s.limit === 'tpm');
      const rpm = decision.statuses.find((s) => s.limit === 'rpm');
      expect(tpm).toMatchObject({ exceeded: true, requested: 200, available: 100, capacity: 1000 });
      expect(rpm).toMatchObject({ exceeded: false, requested: 1, available: 2, retryAfterMs: 0 });
      expect(decision.retryAfterMs).toBe(6000);
    }
  });

  it('serializes a rejection into the documented 429 body', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    await limiter.acquire({ entity: 'k' });
    const decision = await limiter.tryAcquire({ entity: 'k' });
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    const body = decision.error.toJSON();
    expect(body.error).toBe('rate_limit_exceeded');
    expect(body.retryAfterMs).toBe(60_000);
    expect(body.limits).toHaveLength(1);
    expect(body.limits[0]).toMatchObject({
      scope: 'self',
      resource: 'default',
      limit: 'rpm',
      exceeded: true,
    });
    expect(JSON.parse(JSON.stringify(decision.error))).toEqual(body);
  });

  it('gives an admitted decision one lease, however often it is read, and settles it once', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 2)] });
    const decision = await limiter.tryAcquire({ entity: 'key-1' });
    if (!decision.allowed) throw new Error('expected an admit');
    expect(decision.lease).toBe(decision.lease);
    expect(decision.lease.consumed).toEqual({ rpm: 1 });
    await decision.lease.rollback();
    expect(decision.lease.isClosed).toBe(true);
    expect(await limiter.available({ entity: 'key-1' })).toEqual({ rpm: 2 });
  });

  it('charges 1 of every limit when consume is omitted', async () => {
    const { limiter } = setup();
    await limiter.acquire({ entity: 'k' });
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 999 });
  });

  it('neither checks nor charges a limit whose cost is 0', async () => {
    const { limiter } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 1000 } });
    await lease.adjust({ tpm: 500 });
    await lease.commit();
    expect((await limiter.tryAcquire({ entity: 'k', consume: { rpm: 1, tpm: 0 } })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'k', consume: { rpm: 1, tpm: 1 } })).allowed).toBe(false);
  });

  it('keeps separate buckets per resource and per entity', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    await limiter.acquire({ entity: 'a', resource: 'chat' });
    expect((await limiter.tryAcquire({ entity: 'a', resource: 'embeddings' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'b', resource: 'chat' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'a', resource: 'chat' })).allowed).toBe(false);
  });

  it('refills continuously with the clock', async () => {
    const { limiter, clock } = setup([Limit.perSecond('rps', 10)]);
    for (let i = 0; i < 10; i += 1) await limiter.acquire({ entity: 'k' });
    clock.advance(99);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(false);
    clock.advance(1);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
  });

  it('admits exactly the capacity out of 1000 concurrent acquires', async () => {
    const { limiter } = setup([Limit.perDay('req', 100)]);
    const decisions = await Promise.all(
      Array.from({ length: 1000 }, () => limiter.tryAcquire({ entity: 'hot' })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
  });
});

describe('input validation', () => {
  it.each([
    ['an empty entity', { entity: '' }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an entity with a lone surrogate', { entity: 'k\uDC00' }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['a non-string entity', { entity: 42 }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an over-long resource', { entity: 'k', resource: 'r'.repeat(300) }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['a negative cost', { entity: 'k', consume: { rpm: -1 } }, 'ERR_TOLLGATE_INVALID_COST'],
    ['a fractional cost', { entity: 'k', consume: { rpm: 0.5 } }, 'ERR_TOLLGATE_INVALID_COST'],
    ['a NaN cost', { entity: 'k', consume: { rpm: Number.NaN } }, 'ERR_TOLLGATE_INVALID_COST'],
    ['a string cost', { entity: 'k', consume: { rpm: '1' } }, 'ERR_TOLLGATE_INVALID_COST'],
    ['an unknown limit name', { entity: 'k', consume: { rpd: 1 } }, 'ERR_TOLLGATE_UNKNOWN_LIMIT'],
    ['a malformed limit name', { entity: 'k', consume: { 'bad name': 1 } }, 'ERR_TOLLGATE_UNKNOWN_LIMIT'],
    ['a cost above capacity', { entity: 'k', consume: { rpm: 4 } }, 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY'],
    ['a consume that is an array', { entity: 'k', consume: [1] }, 'ERR_TOLLGATE_INVALID_COST'],
  ])('rejects %s with a coded ValidationError and charges nothing', async (_, request, code) => {
    const { limiter, store } = setup();
    const error = await limiter.tryAcquire(request as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe(code);
    expect(store.calls['charge'] ?? 0).toBe(0);
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 3, tpm: 1000 });
  });

  it('accepts ids containing delimiters and unicode as distinct keys', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    for (const entity of ['a#b', 'a', '#', 'a|b', 'ключ', '🔑', '1:a']) {
      expect((await limiter.tryAcquire({ entity })).allowed).toBe(true);
    }
  });

  it('refuses a request that is not an object with a coded error, on every entry point, charging nothing', async () => {
    const store = new MemoryStore();
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 5)] });
    const calls = [
      (request: unknown) => limiter.tryAcquire(request as AcquireRequest),
      (request: unknown) => limiter.acquire(request as AcquireRequest),
      (request: unknown) => limiter.available(request as AcquireRequest),
      (request: unknown) => limiter.timeUntilAvailable(request as AcquireRequest),
    ];
    for (const call of calls) {
      for (const request of [null, undefined, 'secret-key', 7]) {
        const error = await call(request).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(ValidationError);
        expect(error).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_KEY', field: 'entity' });
        expect((error as Error).message).not.toContain('secret-key');
      }
    }
    expect(store.stats()['charge']).toBeUndefined();
  });

  it('refuses an entity with no limits at all', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore({ maxKeys: 10 }) });
    expect(await codeOf(limiter.acquire({ entity: 'k' }))).toBe('ERR_TOLLGATE_NO_LIMITS');
  });

  it('validates constructor options with exact messages', () => {
    const store = new MemoryStore({ maxKeys: 10 });
    expect(() => new RateLimiter({ store, timeoutMs: -1 })).toThrow(
      'Expected `timeoutMs` to be a positive number up to 2147483647, got `-1` (number)',
    );
    expect(() => new RateLimiter({ store, onUnavailable: 'open' as never })).toThrow(
      "Expected `onUnavailable` to be 'block' or 'allow', got `\"open\"` (string)",
    );
    expect(() => new RateLimiter({ store: {} as never })).toThrow('Expected `store` to implement Store');
    expect(
      () => new RateLimiter({ store, limits: [Limit.perMinute('a', 1), Limit.perMinute('a', 2)] }),
    ).toThrow('Duplicate limit name `a`');
  });
});

describe('stored limits', () => {
  it('applies entity+resource > entity > resource > system > constructor defaults', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    const capacity = async () => (await limiter.available({ entity: 'k', resource: 'gpt' }))['rpm'];
    expect(await capacity()).toBe(1);
    await limiter.setLimits({}, [Limit.perMinute('rpm', 2)]);
    expect(await capacity()).toBe(2);
    await limiter.setLimits({ resource: 'gpt' }, [Limit.perMinute('rpm', 3)]);
    expect(await capacity()).toBe(3);
    await limiter.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 4)]);
    expect(await capacity()).toBe(4);
    await limiter.setLimits({ entity: 'k', resource: 'gpt' }, [Limit.perMinute('rpm', 5)]);
    expect(await capacity()).toBe(5);
    expect(await limiter.deleteLimits({ entity: 'k', resource: 'gpt' })).toBe(true);
    expect(await capacity()).toBe(4);
    expect(await limiter.deleteLimits({ entity: 'k', resource: 'gpt' })).toBe(false);
  });

  it('lets a per-call limits override win over every stored set', async () => {
    const { limiter } = setup();
    await limiter.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 50)]);
    expect(await limiter.available({ entity: 'k', limits: [Limit.perMinute('rpm', 2)] })).toEqual({ rpm: 2 });
  });

  it('reads back what was stored', async () => {
    const { limiter } = setup();
    await limiter.setLimits({ resource: 'gpt' }, [Limit.perMinute('tpm', 10_000, { burst: 20_000 })]);
    expect((await limiter.getLimits({ resource: 'gpt' })).map((l) => l.toJSON())).toEqual([
      { name: 'tpm', capacity: 20_000, refillAmount: 10_000, refillPeriodMs: 60_000 },
    ]);
    expect(await limiter.getLimits({ entity: 'nobody' })).toEqual([]);
  });

  it('rejects an empty or duplicate limit set', async () => {
    const { limiter } = setup();
    expect(await codeOf(limiter.setLimits({}, []))).toBe('ERR_TOLLGATE_INVALID_LIMIT');
    expect(await codeOf(limiter.setLimits({}, [Limit.perMinute('a', 1), Limit.perMinute('a', 1)]))).toBe(
      'ERR_TOLLGATE_INVALID_LIMIT',
    );
  });

  it('costs no config read on a warm cache and one batch read on a miss, shared by concurrent callers', async () => {
    // A remote store: the cache exists to save its round trips.
    const store = countingStore(asRemote());
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 3)] });
    await Promise.all(Array.from({ length: 20 }, () => limiter.tryAcquire({ entity: 'k' })));
    expect(store.calls['loadConfig']).toBe(1);
    await limiter.tryAcquire({ entity: 'k' });
    expect(store.calls['loadConfig']).toBe(1);
  });

  it('on an in-process store, sees limits another limiter stored at once, without a cache to expire', async () => {
    const store = new MemoryStore();
    const clock = new FakeClock();
    const writer = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 1)], clock: clock.read });
    const reader = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 1)], clock: clock.read });
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(false);
    await writer.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 1, { burst: 5 })]);
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    // Back to a burst of 1: the 3 minutes owed must pass before the next one.
    await writer.deleteLimits({ entity: 'k' });
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(false);
    clock.advance(180_000);
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect((await reader.tryAcquire({ entity: 'k' })).allowed).toBe(false);
  });

  it('keeps the default resource of an entity named like an encoded bucket apart from the bucket it spells', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 2)]);
    // `\0` + bucketId('a', 'x') is what the store keys (a, x) by; an entity may be named exactly that.
    const lookalike = '\u00001:ax';
    await limiter.setLimits({ entity: lookalike }, [Limit.perMinute('rpm', 5)]);
    await limiter.acquire({ entity: 'a', resource: 'x', consume: { rpm: 2 } });
    expect(await limiter.available({ entity: 'a', resource: 'x' })).toEqual({ rpm: 0 });
    expect(await limiter.available({ entity: lookalike })).toEqual({ rpm: 5 });
    await limiter.acquire({ entity: lookalike, consume: { rpm: 1 } });
    expect(await limiter.available({ entity: lookalike })).toEqual({ rpm: 4 });
    expect(await limiter.available({ entity: 'a', resource: 'x' })).toEqual({ rpm: 0 });
  });

  it('sees its own limit changes at once, without waiting for the cache', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    await limiter.acquire({ entity: 'k' });
    expect(await limiter.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: false, retryAfterMs: 60_000 });
    // The empty bucket stays empty, but now refills one token every 6 s.
    await limiter.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 10)]);
    expect(await limiter.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: false, retryAfterMs: 6_000 });
    await limiter.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 10, { burst: 20 })]);
    expect(await limiter.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: true });
  });
});

describe('cascade', () => {
  async function hierarchy() {
    const context = setup([Limit.perMinute('rpm', 100)]);
    const { limiter } = context;
    await limiter.createEntity({ id: 'org', name: 'Org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 5)]);
    await limiter.createEntity({ id: 'key-1', parent: 'org', cascade: true });
    await limiter.createEntity({ id: 'key-2', parent: 'org', cascade: true });
    await limiter.createEntity({ id: 'key-3', parent: 'org' });
    return context;
  }

  it('charges the entity and its parent together, and the parent limit caps all children', async () => {
    const { limiter } = await hierarchy();
    let admitted = 0;
    for (let i = 0; i < 10; i += 1) {
      for (const entity of ['key-1', 'key-2'])
        if ((await limiter.tryAcquire({ entity })).allowed) admitted += 1;
    }
    expect(admitted).toBe(5);
  });

  it('charges nothing anywhere when the parent is short', async () => {
    const { limiter } = await hierarchy();
    for (let i = 0; i < 5; i += 1) await limiter.acquire({ entity: 'key-1' });
    const decision = await limiter.tryAcquire({ entity: 'key-2' });
    expect(decision.allowed).toBe(false);
    expect(decision.statuses.find((s) => s.entity === 'org')).toMatchObject({ exceeded: true, depth: 1 });
    expect((await limiter.available({ entity: 'key-2', limits: [Limit.perMinute('rpm', 100)] }))['rpm']).toBe(
      0,
    );
    expect((await limiter.available({ entity: 'key-3' }))['rpm']).toBe(100);
  });

  it('does not charge the parent of an entity without cascade', async () => {
    const { limiter } = await hierarchy();
    for (let i = 0; i < 10; i += 1) await limiter.acquire({ entity: 'key-3' });
    expect((await limiter.tryAcquire({ entity: 'key-1' })).allowed).toBe(true);
  });

  it('charges every cascading ancestor, and refunds all of them on rollback', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 100)]);
    await limiter.createEntity({ id: 'root' });
    await limiter.createEntity({ id: 'mid', parent: 'root', cascade: true });
    await limiter.createEntity({ id: 'leaf', parent: 'mid', cascade: true });
    await limiter.setLimits({ entity: 'root' }, [Limit.perMinute('rpm', 2)]);
    await limiter.setLimits({ entity: 'mid' }, [Limit.perMinute('rpm', 3)]);
    const lease = await limiter.acquire({ entity: 'leaf' });
    expect(await limiter.available({ entity: 'root' })).toEqual({ rpm: 1 });
    expect(await limiter.available({ entity: 'leaf' })).toEqual({ rpm: 1 });
    await lease.rollback();
    expect(await limiter.available({ entity: 'leaf' })).toEqual({ rpm: 2 });
  });

  it('stops at a cycle in stored parent links', async () => {
    const store = new MemoryStore({ maxKeys: 10 });
    await store.createEntity({ id: 'a', parent: 'b', cascade: true, createdAt: '' });
    await store.createEntity({ id: 'b', parent: 'a', cascade: true, createdAt: '' });
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 2)] });
    await limiter.setLimits({ entity: 'b' }, [Limit.perMinute('rpm', 5)]);
    const decision = await limiter.tryAcquire({ entity: 'a' });
    expect(decision.statuses.map((s) => s.entity)).toEqual(['a', 'b']);
  });
});

describe('entities', () => {
  it('creates, reads, lists children and deletes', async () => {
    const { limiter } = setup();
    const org = await limiter.createEntity({ id: 'org', name: 'Acme', metadata: { plan: 'pro' } });
    expect(org).toMatchObject({ id: 'org', cascade: false, name: 'Acme', metadata: { plan: 'pro' } });
    await limiter.createEntity({ id: 'k1', parent: 'org', cascade: true });
    expect(await limiter.getEntity('org')).toMatchObject({ id: 'org', name: 'Acme' });
    expect((await limiter.getChildren('org')).map((e) => e.id)).toEqual(['k1']);
    expect(await codeOf(limiter.deleteEntity('org'))).toBe('ERR_TOLLGATE_ENTITY_HAS_CHILDREN');
    expect(await limiter.deleteEntity('k1')).toBe(true);
    expect(await limiter.deleteEntity('org')).toBe(true);
    expect(await limiter.getEntity('org')).toBeNull();
    expect(await limiter.deleteEntity('org')).toBe(false);
  });

  it('refuses duplicates, missing parents and self-parenting with coded errors', async () => {
    const { limiter } = setup();
    await limiter.createEntity({ id: 'a' });
    expect(await codeOf(limiter.createEntity({ id: 'a' }))).toBe('ERR_TOLLGATE_ENTITY_EXISTS');
    expect(await codeOf(limiter.createEntity({ id: 'b', parent: 'missing' }))).toBe(
      'ERR_TOLLGATE_ENTITY_NOT_FOUND',
    );
    expect(await codeOf(limiter.createEntity({ id: 'c', parent: 'c' }))).toBe('ERR_TOLLGATE_ENTITY_CYCLE');
  });

  it('deletes the buckets of a deleted entity', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    await limiter.createEntity({ id: 'k' });
    await limiter.acquire({ entity: 'k' });
    await limiter.deleteEntity('k');
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1 });
  });
});

describe('leases', () => {
  it('writes nothing for a plain commit', async () => {
    const { limiter, store } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 100 } });
    await lease.commit();
    expect(store.calls['adjust'] ?? 0).toBe(0);
  });

  it('writes adjustments once, at commit, and may go into debt', async () => {
    const { limiter, store } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 500 } });
    await lease.adjust({ tpm: 300 });
    await lease.adjust({ tpm: 400 });
    expect(store.calls['adjust'] ?? 0).toBe(0);
    expect(lease.consumed).toEqual({ rpm: 1, tpm: 1200 });
    await lease.commit();
    expect(store.calls['adjust']).toBe(1);
    // 200 tokens in debt: available() shows how deep.
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: -200 });
    expect(await limiter.timeUntilAvailable({ entity: 'k', consume: { tpm: 1 } })).toBe(12_060);
  });

  it('refunds with a negative adjustment, never above capacity', async () => {
    const { limiter } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 500 } });
    await lease.adjust({ tpm: -400 });
    await lease.commit();
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 900 });
  });

  it('can charge a limit that the acquire did not (actual tokens after the response)', async () => {
    const { limiter } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1 } });
    await lease.adjust({ tpm: 742 });
    await lease.commit();
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 258 });
  });

  it('restores exactly what the lease took on rollback, dropping pending adjustments', async () => {
    const { limiter } = setup();
    await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 100 } });
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 300 } });
    await lease.adjust({ tpm: 200 });
    await lease.rollback();
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 900 });
  });

  it('throws a coded error when used after it is closed, and release is idempotent', async () => {
    const { limiter } = setup();
    const lease = await limiter.acquire({ entity: 'k' });
    await lease.commit();
    expect(await codeOf(lease.commit())).toBe('ERR_TOLLGATE_LEASE_CLOSED');
    expect(await codeOf(lease.rollback())).toBe('ERR_TOLLGATE_LEASE_CLOSED');
    expect(await codeOf(lease.adjust({ tpm: 1 }))).toBe('ERR_TOLLGATE_LEASE_CLOSED');
    await expect(lease.release()).resolves.toBeUndefined();
  });

  it('rejects adjustments of unknown limits or below zero', async () => {
    const { limiter } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 10 } });
    expect(await codeOf(lease.adjust({ other: 1 }))).toBe('ERR_TOLLGATE_UNKNOWN_LIMIT');
    expect(await codeOf(lease.adjust({ tpm: -11 }))).toBe('ERR_TOLLGATE_INVALID_COST');
    expect(await codeOf(lease.adjust({ tpm: 1.5 }))).toBe('ERR_TOLLGATE_INVALID_COST');
  });

  it('commits at the end of an `await using` scope', async () => {
    const { limiter } = setup();
    {
      await using lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1, tpm: 10 } });
      await lease.adjust({ tpm: 90 });
    }
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 900 });
  });

  it('withLease commits on success and rolls back on throw', async () => {
    const { limiter } = setup();
    await expect(limiter.withLease({ entity: 'k', consume: { rpm: 1 } }, async () => 'ok')).resolves.toBe(
      'ok',
    );
    await expect(
      limiter.withLease({ entity: 'k', consume: { rpm: 1 } }, async () => {
        throw new Error('model failed');
      }),
    ).rejects.toThrow('model failed');
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ rpm: 2 });
  });
});

describe('deny cache', () => {
  it('answers repeated rejections without a store call until the wait has passed', async () => {
    const { limiter, store, clock } = setup([Limit.perMinute('rpm', 1)]);
    await limiter.acquire({ entity: 'k' });
    await limiter.tryAcquire({ entity: 'k' });
    expect(store.calls['charge']).toBe(2);
    for (let i = 0; i < 5; i += 1) {
      const decision = await limiter.tryAcquire({ entity: 'k' });
      expect(decision.allowed).toBe(false);
      expect(decision.allowed ? 0 : decision.retryAfterMs).toBe(60_000 - i * 1000);
      clock.advance(1000);
    }
    expect(store.calls['charge']).toBe(2);
    clock.advance(55_000);
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
    expect(store.calls['charge']).toBe(3);
  });

  it('forgets a bucket when this limiter refunds it', async () => {
    const { limiter } = setup([Limit.perMinute('rpm', 1)]);
    const lease = await limiter.acquire({ entity: 'k' });
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(false);
    await lease.rollback();
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);
  });
});

describe('waiting for capacity', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits until allowed instead of throwing', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 10 }),
      limits: [Limit.perSecond('rps', 1)],
    });
    await limiter.acquire({ entity: 'k' });
    let settled = false;
    const waiting = limiter.acquire({ entity: 'k', wait: { maxMs: 5000 } }).then((lease) => {
      settled = true;
      return lease;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).resolves.toBeDefined();
  });

  it('throws at once when the wait would exceed maxMs', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 10 }),
      limits: [Limit.perMinute('rpm', 1)],
    });
    await limiter.acquire({ entity: 'k' });
    const error = await limiter.acquire({ entity: 'k', wait: { maxMs: 1000 } }).catch((e: unknown) => e);
    expect(isRateLimitExceeded(error)).toBe(true);
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 10 }),
      limits: [Limit.perMinute('rpm', 1)],
    });
    await limiter.acquire({ entity: 'k' });
    const controller = new AbortController();
    const waiting = limiter
      .acquire({ entity: 'k', wait: { maxMs: 120_000, signal: controller.signal } })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('shutting down'));
    expect(await waiting).toEqual(new Error('shutting down'));
  });
});

/** `inner` as a store the limiter puts deadlines on, with `charge` replaced if given. */
function networkLike(inner: Store, charge?: (request: ChargeRequest) => Promise<ChargeResult>): Store {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'inProcess') return false;
      if (property === 'charge' && charge) return charge;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('store failures', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('turns a failing store into RateLimiterUnavailable with the cause, never a limit', async () => {
    const limiter = new RateLimiter({ store: failingStore('throw'), limits: [Limit.perMinute('rpm', 1)] });
    const error = await limiter.tryAcquire({ entity: 'k' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimiterUnavailable);
    expect((error as RateLimiterUnavailable).code).toBe('ERR_TOLLGATE_UNAVAILABLE');
    expect(((error as Error).cause as Error).message).toContain('ECONNREFUSED');
  });

  it('gives up on a hanging store after timeoutMs', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({
      store: failingStore('hang'),
      limits: [Limit.perMinute('rpm', 1)],
      timeoutMs: 200,
    });
    const outcome = limiter.tryAcquire({ entity: 'k' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    const error = await outcome;
    expect(error).toBeInstanceOf(RateLimiterUnavailable);
    expect((error as Error).message).toContain('timeoutMs (200 ms)');
  });

  it('gives the calls of one millisecond one deadline, and leaves at most one idle timer behind them', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const signals: AbortSignal[] = [];
    const inner = new MemoryStore({ maxKeys: 10 });
    const hanging = networkLike(inner, (request) => {
      signals.push(request.signal);
      return new Promise<never>(() => undefined);
    });
    const limiter = new RateLimiter({ store: hanging, limits: [Limit.perMinute('rpm', 5)], timeoutMs: 200 });
    const first = limiter.tryAcquire({ entity: 'a' }).catch((e: unknown) => e);
    const second = limiter.tryAcquire({ entity: 'b' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1);
    const third = limiter.tryAcquire({ entity: 'c' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(signals).toHaveLength(3);
    expect(signals[0]).toBe(signals[1]);
    expect(signals[2]).not.toBe(signals[0]);
    await vi.advanceTimersByTimeAsync(199);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[2]?.aborted).toBe(false);
    for (const outcome of [await first, await second]) {
      expect(outcome).toBeInstanceOf(RateLimiterUnavailable);
      expect((outcome as Error).message).toBe('Store call `charge` did not finish within timeoutMs (200 ms)');
    }
    await vi.advanceTimersByTimeAsync(1);
    expect(await third).toBeInstanceOf(RateLimiterUnavailable);
    // Finished calls leave at most one idle timer per timeoutMs, replaced by the next millisecond's.
    const quick = new RateLimiter({ store: networkLike(inner), limits: [Limit.perMinute('rpm', 5)] });
    await Promise.all([quick.tryAcquire({ entity: 'x' }), quick.tryAcquire({ entity: 'y' })]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await quick.tryAcquire({ entity: 'z' });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("admits degraded under 'allow', warns once per outage, and recovers without a restart", async () => {
    const store = failingStore('throw');
    const logger = new RecordingLogger();
    const limiter = new RateLimiter({
      store,
      limits: [Limit.perMinute('rpm', 1)],
      onUnavailable: 'allow',
      logger,
    });
    for (let i = 0; i < 3; i += 1) {
      const decision = await limiter.tryAcquire({ entity: 'k' });
      expect(decision).toMatchObject({ allowed: true, degraded: true });
      if (decision.allowed) await decision.lease.commit();
    }
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]?.details?.['code']).toBe('WARN_TOLLGATE_DEGRADED');
    store.failing = false;
    expect(await limiter.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: true, degraded: false });
    expect(await limiter.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: false });
  });

  it('does not degrade validation errors', async () => {
    const limiter = new RateLimiter({
      store: failingStore('throw'),
      limits: [Limit.perMinute('rpm', 1)],
      onUnavailable: 'allow',
    });
    expect(await codeOf(limiter.tryAcquire({ entity: '' }))).toBe('ERR_TOLLGATE_INVALID_KEY');
  });
});

describe('usage', () => {
  it('reports hourly and daily consumption net of refunds', async () => {
    const { limiter } = setup();
    const a = await limiter.acquire({ entity: 'k', resource: 'gpt', consume: { rpm: 1, tpm: 100 } });
    await a.adjust({ tpm: 50 });
    await a.commit();
    const b = await limiter.acquire({ entity: 'k', resource: 'gpt', consume: { rpm: 1, tpm: 10 } });
    await b.rollback();
    const hours = await limiter.getUsage({ entity: 'k', window: 'hour' });
    expect(hours).toHaveLength(1);
    expect(hours[0]).toMatchObject({
      entity: 'k',
      resource: 'gpt',
      window: 'hour',
      consumed: { rpm: 1, tpm: 150 },
    });
    const days = await limiter.getUsage({ entity: 'k', resource: 'gpt', window: 'day' });
    expect(days[0]?.consumed).toEqual({ rpm: 1, tpm: 150 });
  });
});

describe("decideNow, the adapters' entry", () => {
  it('answers an in-process decision as a plain value, the same as tryAcquire would', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 1)] });
    const admitted = limiter.decideNow({ entity: 'k' });
    expect(admitted).not.toBeInstanceOf(Promise);
    expect(admitted).toMatchObject({ allowed: true });
    const limited = limiter.decideNow({ entity: 'k' });
    expect(limited).not.toBeInstanceOf(Promise);
    expect(limited).toMatchObject({ allowed: false, retryAfterMs: expect.any(Number) });
    expect(() => limiter.decideNow({ entity: '' })).toThrow(ValidationError);
  });

  it('awaits a store that is not in process, or a call with a signal', async () => {
    const remote = new RateLimiter({ store: asRemote(), limits: [Limit.perMinute('rpm', 1)] });
    const pending = remote.decideNow({ entity: 'k' });
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toMatchObject({ allowed: true });
    const local = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 1)] });
    expect(local.decideNow({ entity: 'k', signal: new AbortController().signal })).toBeInstanceOf(Promise);
  });
});
