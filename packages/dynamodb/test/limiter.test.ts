import { ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  hashedEntityId,
  Limit,
  type LimitStatus,
  RateLimiter,
  type RateLimiterOptions,
  type StoreCallMessage,
  type StoreStats,
  subscribeDiagnostics,
  ValidationError,
} from '@tollgate/core';
import { DynamoDBStore, KeyBuilder } from '@tollgate/dynamodb';
import { createTestTable, type DynamoDBLocal, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let local: DynamoDBLocal;
let tableName: string;
let namespaces = 0;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
});
afterAll(() => local.stop());

/** A clock the test moves by hand, in ms. */
class ManualClock {
  constructor(public nowMs: number = Date.now()) {}
  readonly read = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

interface Setup {
  store: DynamoDBStore;
  limiter: RateLimiter;
  clock: ManualClock;
  namespace: string;
}

function setup(options: Partial<RateLimiterOptions> = {}, namespace = `limiter-${++namespaces}`): Setup {
  const store = new DynamoDBStore({ tableName, client: local.client, namespace });
  const clock = new ManualClock();
  const limiter = new RateLimiter({ store, timeoutMs: 5000, clock: clock.read, ...options });
  return { store, limiter, clock, namespace };
}

/** Round trips of every kind since `before`. */
function roundTripsSince(before: StoreStats, after: StoreStats): number {
  let total = 0;
  for (const [kind, entry] of Object.entries(after))
    total += entry.roundTrips - (before[kind]?.roundTrips ?? 0);
  return total;
}

async function itemsOf(namespace: string): Promise<Record<string, unknown>[]> {
  const prefix = new KeyBuilder(namespace).entityPartition('');
  const output = await local.client.send(
    new ScanCommand({
      TableName: tableName,
      FilterExpression: 'begins_with(PK, :prefix)',
      ExpressionAttributeValues: { ':prefix': { S: prefix } },
      ConsistentRead: true,
    }),
  );
  return output.Items ?? [];
}

describe('RateLimiter on DynamoDB: round trips with warm caches', () => {
  it('admits with one round trip, with one limit and with three', async () => {
    for (const limits of [
      [Limit.perMinute('rpm', 100)],
      [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000), Limit.perDay('rpd', 1000)],
    ]) {
      const { limiter, store, clock } = setup({ limits });
      await limiter.acquire({ entity: 'key', resource: 'chat' });
      const before = store.stats();
      clock.advance(5);
      const lease = await limiter.acquire({ entity: 'key', resource: 'chat' });
      expect(roundTripsSince(before, store.stats())).toBe(1);
      expect(store.stats()['charge']?.writeCapacityUnits).toBe(2);
      await lease.commit();
      expect(roundTripsSince(before, store.stats())).toBe(1);
    }
  });

  it('charges an entity, its parent and grandparent in one round trip', async () => {
    const { limiter, store, clock } = setup({ limits: [Limit.perMinute('rpm', 100)] });
    await limiter.createEntity({ id: 'org' });
    await limiter.createEntity({ id: 'team', parent: 'org', cascade: true });
    await limiter.createEntity({ id: 'key', parent: 'team', cascade: true });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 1000)]);
    await limiter.setLimits({ entity: 'team' }, [Limit.perMinute('rpm', 500)]);
    const first = await limiter.tryAcquire({ entity: 'key', resource: 'chat' });
    expect(first.allowed && first.statuses.map((status) => status.entity)).toEqual(['key', 'team', 'org']);
    const before = store.stats();
    clock.advance(5);
    const second = await limiter.tryAcquire({ entity: 'key', resource: 'chat' });
    expect(second.allowed).toBe(true);
    expect(roundTripsSince(before, store.stats())).toBe(1);
    expect((store.stats()['charge']?.roundTrips ?? 0) - (before['charge']?.roundTrips ?? 0)).toBe(1);
  });

  it('rejects with one round trip, then answers repeats from the deny cache with none', async () => {
    const { limiter, store, clock } = setup({ limits: [Limit.perMinute('rpm', 2)] });
    await limiter.acquire({ entity: 'key' });
    await limiter.acquire({ entity: 'key' });
    const before = store.stats();
    const first = await limiter.tryAcquire({ entity: 'key' });
    expect(first.allowed).toBe(false);
    expect(roundTripsSince(before, store.stats())).toBe(1);
    for (let index = 0; index < 5; index++) {
      clock.advance(1000);
      const repeat = await limiter.tryAcquire({ entity: 'key' });
      expect(repeat.allowed).toBe(false);
    }
    expect(roundTripsSince(before, store.stats())).toBe(1);
  });

  it('decides keys met for the first time with one round trip each under hasStoredConfig', async () => {
    const keys = Array.from({ length: 10 }, (_, index) => `203.0.113.${index}`);
    const limits = [Limit.perMinute('rpm', 100)];
    const declared = setup({ limits, hasStoredConfig: (entity) => !entity.startsWith('203.0.113.') });
    await declared.limiter.acquire({ entity: 'warm-up' }); // reads the shared { resource } and {} sets
    let before = declared.store.stats();
    for (const entity of keys) await declared.limiter.acquire({ entity });
    expect(roundTripsSince(before, declared.store.stats())).toBe(keys.length);
    expect(
      (declared.store.stats()['loadConfig']?.roundTrips ?? 0) - (before['loadConfig']?.roundTrips ?? 0),
    ).toBe(0);
    // Without it, each new key also reads its entity record and its own limit sets.
    const reading = setup({ limits });
    await reading.limiter.acquire({ entity: 'warm-up' });
    before = reading.store.stats();
    for (const entity of keys) await reading.limiter.acquire({ entity });
    expect(roundTripsSince(before, reading.store.stats())).toBe(2 * keys.length);
  });

  it('commits a plain lease with no round trip, and an adjusted one with one write', async () => {
    const { limiter, store } = setup({ limits: [Limit.perMinute('tpm', 10_000)] });
    const plain = await limiter.acquire({ entity: 'key', consume: { tpm: 10 } });
    let before = store.stats();
    await plain.commit();
    expect(roundTripsSince(before, store.stats())).toBe(0);
    const adjusted = await limiter.acquire({ entity: 'key', consume: { tpm: 10 } });
    await adjusted.adjust({ tpm: 5 });
    await adjusted.adjust({ tpm: 7 });
    before = store.stats();
    await adjusted.commit();
    expect(roundTripsSince(before, store.stats())).toBe(1);
    expect(store.stats()['adjust']).toMatchObject({ calls: 1, roundTrips: 1, writeCapacityUnits: 1 });
  });
});

describe('RateLimiter on DynamoDB: debt and refunds', () => {
  const tpm = Limit.perMinute('tpm', 1000); // one token every 60 ms

  it('delays the next admission by exactly the debt', async () => {
    const { limiter, clock } = setup({ limits: [tpm] });
    const start = clock.nowMs;
    const lease = await limiter.acquire({ entity: 'key', consume: { tpm: 1000 } });
    await lease.adjust({ tpm: 50 });
    await lease.commit();
    // Without debt one token is back after 60 ms; with 50 tokens of debt, after 51 × 60 ms.
    clock.nowMs = start + 51 * 60 - 0.001;
    const early = await limiter.tryAcquire({ entity: 'key', consume: { tpm: 1 } });
    expect(early.allowed).toBe(false);
    expect(early.allowed ? 0 : early.retryAfterMs).toBe(1);
    clock.nowMs = start + 51 * 60;
    expect((await limiter.tryAcquire({ entity: 'key', consume: { tpm: 1 } })).allowed).toBe(true);
  });

  it('restores exactly what a rolled-back lease took', async () => {
    const { limiter, store, clock } = setup({ limits: [tpm] });
    await limiter.acquire({ entity: 'key', consume: { tpm: 200 } });
    const [afterFirst] = await store.getBuckets({
      keys: [{ entity: 'key', resource: 'default' }],
      signal: new AbortController().signal,
    });
    clock.advance(10);
    const lease = await limiter.acquire({ entity: 'key', consume: { tpm: 300 } });
    clock.advance(10);
    await lease.rollback();
    const [afterRollback] = await store.getBuckets({
      keys: [{ entity: 'key', resource: 'default' }],
      signal: new AbortController().signal,
    });
    expect(afterRollback?.tats.get('tpm')).toBe(afterFirst?.tats.get('tpm'));
    expect(await limiter.available({ entity: 'key' })).toEqual({ tpm: 800 });
  });

  it('never refunds a bucket above its capacity', async () => {
    const { limiter, clock } = setup({ limits: [tpm] });
    const lease = await limiter.acquire({ entity: 'key', consume: { tpm: 100 } });
    clock.advance(60_000);
    await lease.rollback();
    expect(await limiter.available({ entity: 'key' })).toEqual({ tpm: 1000 });
    expect((await limiter.tryAcquire({ entity: 'key', consume: { tpm: 1000 } })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ entity: 'key', consume: { tpm: 1 } })).allowed).toBe(false);
  });
});

describe('RateLimiter on DynamoDB: concurrency and clocks', () => {
  it('never lets 10 cascading children exceed their shared parent limit', async () => {
    const namespace = `cascade-${++namespaces}`;
    const admin = setup({ limits: [Limit.perDay('rpd', 100)] }, namespace);
    await admin.limiter.createEntity({ id: 'org' });
    await admin.limiter.setLimits({ entity: 'org' }, [Limit.perDay('rpd', 23)]);
    const children = Array.from({ length: 10 }, (_, index) => `key-${index}`);
    for (const child of children)
      await admin.limiter.createEntity({ id: child, parent: 'org', cascade: true });
    // One limiter (and store, with its own caches) per child, as if each ran in its own process.
    // DynamoDB Local runs transactions one at a time, so the deadline is generous: this is about counts.
    const limiters = children.map(() =>
      setup({ limits: [Limit.perDay('rpd', 100)], timeoutMs: 30_000 }, namespace),
    );
    const decisions = await Promise.all(
      children.flatMap((child, index) =>
        Array.from({ length: 5 }, () => limiters[index]!.limiter.tryAcquire({ entity: child })),
      ),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(23);
    // Read with a clock no earlier than any child's: an older clock would see the last charges as debt.
    const parent = await setup({}, namespace).limiter.available({ entity: 'org' });
    expect(parent).toEqual({ rpd: 0 });
    const rejected = decisions.find((decision) => !decision.allowed);
    const parentStatus = rejected?.statuses.find((status: LimitStatus) => status.entity === 'org');
    expect(parentStatus?.exceeded).toBe(true);
  });

  it('admits no more than the bucket plus the refill of the skew when two clocks disagree by seconds', async () => {
    const namespace = `skew-${++namespaces}`;
    const limit = Limit.perSecond('rps', 10);
    const behind = setup({ limits: [limit] }, namespace);
    const ahead = setup({ limits: [limit] }, namespace);
    const skewMs = 3000;
    const startMs = behind.clock.nowMs;
    const durationMs = 4000;
    let admitted = 0;
    for (let elapsed = 0; elapsed <= durationMs; elapsed += 50) {
      behind.clock.nowMs = startMs + elapsed;
      ahead.clock.nowMs = startMs + elapsed + skewMs;
      for (const side of [ahead, behind]) {
        if ((await side.limiter.tryAcquire({ entity: 'key' })).allowed) admitted += 1;
      }
    }
    // Every admission happened at a `now` between startMs and startMs + durationMs + skewMs.
    expect(admitted).toBeLessThanOrEqual(
      limit.capacity + (limit.refillAmount * (durationMs + skewMs)) / 1000,
    );
    expect(admitted).toBeGreaterThanOrEqual(limit.capacity + (limit.refillAmount * durationMs) / 1000);
  });
});

describe('RateLimiter on DynamoDB: unusable input', () => {
  it('refuses over-long ids (longKeys: reject), bad costs and costs above capacity with coded errors, writing nothing', async () => {
    const { limiter, namespace } = setup({
      limits: [Limit.perMinute('rpm', 10), Limit.perMinute('tpm', 100)],
      longKeys: 'reject',
    });
    const attempts: [Parameters<RateLimiter['tryAcquire']>[0], string][] = [
      [{ entity: 'k'.repeat(257) }, 'ERR_TOLLGATE_INVALID_KEY'],
      [{ entity: 'key', resource: 'r'.repeat(257) }, 'ERR_TOLLGATE_INVALID_KEY'],
      [{ entity: '' }, 'ERR_TOLLGATE_INVALID_KEY'],
      [{ entity: 'key', consume: { tpm: 101 } }, 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY'],
      [{ entity: 'key', consume: { tpm: -1 } }, 'ERR_TOLLGATE_INVALID_COST'],
      [{ entity: 'key', consume: { tpm: 1.5 } }, 'ERR_TOLLGATE_INVALID_COST'],
      [{ entity: 'key', consume: { nope: 1 } }, 'ERR_TOLLGATE_UNKNOWN_LIMIT'],
    ];
    for (const [request, code] of attempts) {
      const error = await limiter.tryAcquire(request).catch((caught: unknown) => caught);
      expect(error, code).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe(code);
    }
    expect(await itemsOf(namespace)).toEqual([]);
  });

  it('keeps ids that contain the key delimiter in buckets of their own', async () => {
    const { limiter } = setup({ limits: [Limit.perMinute('rpm', 1)] });
    const targets = [
      { entity: 'a', resource: 'b#c' },
      { entity: 'a#b', resource: 'c' },
      { entity: 'a#BUCKET#b', resource: 'c' },
      { entity: 'a', resource: '#BUCKET#b#c' },
      { entity: 'a%23b', resource: 'c' },
    ];
    for (const target of targets) expect((await limiter.tryAcquire(target)).allowed).toBe(true);
    for (const target of targets) expect((await limiter.tryAcquire(target)).allowed).toBe(false);
  });
});

describe('RateLimiter on DynamoDB: reset, updateEntity and long keys', () => {
  const bucketItems = async (namespace: string) =>
    (await itemsOf(namespace)).filter((item) => (item['SK'] as { S: string }).S.startsWith('#BUCKET#'));

  it('reset removes the tats and keeps the item with its consumed counters', async () => {
    const { limiter, store, namespace, clock } = setup({ limits: [Limit.perMinute('rpm', 3)] });
    for (let index = 0; index < 3; index += 1) await limiter.acquire({ entity: 'key', resource: 'chat' });
    expect((await limiter.tryAcquire({ entity: 'key', resource: 'chat' })).allowed).toBe(false);
    const [before] = await bucketItems(namespace);
    expect(before).toHaveProperty(['tat:rpm']);

    expect(await limiter.reset({ entity: 'key' })).toBe(1);

    const [after] = await bucketItems(namespace);
    expect(after).not.toHaveProperty(['tat:rpm']);
    expect(after?.['consumed:rpm']).toEqual({ N: '3' });
    expect(after?.['entity']).toEqual({ S: 'key' });
    // The store forgot its guess of a busy bucket: the next charge is right the first time.
    const stats = store.stats();
    clock.advance(1);
    expect((await limiter.tryAcquire({ entity: 'key', resource: 'chat' })).allowed).toBe(true);
    expect(roundTripsSince(stats, store.stats())).toBe(1);
  });

  it('updateEntity moves the record in the children index, and out of it with parent: null', async () => {
    const { limiter, namespace } = setup({ limits: [Limit.perMinute('rpm', 3)] });
    const keys = new KeyBuilder(namespace);
    await limiter.createEntity({ id: 'org-a' });
    await limiter.createEntity({ id: 'org-b' });
    await limiter.createEntity({ id: 'key', parent: 'org-a', cascade: true });
    const record = async () =>
      (await itemsOf(namespace)).find(
        (item) =>
          (item['PK'] as { S: string }).S === keys.entityPartition('key') &&
          (item['SK'] as { S: string }).S === '#ENTITY',
      );

    await limiter.updateEntity('key', { parent: 'org-b' });
    expect(await record()).toMatchObject({
      parent: { S: 'org-b' },
      GSI1PK: { S: keys.childrenPartition('org-b') },
      GSI1SK: { S: keys.entityPartition('key') },
      cascade: { BOOL: true },
    });
    expect((await limiter.getChildren('org-b')).map((child) => child.id)).toEqual(['key']);
    expect(await limiter.getChildren('org-a')).toEqual([]);

    await limiter.updateEntity('key', { parent: null });
    const detached = await record();
    for (const attribute of ['parent', 'GSI1PK', 'GSI1SK']) expect(detached).not.toHaveProperty([attribute]);
    expect(await limiter.getChildren('org-b')).toEqual([]);
  });

  it('keys a 10 000-character key by its hash: one bucket item, shared by every limiter', async () => {
    const namespace = `limiter-${++namespaces}`;
    const first = setup({ limits: [Limit.perMinute('rpm', 2)] }, namespace);
    const second = setup({ limits: [Limit.perMinute('rpm', 2)] }, namespace);
    const key = `Bearer ${'t'.repeat(10_000)}`;
    expect((await first.limiter.tryAcquire({ entity: key })).allowed).toBe(true);
    expect((await second.limiter.tryAcquire({ entity: key })).allowed).toBe(true);
    expect((await first.limiter.tryAcquire({ entity: key })).allowed).toBe(false);
    const items = await bucketItems(namespace);
    expect(items).toHaveLength(1);
    expect(items[0]?.['PK']).toEqual({ S: new KeyBuilder(namespace).entityPartition(hashedEntityId(key)) });
    expect(JSON.stringify(items)).not.toContain('tttt');
  });
});

describe('RateLimiter on DynamoDB: round trips in tollgate:store messages', () => {
  it('puts every request the store sent in one message: the sum equals the store stats, coalesced or not', async () => {
    for (const coalesce of [true, false]) {
      const store = new DynamoDBStore({
        tableName,
        client: local.client,
        namespace: `limiter-${++namespaces}`,
        coalesce,
      });
      const limiter = new RateLimiter({ store, timeoutMs: 5000, limits: [Limit.perMinute('rpm', 30)] });
      const messages: StoreCallMessage[] = [];
      const stop = subscribeDiagnostics({ store: (message) => messages.push(message) });
      try {
        const decisions = await Promise.all(
          Array.from({ length: 50 }, () => limiter.tryAcquire({ entity: 'hot' })),
        );
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(30);
      } finally {
        stop();
      }
      const charges = messages.filter((message) => message.operation === 'charge');
      expect(charges).toHaveLength(50);
      const sent = messages.reduce((sum, message) => sum + (message.roundTrips ?? Number.NaN), 0);
      expect(sent).toBe(roundTripsSince({}, store.stats()));
      // Coalesced, most calls rode on a write another call sent.
      const riders = charges.filter((message) => message.roundTrips === 0).length;
      if (coalesce) expect(riders).toBeGreaterThan(25);
      else expect(riders).toBe(0);
    }
  });
});
