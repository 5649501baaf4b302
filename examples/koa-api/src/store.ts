import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MemoryStore, type Store } from '@tollgate/core';
import { createTable, DynamoDBStore } from '@tollgate/dynamodb';

/** The store the API runs on, and how to release what it opened. */
export interface ApiStore {
  store: Store;
  description: string;
  stop(): Promise<void>;
}

/** Where to find DynamoDB: the same variables the `tollgate` CLI reads. */
export interface StoreEnvironment {
  /** `TOLLGATE_ENDPOINT`, e.g. `http://127.0.0.1:8000` from `tollgate local start`. */
  TOLLGATE_ENDPOINT?: string | undefined;
  /** `TOLLGATE_TABLE`; default `tollgate-koa-api`. */
  TOLLGATE_TABLE?: string | undefined;
  /** `AWS_REGION`; default `us-east-1`. */
  AWS_REGION?: string | undefined;
}

const DEFAULT_TABLE = 'tollgate-koa-api';

/**
 * A `MemoryStore` (one process) unless `TOLLGATE_ENDPOINT` is set; then a
 * `DynamoDBStore` on that endpoint (DynamoDB Local: fake credentials), with
 * the table created if it is missing, so several processes share the limits.
 */
export async function openStore(env: StoreEnvironment): Promise<ApiStore> {
  const endpoint = env.TOLLGATE_ENDPOINT;
  if (endpoint === undefined || endpoint === '') {
    return {
      store: new MemoryStore(),
      description: 'MemoryStore (this process only; set TOLLGATE_ENDPOINT for DynamoDB Local)',
      stop: async () => undefined,
    };
  }
  const tableName = env.TOLLGATE_TABLE || DEFAULT_TABLE;
  const client = new DynamoDBClient({
    endpoint,
    region: env.AWS_REGION || 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await createTable({ client, tableName, ifNotExists: true, maxWaitSeconds: 30 });
  } catch (error) {
    client.destroy();
    throw new Error(`Could not reach DynamoDB at ${endpoint} (is DynamoDB Local running?)`, { cause: error });
  }
  return {
    store: new DynamoDBStore({ tableName, client }),
    description: `DynamoDBStore, table ${tableName} at ${endpoint}`,
    stop: async () => client.destroy(),
  };
}
