import { Limit, RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
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

function limiterOnFreshNamespace(): { limiter: RateLimiter; store: DynamoDBStore } {
  const store = new DynamoDBStore({ tableName, client: local.client, namespace: `settle-${++namespaces}` });
  const limiter = new RateLimiter({ store, limits: [Limit.perMinute('tpm', 10)], timeoutMs: 10_000 });
  return { limiter, store };
}

describe('leases on DynamoDBStore are settled exactly once', () => {
  it('refunds once when two rollbacks race (two leases of 5 on a capacity of 10)', async () => {
    const { limiter, store } = limiterOnFreshNamespace();
    const first = await limiter.acquire({ entity: 'k', consume: { tpm: 5 } });
    await limiter.acquire({ entity: 'k', consume: { tpm: 5 } });
    store.resetStats();
    await Promise.all([first.rollback(), first.rollback()]);
    expect(store.stats()['adjust']?.calls).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 5 });
  });

  it('applies only the first of a racing commit and rollback', async () => {
    const { limiter, store } = limiterOnFreshNamespace();
    const lease = await limiter.acquire({ entity: 'k', consume: { tpm: 2 } });
    await lease.adjust({ tpm: 3 });
    store.resetStats();
    const outcomes = await Promise.allSettled([lease.commit(), lease.rollback(), lease.commit()]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(store.stats()['adjust']?.calls).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ tpm: 5 });
  });
});

describe('limit names that are Object.prototype members, on DynamoDBStore', () => {
  it('keep exact counts: no tokens minted by refunding a limit the lease holds none of', async () => {
    const store = new DynamoDBStore({ tableName, client: local.client, namespace: `proto-${++namespaces}` });
    const limiter = new RateLimiter({
      store,
      limits: [Limit.perMinute('rpm', 10), Limit.perMinute('constructor', 10)],
      timeoutMs: 10_000,
    });
    const lease = await limiter.acquire({ entity: 'k', consume: { rpm: 1 } });
    await expect(lease.adjust({ constructor: -10 })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_INVALID_COST',
    });
    await lease.adjust({ constructor: 3 });
    await lease.commit();
    expect({ ...(await limiter.available({ entity: 'k' })) }).toEqual({ rpm: 9, constructor: 7 });
  });
});
