import { DYNAMODB_ENDPOINT_ENV, freePort, spawnDynamoDBLocal, stopProcess } from './dynamodb-process.js';

/**
 * Vitest global setup: starts ONE DynamoDB Local for the whole run and names
 * it in `TOLLGATE_DYNAMODB_ENDPOINT`, which the test workers inherit. It does
 * not wait for the JVM: the first `useDynamoDBLocal()` does, so the start
 * overlaps with collecting the test files. An endpoint already set (e.g. a
 * DynamoDB Local started by hand with `tollgate local`) is used as is.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[DYNAMODB_ENDPOINT_ENV]) return undefined;
  const port = await freePort();
  const { child } = spawnDynamoDBLocal(port);
  process.env[DYNAMODB_ENDPOINT_ENV] = `http://127.0.0.1:${port}`;
  return async () => {
    delete process.env[DYNAMODB_ENDPOINT_ENV];
    await stopProcess(child);
  };
}
