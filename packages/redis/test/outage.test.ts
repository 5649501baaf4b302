import { Limit, RateLimiter, RateLimiterUnavailable } from '@tollgate/core';
import { RedisStore } from '@tollgate/redis';
import { type RedisServer, redisTestClient, startRedisServer } from '@tollgate/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

let server: RedisServer | undefined;
const clients: Redis[] = [];

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server?.stop();
});

/** Resolves once `client` has reconnected and answers. */
async function reconnected(client: Redis): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await client.ping()) === 'PONG') return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Redis outage', () => {
  it('blocks while Redis is frozen or down, never with a 429, and resumes after a restart', async () => {
    server = await startRedisServer();
    // One client queues commands while disconnected (ioredis' default), the other fails them at once.
    const queueing = redisTestClient(server, { maxRetriesPerRequest: 1 });
    const failing = redisTestClient(server, { enableOfflineQueue: false });
    clients.push(queueing, failing);
    // ioredis reports connection errors as events too; the commands' own rejections are what counts.
    for (const client of clients) client.on('error', () => undefined);
    const limits = [Limit.perDay('rpd', 3)];
    const limiters = [queueing, failing].map(
      (client, index) =>
        new RateLimiter({
          store: new RedisStore({ client, prefix: `outage-${index}:` }),
          limits,
          timeoutMs: 1000,
          onUnavailable: 'block',
        }),
    );
    await reconnected(queueing);
    await reconnected(failing);
    for (const limiter of limiters) expect((await limiter.tryAcquire({ entity: 'key' })).allowed).toBe(true);

    // Frozen: the command hangs until the deadline.
    process.kill(server.pid!, 'SIGSTOP');
    try {
      for (const limiter of limiters) {
        await expect(limiter.acquire({ entity: 'frozen' })).rejects.toBeInstanceOf(RateLimiterUnavailable);
      }
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }

    // Down: connections are refused.
    const { port } = server;
    await server.stop();
    for (const limiter of limiters) {
      const started = Date.now();
      await expect(limiter.acquire({ entity: 'key' })).rejects.toBeInstanceOf(RateLimiterUnavailable);
      expect(Date.now() - started).toBeLessThan(3000);
    }

    // Back on the same port, empty (no persistence): the same limiters and clients decide again,
    // and the scripts are loaded again on first use (NOSCRIPT → EVAL).
    server = await startRedisServer({ port });
    await reconnected(queueing);
    await reconnected(failing);
    for (const limiter of limiters) {
      const decisions = [];
      for (let index = 0; index < 4; index++) decisions.push(await limiter.tryAcquire({ entity: 'after' }));
      expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, true, false]);
    }
  }, 30_000);
});
