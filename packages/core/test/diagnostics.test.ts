import { channel } from 'node:diagnostics_channel';
import {
  DECISION_CHANNEL,
  type DecisionMessage,
  LEASE_CHANNEL,
  type LeaseSettlementMessage,
  Limit,
  MemoryStore,
  RateLimiter,
  RateLimiterUnavailable,
  recordRoundTrips,
  STORE_CHANNEL,
  type Store,
  type StoreCallMessage,
  subscribeDiagnostics,
  ValidationError,
} from '@tollgate/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { diagnosticsMessages } from '../src/diagnostics.js';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { failingStore } from './helpers.js';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  vi.restoreAllMocks();
});

function record(): {
  decisions: DecisionMessage[];
  stores: StoreCallMessage[];
  leases: LeaseSettlementMessage[];
} {
  const seen = {
    decisions: [] as DecisionMessage[],
    stores: [] as StoreCallMessage[],
    leases: [] as LeaseSettlementMessage[],
  };
  stops.push(
    subscribeDiagnostics({
      decision: (message) => seen.decisions.push(message),
      store: (message) => seen.stores.push(message),
      lease: (message) => seen.leases.push(message),
    }),
  );
  return seen;
}

/** Every method of `store`, bound to it, as own properties: a base to override a few of. */
function bound(store: MemoryStore): Store {
  type Method = (...args: unknown[]) => unknown;
  const own = store as unknown as Record<string, Method>;
  const methods = Object.getOwnPropertyNames(MemoryStore.prototype).filter(
    (name) => name !== 'constructor' && !name.endsWith('Sync') && typeof own[name] === 'function',
  );
  return Object.fromEntries(methods.map((name) => [name, own[name]!.bind(store)])) as unknown as Store;
}

function limiter(options: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {}): RateLimiter {
  return new RateLimiter({
    store: new MemoryStore({ maxKeys: 100 }),
    limits: [Limit.perMinute('rpm', 1)],
    clock: new FakeClock().read,
    configCacheMaxEntries: 100,
    ...options,
  });
}

describe('diagnostics channels', () => {
  it('publishes one decision message per outcome, with the limit that was short', async () => {
    const seen = record();
    const rl = limiter();
    await rl.tryAcquire({ entity: 'key-1', resource: 'chat' });
    await rl.tryAcquire({ entity: 'key-1', resource: 'chat' });
    await expect(rl.tryAcquire({ entity: 'key-1', consume: { nope: 1 } })).rejects.toBeInstanceOf(
      ValidationError,
    );

    expect(seen.decisions.map(({ durationMs, error, ...rest }) => rest)).toEqual([
      { entity: 'key-1', resource: 'chat', outcome: 'admitted', degraded: false },
      {
        entity: 'key-1',
        resource: 'chat',
        outcome: 'limited',
        limit: 'rpm',
        depth: 0,
        retryAfterMs: 60_000,
        degraded: false,
      },
      { entity: 'key-1', resource: 'default', outcome: 'invalid', degraded: false },
    ]);
    for (const message of seen.decisions) expect(message.durationMs).toBeGreaterThanOrEqual(0);
    expect(seen.decisions[2]?.error).toBeInstanceOf(ValidationError);
  });

  it("reports a failing store as 'unavailable', also when the request is admitted degraded", async () => {
    const seen = record();
    const store = failingStore('throw');
    await expect(limiter({ store }).tryAcquire({ entity: 'k' })).rejects.toBeInstanceOf(
      RateLimiterUnavailable,
    );
    const degraded = await limiter({
      store,
      onUnavailable: 'allow',
      logger: new RecordingLogger(),
    }).tryAcquire({
      entity: 'k',
    });
    expect(degraded.degraded).toBe(true);
    expect(seen.decisions.map(({ outcome, degraded }) => ({ outcome, degraded }))).toEqual([
      { outcome: 'unavailable', degraded: false },
      { outcome: 'unavailable', degraded: true },
    ]);
    expect(seen.stores.map(({ operation }) => operation)).toEqual(['loadConfig', 'loadConfig']);
    expect(seen.stores[0]?.error).toBeInstanceOf(RateLimiterUnavailable);
  });

  it('publishes every store call, in-process charges included, and no error on success', async () => {
    const seen = record();
    const rl = limiter();
    await (await rl.acquire({ entity: 'key-1' })).rollback();
    expect(seen.stores.map((message) => [message.operation, 'error' in message])).toEqual([
      ['loadConfig', false],
      ['charge', false],
      ['adjust', false],
    ]);
  });

  it('carries round trips: 0 on an in-process store, what a reporting store recorded, none when a store does not report', async () => {
    const seen = record();
    await limiter().tryAcquire({ entity: 'key-1' });
    expect(seen.stores.map(({ operation, roundTrips }) => [operation, roundTrips])).toEqual([
      ['loadConfig', 0],
      ['charge', 0],
    ]);

    // A network-like store in front of a MemoryStore: two requests per charge, one per config read.
    const inner = new MemoryStore({ maxKeys: 100 });
    const reporting: Store = {
      ...bound(inner),
      inProcess: false,
      reportsRoundTrips: true,
      loadConfig: async (request) => {
        recordRoundTrips();
        return inner.loadConfig(request);
      },
      charge: async (request) => {
        recordRoundTrips();
        await new Promise((resolve) => setImmediate(resolve));
        recordRoundTrips();
        return inner.charge(request);
      },
    };
    seen.stores.length = 0;
    await limiter({ store: reporting }).tryAcquire({ entity: 'key-1' });
    expect(seen.stores.map(({ operation, roundTrips }) => [operation, roundTrips])).toEqual([
      ['loadConfig', 1],
      ['charge', 2],
    ]);

    seen.stores.length = 0;
    await limiter({ store: { ...reporting, reportsRoundTrips: false } }).tryAcquire({ entity: 'key-1' });
    expect(seen.stores).toHaveLength(2);
    for (const message of seen.stores) expect(message).not.toHaveProperty('roundTrips');
  });

  it('publishes one settlement per lease, even when settle calls race', async () => {
    const seen = record();
    const rl = limiter({ limits: [Limit.perMinute('rpm', 5)] });
    const committed = await rl.acquire({ entity: 'key-1', resource: 'chat' });
    await Promise.all([committed.commit(), committed.commit(), committed.release()]);
    const rolledBack = await rl.acquire({ entity: 'key-1', resource: 'chat' });
    await rolledBack.rollback();
    await expect(rolledBack.commit()).rejects.toThrow();
    expect(seen.leases.map(({ durationMs, ...rest }) => rest)).toEqual([
      { kind: 'commit', entity: 'key-1', resource: 'chat', degraded: false },
      { kind: 'rollback', entity: 'key-1', resource: 'chat', degraded: false },
    ]);
  });

  it('builds no message and publishes nothing while nobody subscribes', async () => {
    const builders = [
      vi.spyOn(diagnosticsMessages, 'decision'),
      vi.spyOn(diagnosticsMessages, 'failedDecision'),
      vi.spyOn(diagnosticsMessages, 'storeCall'),
      vi.spyOn(diagnosticsMessages, 'settlement'),
    ];
    const publishes = [DECISION_CHANNEL, STORE_CHANNEL, LEASE_CHANNEL].map((name) =>
      vi.spyOn(channel(name), 'publish'),
    );
    const rl = limiter();
    await (await rl.acquire({ entity: 'key-1' })).rollback();
    await rl.tryAcquire({ entity: 'key-1' });
    await rl.tryAcquire({ entity: 'key-1' });
    await expect(rl.tryAcquire({ entity: '' })).rejects.toBeInstanceOf(ValidationError);
    for (const spy of [...builders, ...publishes]) expect(spy).not.toHaveBeenCalled();

    // The same calls with a subscriber do build them: the spies are on the right functions.
    record();
    await rl.tryAcquire({ entity: 'key-2' });
    expect(builders[0]).toHaveBeenCalledTimes(1);
    expect(builders[2]).toHaveBeenCalled();
  });

  it('stops delivering once unsubscribed', async () => {
    const seen = record();
    stops.pop()?.();
    await limiter().tryAcquire({ entity: 'key-1' });
    expect(seen.decisions).toEqual([]);
  });
});
