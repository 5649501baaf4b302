import { RedisStore, type RedisStoreOptions } from '@tollgate/redis';
import { Redis } from 'ioredis';
import type { RedisServer } from './redis-server.js';
import type { StoreFixture } from './store-contract.js';

let prefixes = 0;

/** A client for a test server: no retries per command, so a stopped server fails fast. */
export function redisTestClient(server: RedisServer, options: RedisTestClientOptions = {}): Redis {
  return new Redis(server.port, server.host, { maxRetriesPerRequest: 1, ...options });
}

/** The ioredis options the tests vary. */
export interface RedisTestClientOptions {
  enableOfflineQueue?: boolean;
  commandTimeout?: number;
  maxRetriesPerRequest?: number | null;
  lazyConnect?: boolean;
}

/**
 * A fresh {@link RedisStore} on `server` under a key prefix of its own, for
 * `describeStoreContract`; `cleanup` quits its client.
 *
 * @example
 * describeStoreContract('RedisStore', () => redisStoreFixture(server));
 */
export async function redisStoreFixture(
  server: RedisServer,
  options: Omit<RedisStoreOptions, 'client'> = {},
): Promise<StoreFixture & { client: Redis; store: RedisStore }> {
  const client = redisTestClient(server);
  const store = new RedisStore({ prefix: `test-${process.pid}-${++prefixes}:`, ...options, client });
  return {
    client,
    store,
    async cleanup() {
      await store.close();
      client.disconnect();
    },
  };
}
