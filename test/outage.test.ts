import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { Limit, RateLimiter, RateLimiterUnavailable } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  localClientConfig,
  startDynamoDBLocal,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A DynamoDB Local of its own (the test stops it), keeping its data on disk so that the
// table and the buckets survive the restart.
let local: DynamoDBLocal;
let dbPath: string;
let tableName: string;

beforeAll(async () => {
  dbPath = mkdtempSync(join(tmpdir(), 'tollgate-outage-'));
  local = await startDynamoDBLocal({ dbPath });
  tableName = await createTestTable(local.client);
});
/** Lets a freshly started JVM answer a few reads (its first ones are slow) before deadlines count. */
async function warmUp(instance: DynamoDBLocal): Promise<void> {
  for (let index = 0; index < 20; index++) {
    await instance.client.send(
      new GetItemCommand({ TableName: tableName, Key: { PK: { S: 'warm-up' }, SK: { S: String(index) } } }),
    );
  }
}

afterAll(async () => {
  await local.stop();
  rmSync(dbPath, { recursive: true, force: true });
});

describe('DynamoDB outage', () => {
  it('blocks or admits degraded while the database is frozen or down, and resumes after a restart', async () => {
    await warmUp(local);
    const limits = [Limit.perDay('rpd', 5)];
    // Deadlines generous enough for a loaded machine; the frozen phase waits them out twice.
    const timeoutMs = 4000;
    const store = new DynamoDBStore({ tableName, clientConfig: localClientConfig(local.endpoint) });
    const warnings: string[] = [];
    const blocking = new RateLimiter({ store, limits, timeoutMs, onUnavailable: 'block' });
    const open = new RateLimiter({
      store,
      limits,
      timeoutMs,
      onUnavailable: 'allow',
      logger: { warn: (message) => void warnings.push(message) },
    });
    expect((await blocking.tryAcquire({ entity: 'key' })).allowed).toBe(true);
    expect((await open.tryAcquire({ entity: 'key' })).allowed).toBe(true);

    // Frozen: requests hang until the deadline. (A write sent before the deadline may still be
    // applied once the database wakes up, as with any database; another entity keeps `key` exact.)
    const pid = local.pid;
    expect(pid).toBeTypeOf('number');
    process.kill(pid!, 'SIGSTOP');
    try {
      await expect(blocking.acquire({ entity: 'frozen' })).rejects.toBeInstanceOf(RateLimiterUnavailable);
      const degraded = await open.tryAcquire({ entity: 'frozen' });
      expect(degraded).toMatchObject({ allowed: true, degraded: true });
    } finally {
      process.kill(pid!, 'SIGCONT');
    }

    // Down: connections are refused.
    const { port } = local;
    await local.stop();
    await expect(blocking.acquire({ entity: 'key' })).rejects.toBeInstanceOf(RateLimiterUnavailable);
    expect(await open.tryAcquire({ entity: 'key' })).toMatchObject({ allowed: true, degraded: true });
    expect(await open.tryAcquire({ entity: 'key' })).toMatchObject({ allowed: true, degraded: true });
    expect(warnings.length).toBeGreaterThanOrEqual(1);

    // Back on the same port with the same data: the same limiters decide again, from the stored state
    // (2 of 5 taken before the outage; nothing was charged while it lasted).
    local = await startDynamoDBLocal({ port, dbPath });
    await warmUp(local);
    const decisions = [];
    for (let index = 0; index < 4; index++) decisions.push(await blocking.tryAcquire({ entity: 'key' }));
    expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, true, false]);
    expect(decisions.every((decision) => decision.degraded === false)).toBe(true);
    expect((await open.tryAcquire({ entity: 'key' })).allowed).toBe(false);
    await store.close();
  }, 60_000);
});
