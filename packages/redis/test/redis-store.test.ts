import {
  type BucketCharge,
  Limit,
  RateLimiter,
  type StoreCallMessage,
  subscribeDiagnostics,
  ValidationError,
} from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { RedisStore } from '@tollgate/redis';
import { type RedisServer, redisStoreFixture, redisTestClient, startRedisServer } from '@tollgate/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RedisServer;
let fixtures: Array<() => Promise<void>> = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());
afterEach(async () => {
  for (const cleanup of fixtures) await cleanup();
  fixtures = [];
});

async function makeStore(options: Parameters<typeof redisStoreFixture>[1] = {}) {
  const fixture = await redisStoreFixture(server, options);
  fixtures.push(fixture.cleanup);
  return fixture;
}

const signal = (): AbortSignal => new AbortController().signal;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * Watches the commands `client`'s server receives from clients (MONITOR), so a
 * test can tell round trips from the commands its scripts run inside.
 */
async function watchCommands(client: Redis): Promise<{ sent: string[]; stop(): void }> {
  const monitor = await client.duplicate().monitor();
  const sent: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua' && args[0]?.toLowerCase() !== 'info') sent.push(args[0]!.toLowerCase());
  });
  return { sent, stop: () => monitor.disconnect() };
}

/** Calls per command from the server's own INFO commandstats. */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats');
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

function callsBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [command, count] of after) {
    const difference = count - (before.get(command) ?? 0);
    if (difference > 0 && command !== 'info') delta[command] = difference;
  }
  return delta;
}

describe('RedisStore', () => {
  it('does no I/O when constructed and validates its options with exact messages', () => {
    const client = redisTestClient(server, { lazyConnect: true });
    fixtures.push(async () => client.disconnect());
    new RedisStore({ client });
    expect(client.status).toBe('wait');
    expect(() => new RedisStore({ client: {} as Redis })).toThrow(
      'Expected `client` to be an ioredis Redis or Cluster, got `{}` (object)',
    );
    expect(() => new RedisStore({ client, prefix: 'a{b}' })).toThrow(ValidationError);
    expect(() => new RedisStore({ client, expiryMarginMs: -1 })).toThrow(
      'Expected `expiryMarginMs` to be a positive integer, got `-1` (number)',
    );
  });

  it('decides with exactly one EVALSHA per decision, admitted or rejected, whatever the number of limits', async () => {
    const { store, client } = await makeStore();
    const limits = [Limit.perDay('rpd', 5), Limit.perDay('tpd', 1000)];
    const charge = (entity: string) =>
      store.charge({
        nowNs: nowNs(),
        buckets: [
          { entity, resource: 'chat', charges: limits.map((limit) => ({ limit, cost: 1 })) },
          { entity: `${entity}-org`, resource: 'chat', charges: [{ limit: limits[0]!, cost: 1 }] },
        ],
        signal: signal(),
      });
    await charge('warm-up'); // loads the script (EVALSHA, NOSCRIPT, EVAL) once
    const watch = await watchCommands(client);
    const before = await commandCalls(client);
    const results = [];
    for (let index = 0; index < 8; index++) results.push((await charge('key')).admitted);
    const after = await commandCalls(client);
    await new Promise((resolve) => setTimeout(resolve, 50));
    watch.stop();
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    // The server's statistics count the commands a script runs too; EVALSHA is the only one a client sent.
    expect(callsBetween(before, after)['evalsha']).toBe(8);
    expect(callsBetween(before, after)['eval']).toBeUndefined();
    expect(watch.sent).toEqual(Array(8).fill('evalsha'));
    expect(store.stats()['charge']).toMatchObject({ calls: 9, roundTrips: 9 });
  });

  it('costs one EVALSHA per admitted decision through the limiter, and one more for a commit with adjustments', async () => {
    const { store, client } = await makeStore();
    const limiter = new RateLimiter({
      store,
      limits: [Limit.perDay('rpd', 100), Limit.perDay('tpd', 10_000)],
    });
    // Warm-up: the first use of each script on a connection is an EVAL that loads it.
    const first = await limiter.acquire({ entity: 'warm', consume: { rpd: 1, tpd: 1 } });
    await first.adjust({ tpd: 1 });
    await first.commit();
    const watch = await watchCommands(client);
    const before = await commandCalls(client);
    for (let index = 0; index < 10; index++) {
      await (await limiter.acquire({ entity: 'warm', consume: { rpd: 1, tpd: 10 } })).commit();
    }
    const lease = await limiter.acquire({ entity: 'warm', consume: { rpd: 1, tpd: 10 } });
    await lease.adjust({ tpd: 25 });
    await lease.commit();
    const after = await commandCalls(client);
    await new Promise((resolve) => setTimeout(resolve, 50));
    watch.stop();
    expect(callsBetween(before, after)['evalsha']).toBe(12);
    expect(watch.sent).toEqual(Array(12).fill('evalsha'));
  });

  it('admits exactly the capacity to 1,000 concurrent acquirers in one process', async () => {
    const { store } = await makeStore();
    const limiter = new RateLimiter({ store, limits: [Limit.perDay('rpd', 100)], timeoutMs: 10_000 });
    const decisions = await Promise.all(
      Array.from({ length: 1000 }, () => limiter.tryAcquire({ entity: 'hot', resource: 'api' })),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
  });

  it('never admits above the parent under concurrent cascaded acquires of its children', async () => {
    const { store } = await makeStore();
    const limiter = new RateLimiter({ store, limits: [Limit.perDay('rpd', 50)], timeoutMs: 10_000 });
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perDay('rpd', 100)]);
    const children = Array.from({ length: 10 }, (_, index) => `org-key-${index}`);
    for (const id of children) await limiter.createEntity({ id, parent: 'org', cascade: true });
    const decisions = await Promise.all(
      Array.from({ length: 600 }, (_, index) => limiter.tryAcquire({ entity: children[index % 10]! })),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
    expect(await limiter.available({ entity: 'org' })).toEqual({ rpd: 0 });
  });

  it('keeps tats and debts far beyond 2^53 exact to the nanosecond', async () => {
    const { store } = await makeStore();
    // 1 token per 366 days, capacity 10^15: tau ≈ 3.2·10^31 ns, far past any double.
    const huge = Limit.custom({
      name: 'huge',
      capacity: 1e15,
      refillAmount: 1,
      refillPeriodMs: 366 * 86_400_000,
    });
    const odd = Limit.custom({ name: 'odd', capacity: 7, refillAmount: 3, refillPeriodMs: 1001 });
    const now = nowNs() + 123_457n;
    const bucket = { entity: 'exact', resource: 'chat' };
    const charged = await store.charge({
      nowNs: now,
      buckets: [
        {
          ...bucket,
          charges: [
            { limit: huge, cost: 999_999_999_999_999 },
            { limit: odd, cost: 7 },
          ],
        },
      ],
      signal: signal(),
    });
    expect(charged.admitted).toBe(true);
    let expectedHuge = gcra.chargedTat(undefined, now, huge, 999_999_999_999_999);
    let expectedOdd = gcra.chargedTat(undefined, now, odd, 7);
    expect(charged.buckets[0]?.tats.get('huge')).toBe(expectedHuge);
    const later = now + 1_000_000_007n;
    await store.adjust({
      nowNs: later,
      buckets: [
        {
          ...bucket,
          adjustments: [
            { limit: huge, delta: -333_333_333_333_333 },
            { limit: odd, delta: 1e12 },
          ],
        },
      ],
      signal: signal(),
    });
    expectedHuge = gcra.adjustedTat(expectedHuge, later, huge, -333_333_333_333_333)!;
    expectedOdd = gcra.adjustedTat(expectedOdd, later, odd, 1e12)!;
    const [state] = await store.getBuckets({ keys: [bucket], signal: signal() });
    expect(state?.tats.get('huge')).toBe(expectedHuge);
    expect(state?.tats.get('odd')).toBe(expectedOdd);
    const rejected = await store.charge({
      nowNs: later,
      buckets: [{ ...bucket, charges: [{ limit: odd, cost: 1 }] }],
      signal: signal(),
    });
    expect(rejected.admitted).toBe(false);
    expect(rejected.buckets[0]?.tats.get('odd')).toBe(expectedOdd);
  });

  it('expires a bucket when it is full again plus the margin, and its usage after the retention', async () => {
    const { store, client } = await makeStore({ expiryMarginMs: 2000, hourlyUsageRetentionMs: 60_000 });
    const rpm = Limit.perMinute('rpm', 60);
    const now = nowNs();
    await store.charge({
      nowNs: now,
      buckets: [{ entity: 'ttl', resource: 'chat', charges: [{ limit: rpm, cost: 30 }] }],
      signal: signal(),
    });
    const keys = await client.keys('*ttl*');
    const bucketKey = keys.find((key) => key.includes(':b:'));
    expect(bucketKey).toBeDefined();
    // Full again 30 s after now, plus 2 s.
    const ttl = await client.pttl(bucketKey!);
    expect(ttl).toBeGreaterThan(31_000);
    expect(ttl).toBeLessThanOrEqual(32_000);
    const hourly = keys.find((key) => key.includes(':u:') && key.includes(':hour:'));
    const hourlyTtl = await client.pttl(hourly!);
    expect(hourlyTtl).toBeGreaterThan(60_000);
    expect(hourlyTtl).toBeLessThanOrEqual(3_600_000 + 60_000);
    for (const key of keys) expect(await client.pttl(key), key).toBeGreaterThan(0);
  });

  it('deletes an idle bucket at once after a refund to full, and keeps no key without a TTL', async () => {
    const { store, client } = await makeStore({ expiryMarginMs: 50 });
    const rps = Limit.perSecond('rps', 10);
    const now = nowNs();
    const bucket = { entity: 'refund', resource: 'chat' };
    await store.charge({
      nowNs: now,
      buckets: [{ ...bucket, charges: [{ limit: rps, cost: 5 }] }],
      signal: signal(),
    });
    await store.adjust({
      nowNs: now,
      buckets: [{ ...bucket, adjustments: [{ limit: rps, delta: -5 }] }],
      signal: signal(),
    });
    for (const key of await client.keys('*refund*')) expect(await client.pttl(key), key).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await store.getBuckets({ keys: [bucket], signal: signal() }))[0]?.tats.size).toBe(0);
  });

  it('rejects before sending when the signal has already aborted', async () => {
    const { store } = await makeStore();
    const controller = new AbortController();
    controller.abort(new Error('caller left'));
    await expect(
      store.charge({
        nowNs: nowNs(),
        buckets: [
          { entity: 'gone', resource: 'chat', charges: [{ limit: Limit.perDay('rpd', 1), cost: 1 }] },
        ],
        signal: controller.signal,
      }),
    ).rejects.toThrow('caller left');
    expect(store.stats()['charge']?.roundTrips).toBe(0);
  });
});

/** Each request decided alone, one after another, with the pure math: what a batch must answer. */
function decideInOrder(requests: readonly (readonly BucketCharge[])[], nowNs: bigint) {
  const tats: Map<string, bigint>[] = [];
  return requests.map((buckets) => {
    const admitted = buckets.every((bucket, index) =>
      bucket.charges.every(({ limit, cost }) =>
        gcra.isAdmissible(tats[index]?.get(limit.name), nowNs, limit, cost),
      ),
    );
    if (admitted) {
      buckets.forEach((bucket, index) => {
        const next = new Map(tats[index]);
        for (const { limit, cost } of bucket.charges) {
          next.set(limit.name, gcra.chargedTat(next.get(limit.name), nowNs, limit, cost));
        }
        tats[index] = next;
      });
    }
    return { admitted, tats: buckets.map((_, index) => new Map(tats[index])) };
  });
}

describe('RedisStore coalescing', () => {
  const calls = Limit.custom({ name: 'calls', capacity: 10, refillAmount: 1, refillPeriodMs: 86_400_000 });
  const tokens = Limit.custom({ name: 'tokens', capacity: 100, refillAmount: 7, refillPeriodMs: 3_000 });

  it('decides concurrent charges on one bucket one after another, as if alone, in one more script call', async () => {
    const { store } = await makeStore();
    const now = nowNs() + 987_654n;
    const costs = [3, 5, 4, 2, 1, 6, 1, 2];
    const requests = costs.map((cost): BucketCharge[] => [
      { entity: 'batch', resource: 'chat', charges: [{ limit: calls, cost }] },
    ]);
    const results = await Promise.all(
      requests.map((buckets) => store.charge({ nowNs: now, buckets, signal: signal() })),
    );
    const expected = decideInOrder(requests, now);
    expect(results.map((result) => result.admitted)).toEqual([
      true,
      true,
      false,
      true,
      false,
      false,
      false,
      false,
    ]);
    results.forEach((result, index) => {
      expect(result.admitted).toBe(expected[index]!.admitted);
      expect(result.buckets[0]?.tats).toEqual(expected[index]!.tats[0]);
    });
    // The first went alone; the other seven queued behind it and went together.
    expect(store.stats()['charge']).toMatchObject({ calls: 8, roundTrips: 2 });
    const [state] = await store.getBuckets({
      keys: [{ entity: 'batch', resource: 'chat' }],
      signal: signal(),
    });
    expect(state?.tats).toEqual(expected.at(-1)!.tats[0]);
  });

  it('keeps two limits and a cascade exact across a batch, a refused request changing nothing', async () => {
    const { store } = await makeStore();
    const now = nowNs();
    const plan = [
      [1, 40, 1],
      [2, 70, 1],
      [1, 30, 2],
      [1, 20, 3],
      [4, 10, 1],
      [1, 5, 5],
    ];
    const requests = plan.map(([call, token, parent]): BucketCharge[] => [
      {
        entity: 'child',
        resource: 'chat',
        charges: [
          { limit: calls, cost: call! },
          { limit: tokens, cost: token! },
        ],
      },
      { entity: 'parent', resource: 'chat', charges: [{ limit: Limit.perDay('org', 6), cost: parent! }] },
    ]);
    const results = await Promise.all(
      requests.map((buckets) => store.charge({ nowNs: now, buckets, signal: signal() })),
    );
    const expected = decideInOrder(requests, now);
    expect(results.map((result) => result.admitted)).toEqual(expected.map((entry) => entry.admitted));
    expect(expected.filter((entry) => entry.admitted).length).toBeGreaterThan(1);
    expect(expected.some((entry) => !entry.admitted)).toBe(true);
    results.forEach((result, index) => {
      expect(result.buckets.map((bucket) => bucket.tats)).toEqual(expected[index]!.tats);
    });
    // Usage counts the admitted requests only, summed in the batch.
    const usage = await store.getUsage({ entity: 'child', resource: 'chat', window: 'hour' }, signal());
    const admitted = plan.filter((_, index) => expected[index]!.admitted);
    expect(usage.snapshots[0]?.consumed).toEqual({
      calls: admitted.reduce((sum, [call]) => sum + call!, 0),
      tokens: admitted.reduce((sum, [, token]) => sum + token!, 0),
    });
  });

  it('applies concurrent adjustments in arrival order, debt and refunds alike, in one more script call', async () => {
    const { store } = await makeStore();
    const now = nowNs();
    const bucket = { entity: 'settle', resource: 'chat' };
    await store.charge({
      nowNs: now,
      buckets: [{ ...bucket, charges: [{ limit: tokens, cost: 60 }] }],
      signal: signal(),
    });
    const deltas = [-20, 35, -50, 10, -5, 200, -1];
    const later = now + 1_000_000_000n;
    await Promise.all(
      deltas.map((delta) =>
        store.adjust({
          nowNs: later,
          buckets: [{ ...bucket, adjustments: [{ limit: tokens, delta }] }],
          signal: signal(),
        }),
      ),
    );
    let expected = gcra.chargedTat(undefined, now, tokens, 60);
    for (const delta of deltas) expected = gcra.adjustedTat(expected, later, tokens, delta)!;
    const [state] = await store.getBuckets({ keys: [bucket], signal: signal() });
    expect(state?.tats.get('tokens')).toBe(expected);
    expect(store.stats()['adjust']).toMatchObject({ calls: 7, roundTrips: 2 });
  });

  it('leaves out a queued request whose signal aborts, and charges the rest', async () => {
    const { store } = await makeStore();
    const now = nowNs();
    const charge = (abort?: AbortController) =>
      store.charge({
        nowNs: now,
        buckets: [{ entity: 'leave', resource: 'chat', charges: [{ limit: calls, cost: 4 }] }],
        signal: abort?.signal ?? signal(),
      });
    const first = charge();
    const leaving = new AbortController();
    const left = charge(leaving);
    const last = charge();
    leaving.abort(new Error('caller left'));
    await expect(left).rejects.toThrow('caller left');
    expect((await first).admitted).toBe(true);
    expect((await last).admitted).toBe(true);
    const [state] = await store.getBuckets({
      keys: [{ entity: 'leave', resource: 'chat' }],
      signal: signal(),
    });
    expect(state?.tats.get('calls')).toBe(gcra.chargedTat(undefined, now, calls, 8));
  });

  it('sends every call alone with coalesce: false', async () => {
    const { store } = await makeStore({ coalesce: false });
    await Promise.all(
      [1, 2, 3].map(() =>
        store.charge({
          nowNs: nowNs(),
          buckets: [{ entity: 'alone', resource: 'chat', charges: [{ limit: calls, cost: 1 }] }],
          signal: signal(),
        }),
      ),
    );
    expect(store.stats()['charge']).toMatchObject({ calls: 3, roundTrips: 3 });
  });
});

describe('RedisStore in tollgate:store messages', () => {
  it('reports every command it sent on one call: the sum equals the commands the server received, coalesced or not', async () => {
    for (const coalesce of [true, false]) {
      const { store, client } = await makeStore({ coalesce });
      const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 30)] });
      // Loads the script, which ioredis does once per connection (EVALSHA, NOSCRIPT, EVAL).
      await limiter.tryAcquire({ entity: 'warm-up' });
      const commands = await watchCommands(client);
      const messages: StoreCallMessage[] = [];
      const stop = subscribeDiagnostics({ store: (message) => messages.push(message) });
      try {
        const decisions = await Promise.all(
          Array.from({ length: 50 }, () => limiter.tryAcquire({ entity: 'hot' })),
        );
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(30);
        // MONITOR reports asynchronously: a no-op round trip flushes it.
        await client.ping();
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        stop();
        commands.stop();
      }
      const reported = messages.reduce((sum, message) => sum + (message.roundTrips ?? Number.NaN), 0);
      expect(messages.filter((message) => message.operation === 'charge')).toHaveLength(50);
      expect(reported).toBe(commands.sent.filter((command) => command !== 'ping').length);
      const riders = messages.filter((message) => message.operation === 'charge' && message.roundTrips === 0);
      if (coalesce) expect(riders.length).toBeGreaterThan(25);
      else expect(riders).toHaveLength(0);
    }
  });
});
