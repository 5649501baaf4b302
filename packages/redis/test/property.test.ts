import {
  assertMatchesReference,
  type RedisServer,
  redisStoreFixture,
  startRedisServer,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, it } from 'vitest';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());

describe('RateLimiter on RedisStore against a reference token bucket', () => {
  it('makes the same decisions, reports the same available tokens and the same waits (to the ms)', async () => {
    // The MemoryStore property through the Lua script: every tat is computed on decimal
    // strings in Redis, so any loss of precision beyond 2^53 would show as a different decision.
    const { store, cleanup } = await redisStoreFixture(server);
    try {
      await assertMatchesReference(store, { runs: 300, maxSteps: 30, timeoutMs: 5000 });
    } finally {
      await cleanup();
    }
  }, 120_000);
});
