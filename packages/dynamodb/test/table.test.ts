import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { createTable, deleteTable, tableDefinition } from '@tollgate/dynamodb';
import { type DynamoDBLocal, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let local: DynamoDBLocal;

beforeAll(async () => {
  local = await useDynamoDBLocal();
});
afterAll(() => local.stop());

describe('tableDefinition', () => {
  it('describes string keys, the children index, on-demand billing and a stream of both images', () => {
    const definition = tableDefinition('tollgate');
    expect(definition).toMatchObject({
      TableName: 'tollgate',
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    expect(definition.AttributeDefinitions).toEqual(
      ['PK', 'SK', 'GSI1PK', 'GSI1SK'].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    );
    expect(definition.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'GSI1',
        KeySchema: [
          { AttributeName: 'GSI1PK', KeyType: 'HASH' },
          { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(definition).not.toHaveProperty('ProvisionedThroughput');
  });

  it('gives the table and the index provisioned throughput when asked', () => {
    const definition = tableDefinition('tollgate', {
      billingMode: 'PROVISIONED',
      readCapacityUnits: 7,
      writeCapacityUnits: 9,
    });
    expect(definition.ProvisionedThroughput).toEqual({ ReadCapacityUnits: 7, WriteCapacityUnits: 9 });
    expect(definition.GlobalSecondaryIndexes?.[0]?.ProvisionedThroughput).toEqual({
      ReadCapacityUnits: 7,
      WriteCapacityUnits: 9,
    });
  });
});

describe('createTable and deleteTable', () => {
  it('creates an ACTIVE table with TTL on `ttl`, tolerates an existing one on request, and deletes it', async () => {
    const tableName = `tollgate-table-${process.pid}`;
    const { client } = local;
    await createTable({ client, tableName });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(['GSI1']);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'ttl', TimeToLiveStatus: 'ENABLED' });

    await expect(createTable({ client, tableName })).rejects.toBeInstanceOf(ResourceInUseException);
    await createTable({ client, tableName, ifNotExists: true });

    await deleteTable({ client, tableName });
    await expect(client.send(new DescribeTableCommand({ TableName: tableName }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    await expect(deleteTable({ client, tableName })).rejects.toBeInstanceOf(ResourceNotFoundException);
    await deleteTable({ client, tableName, ifExists: true });
  });
});
