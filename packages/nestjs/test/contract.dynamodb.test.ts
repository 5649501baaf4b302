import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  describeAdapterContract,
  type StoreFactory,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import { nestHarness } from './harness.js';

/** DynamoDBStore on the run's DynamoDB Local: one table for this file, a fresh namespace per test. */
function dynamoDBStoreFactory(): StoreFactory {
  let local: DynamoDBLocal | undefined;
  let tableName = '';
  let namespaces = 0;
  return {
    name: 'DynamoDBStore',
    timeoutMs: 5_000,
    async setup() {
      local = await useDynamoDBLocal();
      tableName = await createTestTable(local.client, 'tollgate-nest');
    },
    create() {
      if (!local) throw new Error('DynamoDB Local is not started');
      namespaces += 1;
      return new DynamoDBStore({ tableName, client: local.client, namespace: `nest-${namespaces}` });
    },
    async teardown() {
      await local?.stop();
    },
  };
}

describeAdapterContract(nestHarness('express'), { store: dynamoDBStoreFactory() });
describeAdapterContract(nestHarness('fastify'), { store: dynamoDBStoreFactory() });
