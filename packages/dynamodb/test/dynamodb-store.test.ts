import { setMaxListeners } from 'node:events';
import {
  type DynamoDBClient,
  GetItemCommand,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type BucketCharge,
  EntityError,
  Limit,
  MAX_ID_LENGTH,
  type StoreCallStats,
  ValidationError,
} from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import { DynamoDBStore, type DynamoDBStoreOptions, KeyBuilder } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  localClientConfig,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

let local: DynamoDBLocal;
let tableName: string;
let namespaces = 0;
// One signal for every call, as the limiter shares one deadline signal between calls: the SDK
// adds a listener per request in flight, so it may hold more than Node's default of 10.
const signal = new AbortController().signal;
setMaxListeners(0, signal);
const T0 = BigInt(Date.now()) * 1_000_000n;
const ms = (value: number): bigint => BigInt(value) * 1_000_000n;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
});
afterAll(() => local.stop());

/** A store on a fresh namespace of the file's table (and its key builder). */
function freshStore(options: Partial<DynamoDBStoreOptions> = {}): { store: DynamoDBStore; keys: KeyBuilder } {
  const namespace = options.namespace ?? `unit-${++namespaces}`;
  return {
    store: new DynamoDBStore({ tableName, client: local.client, namespace, ...options }),
    keys: new KeyBuilder(namespace),
  };
}

function bucket(entity: string, resource: string, ...charges: [Limit, number][]): BucketCharge {
  return { entity, resource, charges: charges.map(([limit, cost]) => ({ limit, cost })) };
}

function statsOf(store: DynamoDBStore, kind: string): StoreCallStats {
  return store.stats()[kind] ?? { calls: 0, roundTrips: 0, readCapacityUnits: 0, writeCapacityUnits: 0 };
}

async function rawItem(client: DynamoDBClient, key: { PK: string; SK: string }) {
  const output = await client.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { PK: { S: key.PK }, SK: { S: key.SK } },
      ConsistentRead: true,
    }),
  );
  return output.Item;
}

describe('DynamoDBStore options', () => {
  it('does no I/O when constructed, even for an unreachable endpoint', async () => {
    const store = new DynamoDBStore({
      tableName: 'tollgate',
      clientConfig: localClientConfig('http://127.0.0.1:9'),
    });
    expect(store.stats()).toEqual({});
    await store.close();
  });

  it('refuses both client and clientConfig with an exact message', () => {
    expect(
      () =>
        new DynamoDBStore({
          tableName: 'tollgate',
          client: local.client,
          clientConfig: { region: 'us-east-1' },
        }),
    ).toThrow(
      expect.objectContaining({
        name: 'ValidationError',
        code: 'ERR_TOLLGATE_INVALID_OPTION',
        field: 'client',
        message: 'Expected either `client` or `clientConfig`, not both',
      }),
    );
  });

  it('refuses neither client nor clientConfig, a bad table name and bad numbers', () => {
    const attempt = (options: unknown) => () => new DynamoDBStore(options as DynamoDBStoreOptions);
    expect(attempt({ tableName: 'tollgate' })).toThrow(
      'Expected `client` (a DynamoDBClient) or `clientConfig` (options for one), got neither',
    );
    expect(attempt({ tableName: 'ab', client: local.client })).toThrow(
      'Expected `tableName` to be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -), got `"ab"` (string)',
    );
    expect(attempt({ tableName: 'tollgate', client: local.client, maxAttempts: 0 })).toThrow(
      'Expected `maxAttempts` to be a positive integer, got `0` (number)',
    );
    expect(attempt({ tableName: 'tollgate', client: local.client, namespace: '' })).toThrow(
      'Expected `namespace` to be a string of 1 to 64 characters, got `""` (string)',
    );
    expect(attempt({ tableName: 'tollgate', client: {} })).toThrow(ValidationError);
  });

  it('destroys only a client it created', async () => {
    const own = new DynamoDBStore({ tableName, clientConfig: localClientConfig(local.endpoint) });
    const destroyOwn = vi.spyOn(own.client, 'destroy');
    await own.close();
    await own.close();
    expect(destroyOwn).toHaveBeenCalledTimes(1);

    const { store: borrowed } = freshStore();
    const destroyBorrowed = vi.spyOn(local.client, 'destroy');
    await borrowed.close();
    expect(destroyBorrowed).not.toHaveBeenCalled();
    destroyBorrowed.mockRestore();
  });
});

describe('DynamoDBStore round trips and capacity', () => {
  const rpm = Limit.perMinute('rpm', 100);
  const tpm = Limit.perMinute('tpm', 10_000);
  const rpd = Limit.perDay('rpd', 1000);

  it('charges one bucket with one limit in one UpdateItem', async () => {
    const { store } = freshStore();
    await store.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [rpm, 1])], signal });
    expect(statsOf(store, 'charge')).toEqual({
      calls: 1,
      roundTrips: 1,
      readCapacityUnits: 0,
      writeCapacityUnits: 1,
    });
    await store.charge({ nowNs: T0 + ms(10), buckets: [bucket('k', 'chat', [rpm, 1])], signal });
    expect(statsOf(store, 'charge')).toMatchObject({ calls: 2, roundTrips: 2 });
  });

  it('charges and adjusts with limits built by another installed copy of core', async () => {
    // Another copy of @tollgate/core has its own Limit class: same shape, different prototype.
    const foreignPrototype = Object.create(
      Object.getPrototypeOf(Limit.prototype),
      Object.getOwnPropertyDescriptors(Limit.prototype),
    );
    const foreign: Limit = Object.create(foreignPrototype, Object.getOwnPropertyDescriptors(rpm));
    expect(foreign instanceof Limit).toBe(false);
    const { store } = freshStore();
    const charged = await store.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [foreign, 1])], signal });
    expect(charged.admitted).toBe(true);
    await store.adjust({
      nowNs: T0,
      buckets: [{ entity: 'k', resource: 'chat', adjustments: [{ limit: foreign, delta: 2 }] }],
      signal,
    });
    const [state] = await store.getBuckets({ keys: [{ entity: 'k', resource: 'chat' }], signal });
    expect(state?.tats.get('rpm')).toBe(T0 + 3n * rpm.emissionIntervalNs);
    await expect(
      store.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [foreign, 1], [rpm, 1])], signal }),
    ).rejects.toMatchObject({ code: 'ERR_TOLLGATE_INVALID_LIMIT' });
  });

  it('charges one bucket with three limits in one UpdateItem', async () => {
    const { store } = freshStore();
    for (let index = 0; index < 3; index++) {
      const result = await store.charge({
        nowNs: T0 + ms(index),
        buckets: [bucket('k', 'chat', [rpm, 1], [tpm, 500], [rpd, 1])],
        signal,
      });
      expect(result.admitted).toBe(true);
    }
    expect(statsOf(store, 'charge')).toEqual({
      calls: 3,
      roundTrips: 3,
      readCapacityUnits: 0,
      writeCapacityUnits: 3,
    });
  });

  it('charges an entity and two ancestors in one TransactWriteItems', async () => {
    const { store } = freshStore();
    const chain = [
      bucket('key', 'chat', [rpm, 1]),
      bucket('team', 'chat', [rpm, 1]),
      bucket('org', 'chat', [rpd, 1]),
    ];
    for (let index = 0; index < 2; index++) {
      const result = await store.charge({ nowNs: T0 + ms(index), buckets: chain, signal });
      expect(result.admitted).toBe(true);
    }
    // AWS bills 2 WCU per item of a transaction; DynamoDB Local reports less, so only its presence is checked.
    expect(statsOf(store, 'charge')).toMatchObject({ calls: 2, roundTrips: 2, readCapacityUnits: 0 });
    expect(statsOf(store, 'charge').writeCapacityUnits).toBeGreaterThan(0);
  });

  it('rejects in one round trip, from the old image, with no read', async () => {
    const { store } = freshStore();
    const small = Limit.perMinute('rpm', 2);
    await store.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [small, 2])], signal });
    store.resetStats();
    const rejected = await store.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [small, 1])], signal });
    expect(rejected.admitted).toBe(false);
    expect(rejected.buckets[0]?.tats.get('rpm')).toBe(T0 + small.tauNs);
    expect(store.stats()).toEqual({
      charge: { calls: 1, roundTrips: 1, readCapacityUnits: 0, writeCapacityUnits: 0 },
    });
  });

  it('rejects in one round trip even when its guess of the form was wrong', async () => {
    const { store: first } = freshStore();
    const { store: second } = freshStore({ namespace: first.namespace ?? '' });
    const small = Limit.perMinute('rpm', 2);
    await first.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [small, 2])], signal });
    // `second` has never seen the bucket: it guesses idle, the condition fails, the image proves it full.
    const rejected = await second.charge({
      nowNs: T0 + ms(1),
      buckets: [bucket('k', 'chat', [small, 1])],
      signal,
    });
    expect(rejected.admitted).toBe(false);
    expect(rejected.buckets[0]?.tats.get('rpm')).toBe(T0 + small.tauNs);
    expect(statsOf(second, 'charge')).toMatchObject({ calls: 1, roundTrips: 1 });
  });

  it('retries once with the right form when another process made the bucket busy', async () => {
    const { store: first } = freshStore();
    const { store: second } = freshStore({ namespace: first.namespace ?? '' });
    await first.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [rpm, 5], [tpm, 100])], signal });
    const result = await second.charge({
      nowNs: T0 + ms(1),
      buckets: [bucket('k', 'chat', [rpm, 1], [tpm, 1])],
      signal,
    });
    expect(result.admitted).toBe(true);
    expect(result.buckets[0]?.tats.get('rpm')).toBe(T0 + 6n * rpm.emissionIntervalNs);
    expect(result.buckets[0]?.tats.get('tpm')).toBe(T0 + 101n * tpm.emissionIntervalNs);
    expect(statsOf(second, 'charge')).toEqual({
      calls: 1,
      roundTrips: 2,
      readCapacityUnits: 0,
      writeCapacityUnits: 1,
    });
    // Its guess is now right: the next charge is one round trip again.
    await second.charge({ nowNs: T0 + ms(2), buckets: [bucket('k', 'chat', [rpm, 1], [tpm, 1])], signal });
    expect(statsOf(second, 'charge')).toMatchObject({ calls: 2, roundTrips: 3 });
  });

  it('retries a transaction with corrected forms and rejects it from the cancellation reasons', async () => {
    const { store: first } = freshStore();
    const { store: second } = freshStore({ namespace: first.namespace ?? '' });
    const small = Limit.perMinute('rpm', 3);
    await first.charge({ nowNs: T0, buckets: [bucket('parent', 'chat', [small, 2])], signal });
    const chain = [bucket('child', 'chat', [rpm, 1]), bucket('parent', 'chat', [small, 1])];
    const admitted = await second.charge({ nowNs: T0, buckets: chain, signal });
    expect(admitted.admitted).toBe(true);
    expect(admitted.buckets[1]?.tats.get('rpm')).toBe(T0 + small.tauNs);
    expect(statsOf(second, 'charge')).toMatchObject({ calls: 1, roundTrips: 2 });
    const rejected = await first.charge({ nowNs: T0, buckets: chain, signal });
    expect(rejected.admitted).toBe(false);
    expect(rejected.buckets[1]?.tats.get('rpm')).toBe(T0 + small.tauNs);
    expect(statsOf(first, 'charge')).toMatchObject({ calls: 2, roundTrips: 2 });
  });

  it('adjusts one bucket with one UpdateItem and several with one transaction', async () => {
    const { store } = freshStore();
    await store.charge({
      nowNs: T0,
      buckets: [bucket('k', 'chat', [tpm, 500]), bucket('o', 'chat', [tpm, 500])],
      signal,
    });
    await store.adjust({
      nowNs: T0 + ms(1),
      buckets: [{ entity: 'k', resource: 'chat', adjustments: [{ limit: tpm, delta: 200 }] }],
      signal,
    });
    expect(statsOf(store, 'adjust')).toEqual({
      calls: 1,
      roundTrips: 1,
      readCapacityUnits: 0,
      writeCapacityUnits: 1,
    });
    await store.adjust({
      nowNs: T0 + ms(2),
      buckets: [
        { entity: 'k', resource: 'chat', adjustments: [{ limit: tpm, delta: -100 }] },
        { entity: 'o', resource: 'chat', adjustments: [{ limit: tpm, delta: -100 }] },
      ],
      signal,
    });
    expect(statsOf(store, 'adjust')).toMatchObject({ calls: 2, roundTrips: 2, readCapacityUnits: 0 });
    expect(statsOf(store, 'adjust').writeCapacityUnits).toBeGreaterThan(1);
  });

  it('loads entities and limit sets in one BatchGetItem and reads buckets in one request', async () => {
    const { store } = freshStore();
    await store.createEntity({ id: 'k', cascade: false, createdAt: new Date().toISOString() }, signal);
    await store.putLimits({ entity: 'k' }, [rpm.toJSON()], signal);
    await store.loadConfig({
      entityIds: ['k', 'missing'],
      scopes: [{ entity: 'k', resource: 'chat' }, { entity: 'k' }, { resource: 'chat' }, {}],
      signal,
    });
    expect(statsOf(store, 'loadConfig')).toMatchObject({ calls: 1, roundTrips: 1, writeCapacityUnits: 0 });
    expect(statsOf(store, 'loadConfig').readCapacityUnits).toBeGreaterThan(0);
    await store.getBuckets({ keys: [{ entity: 'k', resource: 'chat' }], signal });
    await store.getBuckets({
      keys: [
        { entity: 'k', resource: 'chat' },
        { entity: 'k', resource: 'embed' },
      ],
      signal,
    });
    expect(statsOf(store, 'getBuckets')).toMatchObject({ calls: 2, roundTrips: 2 });
  });

  it('follows every page of children (one Query per page)', async () => {
    const { store } = freshStore({ queryPageSize: 7 });
    await store.createEntity({ id: 'org', cascade: false, createdAt: new Date().toISOString() }, signal);
    for (let index = 0; index < 30; index++) {
      await store.createEntity(
        { id: `key-${index}`, parent: 'org', cascade: true, createdAt: new Date().toISOString() },
        signal,
      );
    }
    const children = await store.getChildren('org', signal);
    expect(children).toHaveLength(30);
    expect(new Set(children.map((child) => child.id)).size).toBe(30);
    // Pages of 7, 7, 7, 7 and 2.
    expect(statsOf(store, 'getChildren')).toMatchObject({ calls: 1, roundTrips: 5 });
  });

  it('deletes a large entity partition in batches of 25', async () => {
    const { store, keys } = freshStore();
    await store.createEntity({ id: 'big', cascade: false, createdAt: new Date().toISOString() }, signal);
    const buckets = Array.from({ length: 59 }, (_, index) => bucket('big', `resource-${index}`, [rpm, 1]));
    for (const charge of buckets) await store.charge({ nowNs: T0, buckets: [charge], signal });
    expect(await store.deleteEntity('big', signal)).toBe(true);
    // One Query (60 small items fit in a page), then 25 + 25 + 10 deletes.
    expect(statsOf(store, 'deleteEntity')).toMatchObject({ calls: 1, roundTrips: 4 });
    const left = await local.client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': { S: keys.entityPartition('big') } },
        ConsistentRead: true,
      }),
    );
    expect(left.Items ?? []).toEqual([]);
  });
});

describe('DynamoDBStore items', () => {
  it('stores tats and counters as exact numbers, with the TTL an hour after the last tat', async () => {
    const { store, keys } = freshStore();
    const tpm = Limit.perMinute('tpm', 10_000);
    const rpd = Limit.perDay('rpd', 1000);
    const now = T0 + 987_654n;
    await store.charge({ nowNs: now, buckets: [bucket('k#1', 'chat/4', [tpm, 700], [rpd, 1])], signal });
    await store.adjust({
      nowNs: now,
      buckets: [{ entity: 'k#1', resource: 'chat/4', adjustments: [{ limit: tpm, delta: 42 }] }],
      signal,
    });
    const item = await rawItem(local.client, keys.bucket('k#1', 'chat/4'));
    expect(item?.['tat:tpm']?.N).toBe(String(now + 742n * tpm.emissionIntervalNs));
    expect(item?.['tat:rpd']?.N).toBe(String(now + rpd.emissionIntervalNs));
    expect(item?.['consumed:tpm']?.N).toBe('742');
    expect(item?.['consumed:rpd']?.N).toBe('1');
    expect(item?.['entity']?.S).toBe('k#1');
    expect(item?.['resource']?.S).toBe('chat/4');
    const lastTat = now + rpd.emissionIntervalNs;
    expect(Number(item?.['ttl']?.N)).toBe(Number((lastTat + 999_999_999n) / 1_000_000_000n) + 3600);
  });

  it('indexes a child under its parent and stores limit sets as a list of maps', async () => {
    const { store, keys } = freshStore();
    await store.createEntity({ id: 'org', cascade: false, createdAt: '2026-01-01T00:00:00.000Z' }, signal);
    await store.createEntity(
      {
        id: 'key',
        parent: 'org',
        cascade: true,
        createdAt: '2026-01-01T00:00:00.000Z',
        metadata: { tier: 'gold' },
      },
      signal,
    );
    await store.putLimits({ entity: 'key', resource: 'chat' }, [Limit.perMinute('rpm', 5).toJSON()], signal);
    const child = await rawItem(local.client, keys.entity('key'));
    expect(child?.['GSI1PK']?.S).toBe(keys.childrenPartition('org'));
    expect(child?.['cascade']?.BOOL).toBe(true);
    expect(JSON.parse(child?.['metadata']?.S ?? 'null')).toEqual({ tier: 'gold' });
    const limits = await rawItem(local.client, keys.limits({ entity: 'key', resource: 'chat' }));
    expect(limits?.['limits']?.L).toEqual([
      {
        M: {
          name: { S: 'rpm' },
          capacity: { N: '5' },
          refillAmount: { N: '5' },
          refillPeriodMs: { N: '60000' },
        },
      },
    ]);
  });

  it('keeps namespaces of one table apart', async () => {
    const { store: blue } = freshStore();
    const { store: green } = freshStore();
    const one = Limit.perMinute('rpm', 1);
    expect(
      (await blue.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [one, 1])], signal })).admitted,
    ).toBe(true);
    expect(
      (await green.charge({ nowNs: T0, buckets: [bucket('k', 'chat', [one, 1])], signal })).admitted,
    ).toBe(true);
    await blue.createEntity({ id: 'k', cascade: false, createdAt: new Date().toISOString() }, signal);
    await green.createEntity({ id: 'k', cascade: false, createdAt: new Date().toISOString() }, signal);
    await blue.putLimits({}, [one.toJSON()], signal);
    expect((await green.loadConfig({ entityIds: [], scopes: [{}], signal })).limits.size).toBe(0);
    expect(await green.deleteEntity('k', signal)).toBe(true);
    expect((await blue.loadConfig({ entityIds: ['k'], scopes: [], signal })).entities.has('k')).toBe(true);
  });

  it('stores ids of the longest allowed length in any script', async () => {
    const { store } = freshStore();
    const one = Limit.perMinute('rpm', 1);
    const ids = [
      '界'.repeat(MAX_ID_LENGTH),
      '🔑'.repeat(MAX_ID_LENGTH / 2),
      '#'.repeat(MAX_ID_LENGTH),
      '%'.repeat(MAX_ID_LENGTH),
    ];
    for (const id of ids) {
      const result = await store.charge({ nowNs: T0, buckets: [bucket(id, id, [one, 1])], signal });
      expect(result.admitted).toBe(true);
      await store.createEntity(
        { id, parent: id, cascade: false, createdAt: new Date().toISOString() },
        signal,
      );
      await store.putLimits({ entity: id, resource: id }, [one.toJSON()], signal);
      const loaded = await store.loadConfig({
        entityIds: [id],
        scopes: [{ entity: id, resource: id }],
        signal,
      });
      expect(loaded.entities.get(id)?.id).toBe(id);
      expect(loaded.limits.size).toBe(1);
      expect((await store.getChildren(id, signal)).map((child) => child.id)).toEqual([id]);
    }
  });
});

describe('DynamoDBStore failures are errors, never decisions', () => {
  it('lets a missing table surface as the SDK error type', async () => {
    const store = new DynamoDBStore({ tableName: 'no-such-table', client: local.client });
    const error = await store
      .charge({ nowNs: T0, buckets: [bucket('k', 'chat', [Limit.perMinute('rpm', 1), 1])], signal })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
  });

  it('passes the abort signal to the SDK', async () => {
    const { store } = freshStore();
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const error = await store
      .charge({
        nowNs: T0,
        buckets: [bucket('k', 'chat', [Limit.perMinute('rpm', 1), 1])],
        signal: controller.signal,
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toHaveProperty('admitted');
    expect(
      (await store.getBuckets({ keys: [{ entity: 'k', resource: 'chat' }], signal }))[0]?.tats.size,
    ).toBe(0);
  });

  it('refuses a usage cursor from another entity', async () => {
    const { store } = freshStore();
    const forged = Buffer.from(
      JSON.stringify([new KeyBuilder(store.namespace).entityPartition('other'), '#USAGE#hour#x']),
    ).toString('base64url');
    const error = await store
      .getUsage({ entity: 'mine', window: 'hour', cursor: forged }, signal)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('ERR_TOLLGATE_INVALID_OPTION');
  });

  it('maps a duplicate entity to EntityError', async () => {
    const { store } = freshStore();
    const record = { id: 'twice', cascade: false, createdAt: new Date().toISOString() };
    await store.createEntity(record, signal);
    await expect(store.createEntity(record, signal)).rejects.toBeInstanceOf(EntityError);
  });
});

describe('DynamoDBStore under concurrency', () => {
  it('admits exactly the capacity when many stores charge one bucket at once', async () => {
    const namespace = `concurrent-${++namespaces}`;
    const stores = Array.from({ length: 5 }, () => freshStore({ namespace }).store);
    const limit = Limit.perDay('rpd', 60);
    const attempts = stores.flatMap((store) =>
      Array.from({ length: 20 }, (_, index) =>
        store.charge({
          nowNs: T0 + BigInt(index),
          buckets: [bucket('hot', 'chat', [limit, 1])],
          signal: new AbortController().signal,
        }),
      ),
    );
    const results = await Promise.all(attempts);
    expect(results.filter((result) => result.admitted)).toHaveLength(60);
    const [state] = await stores[0]!.getBuckets({ keys: [{ entity: 'hot', resource: 'chat' }], signal });
    // 60 admissions at nows within 19 ns of T0: tat is the sum of their costs from the first start.
    const tat = state?.tats.get('rpd') ?? 0n;
    expect(tat - T0).toBeGreaterThanOrEqual(60n * limit.emissionIntervalNs);
    expect(tat - T0).toBeLessThanOrEqual(60n * limit.emissionIntervalNs + 19n);
    expect(gcra.isAdmissible(tat, T0 + 19n, limit, 1)).toBe(false);
  });
});
