import { randomBytes } from 'node:crypto';
import { DynamoDBClient, type DynamoDBClientConfig, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createTable } from '@tollgate/dynamodb';
import { DYNAMODB_ENDPOINT_ENV, freePort, spawnDynamoDBLocal, stopProcess } from './dynamodb-process.js';

/** Region of every DynamoDB Local client (any would do; one fixed value keeps every client on one database). */
export const LOCAL_REGION = 'us-east-1';
/** Credentials of every DynamoDB Local client (it accepts any). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** How long DynamoDB Local may take to answer its first `ListTables`. */
const READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 100;

/** A running DynamoDB Local (or a handle on a shared one). */
export interface DynamoDBLocal {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** A client for the endpoint (destroyed by `stop`). */
  readonly client: DynamoDBClient;
  /** The Java process, when this handle started it (to freeze it with SIGSTOP, say). */
  readonly pid: number | undefined;
  /** Stops the instance if this handle started it, and destroys the client. */
  stop(): Promise<void>;
}

/** Options of {@link startDynamoDBLocal}. */
export interface StartDynamoDBLocalOptions {
  /** Port to listen on; default: a free one. */
  port?: number;
  /** Longest wait for the first answer, in ms (default 60 000). */
  readyTimeoutMs?: number;
  /** Keep the database in this directory (absolute path) instead of in memory, so that it survives a restart. */
  dbPath?: string;
}

/** Client configuration for a DynamoDB Local endpoint. */
export function localClientConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: LOCAL_REGION, credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 };
}

/** A client for a DynamoDB Local endpoint. */
export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient(localClientConfig(endpoint));
}

/**
 * Waits until `ListTables` answers on `endpoint`, polling every 100 ms.
 *
 * @throws Error after `timeoutMs`, or at once when `exited()` reports that the process died.
 */
export async function waitForDynamoDB(
  endpoint: string,
  timeoutMs = READY_TIMEOUT_MS,
  exited: () => string | undefined = () => undefined,
): Promise<void> {
  const client = localClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    for (;;) {
      const death = exited();
      if (death !== undefined)
        throw new Error(`DynamoDB Local at ${endpoint} exited before answering: ${death}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2000) });
        return;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) {
        const reason = lastError instanceof Error ? lastError.message : String(lastError);
        throw new Error(
          `DynamoDB Local at ${endpoint} did not answer ListTables within ${timeoutMs} ms (last error: ${reason}). ` +
            'It needs `java` 17+ on the PATH.',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  } finally {
    client.destroy();
  }
}

/**
 * Starts a DynamoDB Local of its own (in memory) and waits until it answers.
 * For tests that stop and restart the database; other tests share one
 * instance through {@link useDynamoDBLocal}.
 *
 * @example
 * const local = await startDynamoDBLocal();
 * try { ... } finally { await local.stop(); }
 */
export async function startDynamoDBLocal(options: StartDynamoDBLocalOptions = {}): Promise<DynamoDBLocal> {
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const { child, output } = spawnDynamoDBLocal(port, options.dbPath);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `exit code ${code ?? 'none'}, signal ${signal ?? 'none'}; output: ${output().trim() || '(none)'}`;
  });
  child.once('error', (error) => {
    exit = `could not start java: ${error.message}`;
  });
  try {
    await waitForDynamoDB(endpoint, options.readyTimeoutMs ?? READY_TIMEOUT_MS, () => exit);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  const client = localClient(endpoint);
  return {
    endpoint,
    port,
    client,
    pid: child.pid,
    async stop() {
      client.destroy();
      await stopProcess(child);
    },
  };
}

/**
 * The DynamoDB Local of this test run: the shared instance named by
 * `TOLLGATE_DYNAMODB_ENDPOINT` (started once by the vitest global setup, or
 * by hand) when set, else a new one. `stop()` only stops what it started.
 *
 * @example
 * let local: DynamoDBLocal;
 * beforeAll(async () => { local = await useDynamoDBLocal(); });
 * afterAll(() => local.stop());
 */
export async function useDynamoDBLocal(): Promise<DynamoDBLocal> {
  const shared = process.env[DYNAMODB_ENDPOINT_ENV];
  if (shared === undefined || shared === '') return startDynamoDBLocal();
  await waitForDynamoDB(shared);
  const client = localClient(shared);
  return {
    endpoint: shared,
    port: Number(new URL(shared).port),
    client,
    pid: undefined,
    async stop() {
      client.destroy();
    },
  };
}

let tableCount = 0;

/**
 * Creates a table with the Tollgate layout under a unique name (TTL enabled,
 * ACTIVE) and returns the name.
 */
export async function createTestTable(client: DynamoDBClient, prefix = 'tollgate-test'): Promise<string> {
  tableCount += 1;
  const tableName = `${prefix}-${process.pid}-${tableCount}-${randomBytes(3).toString('hex')}`;
  await createTable({ client, tableName });
  return tableName;
}
