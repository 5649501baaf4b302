import { Limit, MemoryStore, RateLimiter, rateLimitHeaders, type Store } from '@tollgate/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { countingStore } from './helpers.js';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** A store whose calls of `method` resolve only after `delayMs` (a slow network). */
function delayed(inner: Store, method: 'charge' | 'adjust', delayMs: number): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'inProcess') return false;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('a lease is settled exactly once', () => {
  function setup(store: Store = countingStore()) {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ store, limits: [Limit.perMinute('tpm', 10)], clock: clock.read });
    return { limiter, store: store as Store & { calls: Record<string, number> } };
  }

  it('refunds once when two rollbacks race', async () => {
    const { limiter, store } = setup();
    const first = await limiter.acquire({ entity: 'k', consume: { tpm: 5 } });
    await limiter.acquire({ entity: 'k', consume: { tpm: 5 } });
    await Promise.all([first.rollback(), first.rollback()]);
    expect(store.calls['adjust']).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 5 });
  });

  it('charges a pending adjustment once when two commits race', async () => {
    const { limiter, store } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { tpm: 2 } });
    await lease.adjust({ tpm: 3 });
    await Promise.all([lease.commit(), lease.commit()]);
    expect(store.calls['adjust']).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 5 });
  });

  it('lets the first of a commit and a rollback win; the other gets a coded error', async () => {
    const { limiter, store } = setup();
    const lease = await limiter.acquire({ entity: 'k', consume: { tpm: 2 } });
    await lease.adjust({ tpm: 3 });
    const [commit, rollback] = await Promise.allSettled([lease.commit(), lease.rollback()]);
    expect(commit.status).toBe('fulfilled');
    expect(rollback.status).toBe('rejected');
    expect((rollback as PromiseRejectedResult).reason).toMatchObject({
      code: 'ERR_TOLLGATE_LEASE_CLOSED',
      message: expect.stringContaining('already committed'),
    });
    expect(store.calls['adjust']).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 5 });
    expect(lease.settledBy).toBe('commit');
  });

  it('is closed from the moment a settle starts, so release() and adjust() never write again', async () => {
    const inner = countingStore();
    const { limiter } = setup(delayed(inner, 'adjust', 30));
    const lease = await limiter.acquire({ entity: 'k', consume: { tpm: 4 } });
    const rollback = lease.rollback();
    expect(lease.isClosed).toBe(true);
    expect(await codeOf(lease.adjust({ tpm: 1 }))).toBe('ERR_TOLLGATE_LEASE_CLOSED');
    await Promise.all([rollback, lease.release(), lease.rollback()]);
    expect(inner.calls['adjust']).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 10 });
  });
});

describe('limit names that are Object.prototype members', () => {
  const limits = [
    Limit.perMinute('rpm', 10),
    Limit.perMinute('constructor', 10),
    Limit.perMinute('valueOf', 10),
  ];

  it('cannot mint tokens by refunding a limit the lease holds none of', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits, clock: new FakeClock().read });
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1 } });
    expect(Object.keys(lease.consumed)).toEqual(['rpm']);
    expect(await codeOf(lease.adjust({ constructor: -10 }))).toBe('ERR_TOLLGATE_INVALID_COST');
    expect(await codeOf(lease.adjust({ valueOf: -1 }))).toBe('ERR_TOLLGATE_INVALID_COST');
    await lease.commit();
    expect({ ...(await limiter.available({ entity: 'k' })) }).toEqual({
      rpm: 9,
      constructor: 10,
      valueOf: 10,
    });
  });

  it('counts usage and availability of such limits as numbers', async () => {
    const store = new MemoryStore();
    const limiter = new RateLimiter({ store, limits, clock: new FakeClock().read });
    const lease = await limiter.acquire({ entity: 'k', consume: { constructor: 2 } });
    await lease.adjust({ constructor: 1 });
    await lease.commit();
    expect({ ...(await limiter.available({ entity: 'k' })) }).toEqual({
      rpm: 10,
      constructor: 7,
      valueOf: 10,
    });
    const [hour] = await limiter.getUsage({ entity: 'k', window: 'hour' });
    expect({ ...hour?.consumed }).toEqual({ constructor: 3 });
  });
});

describe('consume must be a plain object of own costs', () => {
  class Costs {
    get rpm(): number {
      return 1;
    }
  }
  const cases: [string, unknown][] = [
    ['a Map', new Map([['rpm', 1]])],
    ['a class instance with getters', new Costs()],
    ['an object inheriting its costs', Object.create({ rpm: 1 })],
    ['an array', [1]],
  ];

  it.each(cases)('refuses %s with a ValidationError and charges nothing', async (_name, consume) => {
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.perMinute('rpm', 1)],
      clock: new FakeClock().read,
    });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const error = await limiter
        .tryAcquire({ entity: 'k', consume: consume as Record<string, number> })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'ValidationError', code: 'ERR_TOLLGATE_INVALID_COST' });
    }
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1 });
  });

  it('refuses a getter on a plain object, whose value could change between reads', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 1)] });
    const consume = Object.defineProperty({}, 'rpm', { get: () => 1, enumerable: true });
    expect(await codeOf(limiter.tryAcquire({ entity: 'k', consume }))).toBe('ERR_TOLLGATE_INVALID_COST');
  });

  it('accepts a null-prototype object', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 2)] });
    const consume = Object.assign(Object.create(null) as Record<string, number>, { rpm: 2 });
    expect((await limiter.tryAcquire({ entity: 'k', consume })).allowed).toBe(true);
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 0 });
  });
});

describe('stored limits reach other processes within configCacheTtlMs', () => {
  it('enforces no config older than the TTL, even in plans built later from cached entries', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore();
    const ttl = 2000;
    const options = {
      store,
      limits: [Limit.perMinute('rpm', 100)],
      clock: clock.read,
      configCacheTtlMs: ttl,
    };
    const writer = new RateLimiter(options);
    const reader = new RateLimiter(options);
    const changedAt = clock.nowMs + 100;
    // The reader caches the entity's config (via resource r1) before the change...
    await reader.acquire({ entity: 'k', resource: 'r1' });
    clock.nowMs = changedAt;
    await writer.setLimits({ entity: 'k' }, [Limit.perMinute('rpm', 5)]);
    // ...and builds a plan for r2 from those cached entries 1.5 s later.
    clock.advance(1400);
    // Every decision's config is at most `ttl` old: after changedAt + ttl, only the new limit.
    for (let step = 0; step < 30; step += 1) {
      const decision = await reader.tryAcquire({ entity: 'k', resource: 'r2' });
      const capacity = decision.statuses[0]?.capacity;
      if (clock.nowMs >= changedAt + ttl) expect(capacity).toBe(5);
      else expect([5, 100]).toContain(capacity);
      clock.advance(100);
    }
  });
});

describe('an abort or deadline during a store call', () => {
  const limits = [Limit.perMinute('rpm', 1)];
  const never = new AbortController().signal;

  it('reaches the charge in wait mode: the promise rejects at once and a late charge is refunded', async () => {
    const inner = new MemoryStore();
    const limiter = new RateLimiter({ store: delayed(inner, 'charge', 150), limits, timeoutMs: 5000 });
    const controller = new AbortController();
    const acquiring = limiter.acquire({ entity: 'k', wait: { maxMs: 60_000, signal: controller.signal } });
    setTimeout(() => controller.abort(), 20);
    await expect(acquiring).rejects.toMatchObject({ name: 'AbortError' });
    // The charge lands 150 ms after it was sent, then is refunded.
    await limiter.close();
    const [state] = await inner.getBuckets({ keys: [{ entity: 'k', resource: 'default' }], signal: never });
    expect(state?.tats.size).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1 });
  });

  it('refunds a charge that lands after the call missed its deadline; close() waits for it', async () => {
    const inner = new MemoryStore();
    const limiter = new RateLimiter({ store: delayed(inner, 'charge', 120), limits, timeoutMs: 30 });
    await expect(limiter.acquire({ entity: 'k' })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_UNAVAILABLE',
    });
    await limiter.close();
    const [state] = await inner.getBuckets({ keys: [{ entity: 'k', resource: 'default' }], signal: never });
    expect(state?.tats.size).toBe(1);
    expect(await new RateLimiter({ store: inner, limits }).available({ entity: 'k' })).toEqual({ rpm: 1 });
  });

  it('rejects a tryAcquire whose own signal aborts, refunding what landed', async () => {
    const inner = new MemoryStore();
    const limiter = new RateLimiter({ store: delayed(inner, 'charge', 80), limits });
    const deciding = limiter.tryAcquire({ entity: 'k', signal: AbortSignal.timeout(10) });
    await expect(deciding).rejects.toMatchObject({ name: 'TimeoutError' });
    await limiter.close();
    expect(await new RateLimiter({ store: inner, limits }).available({ entity: 'k' })).toEqual({ rpm: 1 });
  });

  it('reports a store method that throws instead of rejecting as unavailable, with no stray timer', async () => {
    const throwing = new Proxy(new MemoryStore(), {
      get(target, property, receiver) {
        if (property === 'inProcess') return false;
        if (property === 'charge') {
          return () => {
            throw new Error('bug in a custom store');
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const limiter = new RateLimiter({ store: throwing, limits, timeoutMs: 20 });
    await expect(limiter.tryAcquire({ entity: 'k' })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_UNAVAILABLE',
    });
    // A deadline timer left running would reject unhandled after timeoutMs.
    await new Promise((resolve) => setTimeout(resolve, 60));
  });

  it.each(['chargeSync', 'loadConfigSync'])(
    'reports an in-process store whose %s throws as unavailable, and admits degraded under allow',
    async (method) => {
      const broken = new Proxy(new MemoryStore(), {
        get(target, property) {
          if (property === method) {
            return () => {
              throw new Error('bug in an in-process store');
            };
          }
          // Read off the store itself, so its other synchronous call stays on offer.
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const blocking = new RateLimiter({ store: broken, limits });
      await expect(blocking.tryAcquire({ entity: 'k' })).rejects.toMatchObject({
        code: 'ERR_TOLLGATE_UNAVAILABLE',
        cause: { message: 'bug in an in-process store' },
      });
      const allowing = new RateLimiter({
        store: broken,
        limits,
        onUnavailable: 'allow',
        logger: new RecordingLogger(),
      });
      expect(await allowing.tryAcquire({ entity: 'k' })).toMatchObject({ allowed: true, degraded: true });
    },
  );

  it('calls a MemoryStore whose charge was replaced through the replacement, not its synchronous path', async () => {
    class FlakyStore extends MemoryStore {
      down = true;
      override async charge(request: Parameters<MemoryStore['charge']>[0]) {
        if (this.down) throw new Error('connect ECONNREFUSED');
        return super.charge(request);
      }
    }
    const subclassed = new FlakyStore();
    expect(subclassed.chargeSync).toBeUndefined();
    const limiter = new RateLimiter({ store: subclassed, limits });
    await expect(limiter.tryAcquire({ entity: 'k' })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_UNAVAILABLE',
    });
    subclassed.down = false;
    expect((await limiter.tryAcquire({ entity: 'k' })).allowed).toBe(true);

    const patched = new MemoryStore();
    patched.charge = () => Promise.reject(new Error('connection refused'));
    const patchedLimiter = new RateLimiter({ store: patched, limits });
    await expect(patchedLimiter.tryAcquire({ entity: 'k' })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_UNAVAILABLE',
    });
  });

  it('refuses a signal that is not an AbortSignal', async () => {
    const limiter = new RateLimiter({ store: new MemoryStore(), limits });
    const signal = { aborted: false } as unknown as AbortSignal;
    expect(await codeOf(limiter.tryAcquire({ entity: 'k', signal }))).toBe('ERR_TOLLGATE_INVALID_OPTION');
  });
});

describe('waits longer than a timer can hold', () => {
  it('sleep without spinning: one rejected try, then quiet', async () => {
    const store = countingStore();
    const day = 24 * 60 * 60 * 1000;
    const limit = Limit.custom({ name: 'monthly', capacity: 1, refillAmount: 1, refillPeriodMs: 30 * day });
    const limiter = new RateLimiter({ store, limits: [limit], denyCache: false });
    await limiter.acquire({ entity: 'k' });
    const controller = new AbortController();
    const waiting = limiter.acquire({ entity: 'k', wait: { maxMs: 31 * day, signal: controller.signal } });
    waiting.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(store.calls['charge']).toBe(2);
  });
});

describe('available tokens in debt', () => {
  it('reports how deep a bucket is in debt, while headers say 0 remaining', async () => {
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.perMinute('tpm', 100)],
      clock: new FakeClock().read,
    });
    const lease = await limiter.acquire({ entity: 'k', consume: { tpm: 100 } });
    await lease.adjust({ tpm: 40 });
    await lease.commit();
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: -40 });
    const decision = await limiter.tryAcquire({ entity: 'k', consume: { tpm: 1 } });
    expect(decision.allowed).toBe(false);
    expect(decision.statuses[0]?.available).toBe(-40);
    const headers = rateLimitHeaders(decision.statuses, { standard: 'draft-8', legacy: true, nowMs: 0 });
    expect(headers['RateLimit']).toMatch(/^"tpm";r=0;/);
    expect(headers['X-RateLimit-Remaining']).toBe('0');
  });
});

describe('a clock that steps back, then forward', () => {
  afterEach(() => vi.useRealTimers());

  it('is not credited twice: the limiter never uses a time before one it already used', async () => {
    const clock = new FakeClock(1_000_000);
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.custom({ name: 'r', capacity: 10, refillAmount: 1, refillPeriodMs: 1000 })],
      clock: clock.read,
      logger: new RecordingLogger(),
    });
    await limiter.acquire({ entity: 'k', consume: { r: 10 } });
    clock.advance(20_000);
    expect(await limiter.available({ entity: 'k' })).toEqual({ r: 10 });
    clock.nowMs -= 15_000; // NTP steps the clock back...
    expect((await limiter.tryAcquire({ entity: 'k', consume: { r: 5 } })).allowed).toBe(true);
    clock.nowMs += 15_000; // ...and forward again.
    expect((await limiter.tryAcquire({ entity: 'k', consume: { r: 10 } })).allowed).toBe(false);
    expect(await limiter.available({ entity: 'k' })).toEqual({ r: 5 });
  });
});
