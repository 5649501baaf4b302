import { Limit, RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { createTestTable, type DynamoDBLocal, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultUnits } from '../src/capacity/estimate.js';

describe('capacity defaults match what the store measures (DynamoDB Local)', () => {
  let local: DynamoDBLocal;
  let store: DynamoDBStore;
  let limiter: RateLimiter;
  const units = defaultUnits(2);

  beforeAll(async () => {
    local = await useDynamoDBLocal();
    const tableName = await createTestTable(local.client, 'capacity');
    store = new DynamoDBStore({ tableName, client: local.client });
    limiter = new RateLimiter({
      store,
      timeoutMs: 20_000,
      limits: [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)],
    });
    await limiter.createEntity({ id: 'org' });
    await limiter.createEntity({ id: 'key', parent: 'org', cascade: true });
    // Cascade charges the ancestors' stored limits.
    await limiter.setLimits({ entity: 'org' }, [
      Limit.perMinute('rpm', 1000),
      Limit.perMinute('tpm', 100_000),
    ]);
  });

  afterAll(async () => {
    await local?.stop();
  });

  /** Write and read units the store recorded for one kind of call during `work`. */
  async function measure(kind: string, work: () => Promise<void>): Promise<{ wcu: number; rcu: number }> {
    const before = store.stats()[kind] ?? { writeCapacityUnits: 0, readCapacityUnits: 0 };
    await work();
    const after = store.stats()[kind]!;
    return {
      wcu: after.writeCapacityUnits - before.writeCapacityUnits,
      rcu: after.readCapacityUnits - before.readCapacityUnits,
    };
  }

  it('an admitted single-bucket acquire with two limits costs the default acquire WCU', async () => {
    await limiter.acquire({ entity: 'solo', resource: 'warm-config' }).then((lease) => lease.commit());
    const charged = await measure('charge', async () => {
      const lease = await limiter.acquire({ entity: 'solo', consume: { rpm: 1, tpm: 100 } });
      await lease.commit();
    });
    expect(charged.wcu).toBe(units.acquireWcu);
  });

  it('a cascading acquire writes two bucket items, billed at the default cascade WCU each', async () => {
    await limiter.acquire({ entity: 'key', resource: 'warm' }).then((lease) => lease.commit());
    const charged = await measure('charge', async () => {
      const lease = await limiter.acquire({ entity: 'key', consume: { rpm: 1, tpm: 100 } });
      await lease.commit();
    });
    // DynamoDB Local reports one unit per transaction item; DynamoDB bills two (prepare and
    // commit), which is what the default per-item figure holds.
    expect(charged.wcu).toBe(2);
    expect(units.cascadeWcuPerItem).toBe(2 * units.acquireWcu);
  });

  it('an adjustment written at commit costs the default adjust WCU', async () => {
    const lease = await limiter.acquire({ entity: 'solo', consume: { rpm: 1, tpm: 100 } });
    await lease.adjust({ tpm: 50 });
    const adjusted = await measure('adjust', () => lease.commit());
    expect(adjusted.wcu).toBe(units.adjustWcu);
  });

  it('a config load costs no more than the default config RCU', async () => {
    await limiter.createEntity({ id: 'stored-entity' });
    const loaded = await measure('loadConfig', async () => {
      await limiter.acquire({ entity: 'stored-entity', consume: { rpm: 1 } }).then((lease) => lease.commit());
    });
    expect(loaded.rcu).toBeGreaterThan(0);
    expect(loaded.rcu).toBeLessThanOrEqual(units.configRcu);
  });
});
