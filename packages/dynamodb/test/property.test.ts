import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  assertMatchesReference,
  createTestTable,
  type DynamoDBLocal,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, it } from 'vitest';

let local: DynamoDBLocal;
let tableName: string;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
});
afterAll(() => local.stop());

describe('RateLimiter on DynamoDBStore against a reference token bucket', () => {
  it('makes the same decisions, reports the same available tokens and the same waits (to the ms)', async () => {
    // The same property as the MemoryStore one, through real conditional writes:
    // fewer runs, since every step is a round trip to DynamoDB Local.
    const store = new DynamoDBStore({ tableName, client: local.client, namespace: 'property' });
    await assertMatchesReference(store, { runs: 150, maxSteps: 25, timeoutMs: 10_000 });
  }, 240_000);
});
