import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { UsageSnapshot } from '@tollgate/core';
import { DynamoDBStore, encodeUsage, KeyBuilder } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  describeStoreContract,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import { afterAll, beforeAll } from 'vitest';

let local: DynamoDBLocal;
let tableName: string;
let namespaces = 0;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
});
afterAll(() => local.stop());

// One table for the file; every test gets a fresh namespace of it, so tests
// start from an empty store without creating tables.
function fixture(coalesce: boolean) {
  return async () => {
    const namespace = `contract-${++namespaces}`;
    const store = new DynamoDBStore({ tableName, client: local.client, namespace, coalesce });
    const keys = new KeyBuilder(namespace);
    return {
      store,
      cleanup: () => store.close(),
      async seedUsage(snapshots: readonly UsageSnapshot[]) {
        for (const snapshot of snapshots) {
          await local.client.send(
            new PutItemCommand({ TableName: tableName, Item: encodeUsage(keys, snapshot) }),
          );
        }
      },
    };
  };
}

describeStoreContract('DynamoDBStore', fixture(true));
describeStoreContract('DynamoDBStore with coalesce: false', fixture(false));
