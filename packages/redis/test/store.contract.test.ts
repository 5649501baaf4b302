import {
  describeStoreContract,
  type RedisServer,
  redisStoreFixture,
  startRedisServer,
} from '@tollgate/test-utils';
import { afterAll, beforeAll } from 'vitest';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());

// Every test gets a store under a prefix of its own on one server.
describeStoreContract('RedisStore', () => redisStoreFixture(server));
describeStoreContract('RedisStore with a shared hash tag', () =>
  redisStoreFixture(server, { hashTag: () => 'tenant', prefix: `tagged-${process.pid}-${Math.random()}:` }),
);
