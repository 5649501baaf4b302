import { RedisStore, type RedisStoreOptions } from '@tollgate/redis';
import { Redis } from 'ioredis';
import type { StoreFactory } from './adapter-contract.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
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

/**
 * `RedisStore` for the adapter contract: one redis-server per suite (started
 * in `setup`), one client, a fresh key prefix per test.
 *
 * @example
 * describeAdapterContract(expressHarness('Express 5', express), { store: redisStoreFactory() });
 */
export function redisStoreFactory(): StoreFactory {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  let prefixes = 0;
  return {
    name: 'Redis',
    timeoutMs: 5000,
    async setup() {
      server = await startRedisServer();
      client = redisTestClient(server);
    },
    create() {
      if (client === undefined) throw new Error('redisStoreFactory: setup() has not run');
      return new RedisStore({ client, prefix: `adapter-${process.pid}-${++prefixes}:` });
    },
    async teardown() {
      client?.disconnect();
      await server?.stop();
    },
  };
}
