import {
  type BillingMode,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { CHILDREN_INDEX, GSI1PK, GSI1SK, PK, SK, TTL } from './schema.js';

/** Capacity and billing of the table (and its index). */
export interface TableCapacityOptions {
  /** `PAY_PER_REQUEST` (on-demand, the default) or `PROVISIONED`. */
  billingMode?: BillingMode;
  /** Read capacity units of the table and of the children index, when provisioned (default 5). */
  readCapacityUnits?: number;
  /** Write capacity units of the table and of the children index, when provisioned (default 5). */
  writeCapacityUnits?: number;
}

/**
 * The table's definition, as `CreateTableCommand` input: string `PK`/`SK`,
 * the parent → children index `GSI1` (`GSI1PK`/`GSI1SK`, all attributes
 * projected), on-demand billing unless told otherwise, and a stream of new and
 * old images for the usage aggregator. TTL (`ttl`) is enabled separately,
 * by {@link createTable} or the template.
 *
 * @example
 * await client.send(new CreateTableCommand(tableDefinition('tollgate')));
 */
export function tableDefinition(
  tableName: string,
  options: TableCapacityOptions = {},
): CreateTableCommandInput {
  const billingMode = options.billingMode ?? 'PAY_PER_REQUEST';
  const throughput =
    billingMode === 'PROVISIONED'
      ? {
          ProvisionedThroughput: {
            ReadCapacityUnits: options.readCapacityUnits ?? 5,
            WriteCapacityUnits: options.writeCapacityUnits ?? 5,
          },
        }
      : {};
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' },
      { AttributeName: SK, AttributeType: 'S' },
      { AttributeName: GSI1PK, AttributeType: 'S' },
      { AttributeName: GSI1SK, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' },
      { AttributeName: SK, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: CHILDREN_INDEX,
        KeySchema: [
          { AttributeName: GSI1PK, KeyType: 'HASH' },
          { AttributeName: GSI1SK, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
        ...throughput,
      },
    ],
    BillingMode: billingMode,
    ...throughput,
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  };
}

/** The attribute DynamoDB's TTL reads on this table. */
export const TTL_ATTRIBUTE = TTL;

/** Options of {@link createTable}. */
export interface CreateTableOptions extends TableCapacityOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Succeed without change when the table exists already (default false: throw `ResourceInUseException`). */
  ifNotExists?: boolean;
  /** Longest wait for the table to become ACTIVE, in seconds (default 300). */
  maxWaitSeconds?: number;
}

/**
 * Creates the table for development and tests, waits until it is ACTIVE and
 * enables TTL on `ttl`. Production tables come from the CloudFormation
 * template (`tollgate template`); the store itself never creates tables.
 *
 * @example
 * await createTable({ client, tableName: 'tollgate' });
 */
export async function createTable(options: CreateTableOptions): Promise<void> {
  const { client, tableName } = options;
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName, options)));
  } catch (error) {
    if (!(options.ifNotExists && error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists(
    { client, maxWaitTime: options.maxWaitSeconds ?? 300, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  // DynamoDB refuses to enable TTL twice, so an existing table is asked first.
  if (options.ifNotExists) {
    const { TimeToLiveDescription: ttl } = await client.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );
    if (
      ttl?.AttributeName === TTL &&
      (ttl.TimeToLiveStatus === 'ENABLED' || ttl.TimeToLiveStatus === 'ENABLING')
    )
      return;
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TTL, Enabled: true },
    }),
  );
}

/** Options of {@link deleteTable}. */
export interface DeleteTableOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Succeed when there is no such table (default false: throw `ResourceNotFoundException`). */
  ifExists?: boolean;
  /** Longest wait for the table to disappear, in seconds (default 300). */
  maxWaitSeconds?: number;
}

/** Deletes the table and waits until it is gone. */
export async function deleteTable(options: DeleteTableOptions): Promise<void> {
  const { client, tableName } = options;
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (error) {
    if (options.ifExists && error instanceof ResourceNotFoundException) return;
    throw error;
  }
  await waitUntilTableNotExists(
    { client, maxWaitTime: options.maxWaitSeconds ?? 300, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
}
