import { Limit, RateLimiter, RateLimiterUnavailable } from '@tollgate/core';
import { RedisKeys, RedisStore } from '@tollgate/redis';
import { describeStoreContract, type RedisCluster, startRedisCluster } from '@tollgate/test-utils';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let cluster: RedisCluster;
let client: Cluster;
let prefixes = 0;

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster([...cluster.nodes], { redisOptions: { maxRetriesPerRequest: 1 } });
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
}, 60_000);
afterAll(async () => {
  await client?.quit();
  await cluster?.stop();
});

const prefix = (): string => `cluster-${process.pid}-${++prefixes}:`;
const org = (entity: string): string => entity.split('/')[0]!;

/** The hash slot of a key, and the master that serves it (from the cluster itself). */
async function slotOf(key: string): Promise<number> {
  return (await client.cluster('KEYSLOT', key)) as number;
}

async function ownerOf(key: string): Promise<string> {
  const slot = await slotOf(key);
  const ranges = await client.cluster('SLOTS');
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  const [host, port] = range?.[2] ?? [];
  return `${host}:${port}`;
}

/** Every key under `keyPrefix`, on every master. */
async function keysUnder(keyPrefix: string): Promise<string[]> {
  const masters: Redis[] = client.nodes('master');
  const found = await Promise.all(masters.map((node) => node.keys(`${keyPrefix}*`)));
  return found.flat();
}

describe('RedisStore on a real Redis Cluster (3 masters)', () => {
  it('keeps the keys of an entity and its ancestors in one slot, and decides cascades exactly there', async () => {
    const keyPrefix = prefix();
    const limiter = new RateLimiter({
      store: new RedisStore({ client, prefix: keyPrefix, hashTag: org }),
      limits: [Limit.perDay('rpd', 1000)],
      timeoutMs: 10_000,
    });
    await limiter.createEntity({ id: 'org-9' });
    await limiter.setLimits({ entity: 'org-9' }, [Limit.perDay('rpd', 30)]);
    for (const key of ['org-9/key-1', 'org-9/key-2']) {
      await limiter.createEntity({ id: key, parent: 'org-9', cascade: true });
    }
    const decisions = await Promise.all(
      Array.from({ length: 90 }, (_, index) =>
        limiter.tryAcquire({ entity: index % 2 === 0 ? 'org-9/key-1' : 'org-9/key-2', resource: 'chat' }),
      ),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(30);
    expect(await limiter.available({ entity: 'org-9', resource: 'chat' })).toEqual({ rpd: 0 });
    expect(await limiter.getChildren('org-9')).toHaveLength(2);
    const keys = await keysUnder(keyPrefix);
    // Buckets, usage, indexes, records, children and limit sets of all three entities.
    expect(keys.filter((key) => key.includes(':b:'))).toHaveLength(3);
    const slots = new Set(
      await Promise.all(keys.filter((key) => !key.endsWith('{~}:g')).map((key) => slotOf(key))),
    );
    expect(slots.size).toBe(1);
    await limiter.close();
  });

  it('charges, settles, reads usage and deletes for entities of different roots on different masters', async () => {
    const keyPrefix = prefix();
    const store = new RedisStore({ client, prefix: keyPrefix, hashTag: org });
    const limiter = new RateLimiter({
      store,
      limits: [Limit.perMinute('rpm', 10), Limit.perMinute('tpm', 1000)],
      timeoutMs: 10_000,
    });
    const keys = new RedisKeys(keyPrefix, org);
    // Roots whose keys live on different masters.
    const roots: string[] = [];
    const owners = new Set<string>();
    for (let index = 0; roots.length < 3 && index < 100; index += 1) {
      const owner = await ownerOf(keys.bucket({ entity: `root-${index}`, resource: 'chat' }));
      if (!owners.has(owner)) {
        owners.add(owner);
        roots.push(`root-${index}`);
      }
    }
    expect(roots).toHaveLength(3);
    for (const root of roots) {
      const lease = await limiter.acquire({ entity: root, resource: 'chat', consume: { rpm: 1, tpm: 500 } });
      await lease.adjust({ tpm: -300 });
      await lease.commit();
      const refunded = await limiter.acquire({
        entity: root,
        resource: 'chat',
        consume: { rpm: 1, tpm: 100 },
      });
      await refunded.rollback();
      expect(await limiter.available({ entity: root, resource: 'chat' })).toEqual({ rpm: 9, tpm: 800 });
      const usage = await limiter.getUsage({ entity: root, window: 'hour' });
      expect(usage.map((snapshot) => snapshot.consumed)).toEqual([{ rpm: 1, tpm: 200 }]);
    }
    await limiter.createEntity({ id: roots[0]! });
    expect(await limiter.deleteEntity(roots[0]!)).toBe(true);
    const left = await keysUnder(keyPrefix);
    expect(left.some((key) => key.includes(roots[0]!))).toBe(false);
    expect(left.some((key) => key.includes(roots[1]!))).toBe(true);
    await limiter.close();
  });

  it('refuses a cascade whose entities map to different hash tags before sending, naming them', async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    const rpm = Limit.perMinute('rpm', 10);
    await expect(
      store.charge({
        nowNs: BigInt(Date.now()) * 1_000_000n,
        buckets: ['org-9/key-1', 'org-9'].map((entity) => ({
          entity,
          resource: 'chat',
          charges: [{ limit: rpm, cost: 1 }],
        })),
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow('map to different hash tags (org-9/key-1, org-9); pass a `hashTag` option');
    expect(store.stats()['charge']?.roundTrips ?? 0).toBe(0);
    // Through the limiter it is a store failure, never a limit decision.
    const limiter = new RateLimiter({ store, limits: [rpm], timeoutMs: 10_000 });
    await limiter.createEntity({ id: 'org-9' });
    await limiter.setLimits({ entity: 'org-9' }, [rpm]);
    await limiter.createEntity({ id: 'org-9/key-1', parent: 'org-9', cascade: true });
    await expect(limiter.acquire({ entity: 'org-9/key-1' })).rejects.toBeInstanceOf(RateLimiterUnavailable);
    await limiter.close();
  });
});

// The whole store contract, every entity under one tag (its cascades have unrelated ids).
describeStoreContract('RedisStore on a Redis Cluster', async () => ({
  store: new RedisStore({ client, prefix: prefix(), hashTag: () => 'tenant' }),
  cleanup: async () => undefined,
}));
