import {
  Limit,
  MemoryStore,
  RateLimiter,
  type RateLimiterOptions,
  recordRoundTrips,
  type Store,
} from '@tollgate/core';

/** Small caches: a limiter's defaults size them for 100 000 keys, slow to allocate in a test. */
export const SMALL_CACHES = {
  configCacheMaxEntries: 100,
  denyCacheMaxEntries: 100,
} satisfies Partial<RateLimiterOptions>;

/** A store whose every call fails, as a database that cannot be reached. */
function unreachableStore(): Store {
  const refuse = (): Promise<never> => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8000'));
  return {
    charge: refuse,
    adjust: refuse,
    getBuckets: refuse,
    loadConfig: refuse,
    createEntity: refuse,
    updateEntity: refuse,
    getChildren: refuse,
    deleteEntity: refuse,
    resetBuckets: refuse,
    putLimits: refuse,
    deleteLimits: refuse,
    getUsage: refuse,
  };
}

/**
 * Real decisions of every outcome, shared by the Prometheus and OpenTelemetry
 * tests: 3 admitted, 1 limited (by `rpm`), 1 invalid, 2 unavailable (one
 * thrown under 'block', one degraded under 'allow'); one lease committed and
 * one rolled back (its refund is one `adjust` store call); 4 `charge` calls
 * answered and 2 `loadConfig` calls failed.
 */
export async function decideEveryOutcome(): Promise<void> {
  const limiter = new RateLimiter({
    store: new MemoryStore({ maxKeys: 100 }),
    limits: [Limit.perMinute('rpm', 2)],
    ...SMALL_CACHES,
  });
  const request = { entity: 'key-1', resource: 'chat', consume: { rpm: 1 } };
  await (await limiter.acquire(request)).commit();
  await (await limiter.acquire(request)).rollback();
  await limiter.acquire(request);
  const limited = await limiter.tryAcquire(request);
  if (limited.allowed) throw new Error('expected the third request within the minute to be limited');
  await expectRejection(limiter.tryAcquire({ entity: 'key-1', consume: { nope: 1 } }), 'ValidationError');

  const unreachable = unreachableStore();
  const blocking = new RateLimiter({
    store: unreachable,
    limits: [Limit.perMinute('rpm', 2)],
    ...SMALL_CACHES,
  });
  await expectRejection(blocking.tryAcquire(request), 'RateLimiterUnavailable');
  const failOpen = new RateLimiter({
    store: unreachable,
    limits: [Limit.perMinute('rpm', 2)],
    onUnavailable: 'allow',
    ...SMALL_CACHES,
    logger: { warn: () => undefined },
  });
  const degraded = await failOpen.tryAcquire(request);
  if (!degraded.degraded) throw new Error('expected a degraded admit');
  await limiter.close();
}

async function expectRejection(decision: Promise<unknown>, name: string): Promise<void> {
  const error = await decision.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof Error) || error.name !== name)
    throw new Error(`expected ${name}, got ${String(error)}`);
}

/**
 * Three admitted decisions over a store that reports its requests as a
 * network store does: one per config read, two per charge (a write and its
 * retry). So 1 `loadConfig` round trip and 6 `charge` round trips.
 */
export async function decideOverReportingStore(): Promise<void> {
  const inner = new MemoryStore({ maxKeys: 100 });
  const store: Store = {
    ...unreachableStore(),
    reportsRoundTrips: true,
    loadConfig: (request) => {
      recordRoundTrips();
      return inner.loadConfig(request);
    },
    charge: (request) => {
      recordRoundTrips(2);
      return inner.charge(request);
    },
  };
  const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 10)], ...SMALL_CACHES });
  for (let index = 0; index < 3; index += 1) await limiter.tryAcquire({ entity: 'key-1' });
}
