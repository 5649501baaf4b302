/**
 * The DynamoDB actions each kind of caller needs, derived from the calls the
 * code makes. The template's managed policies are built from these lists,
 * and a test compares them with the SDK commands the store sends, so they
 * cannot drift apart.
 */

/**
 * IAM actions authorized by each DynamoDB SDK command. A transaction is
 * authorized per item by the item's own action (see
 * {@link TRANSACTION_ITEM_ACTIONS}), so `TransactWriteItemsCommand` maps to none by itself.
 */
export const COMMAND_ACTIONS = {
  GetItemCommand: ['dynamodb:GetItem'],
  BatchGetItemCommand: ['dynamodb:BatchGetItem'],
  QueryCommand: ['dynamodb:Query'],
  PutItemCommand: ['dynamodb:PutItem'],
  UpdateItemCommand: ['dynamodb:UpdateItem'],
  DeleteItemCommand: ['dynamodb:DeleteItem'],
  BatchWriteItemCommand: ['dynamodb:BatchWriteItem'],
  TransactWriteItemsCommand: [],
  TransactGetItemsCommand: [],
  DescribeTableCommand: ['dynamodb:DescribeTable'],
  DescribeTimeToLiveCommand: ['dynamodb:DescribeTimeToLive'],
  CreateTableCommand: ['dynamodb:CreateTable'],
  DeleteTableCommand: ['dynamodb:DeleteTable'],
  UpdateTimeToLiveCommand: ['dynamodb:UpdateTimeToLive'],
} as const satisfies Record<string, readonly string[]>;

/** IAM action that authorizes each kind of transaction item. */
export const TRANSACTION_ITEM_ACTIONS = {
  Update: 'dynamodb:UpdateItem',
  Put: 'dynamodb:PutItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
} as const satisfies Record<string, string>;

/**
 * The request path of an application: `acquire`, `adjust`/`commit`/`rollback`
 * (UpdateItem; TransactWriteItems of Update items for cascade) and reading
 * stored limits, entities and bucket state (BatchGetItem, GetItem). Nothing
 * else: it can neither delete, scan nor change limits.
 */
export const ACQUIRE_ACTIONS = ['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'] as const;

/**
 * Dashboards and `tollgate usage` / `limits get` / `entity get|children` / `table status`: reads
 * only, on the table and its index.
 */
export const READ_ONLY_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:DescribeTable',
  'dynamodb:DescribeTimeToLive',
] as const;

/**
 * Operators and the `tollgate` command: everything the store does, including
 * entity and limit administration (PutItem, DeleteItem, Query on the table
 * and the children index, BatchWriteItem) and `table status`.
 */
export const ADMIN_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:DescribeTimeToLive',
] as const;

/** The usage aggregator's writes: one conditional UpdateItem per usage snapshot. */
export const AGGREGATOR_TABLE_ACTIONS = ['dynamodb:UpdateItem'] as const;

/** What a Lambda event source mapping needs to read the table's stream. */
export const STREAM_READ_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
] as const;

/** Every caller role and its DynamoDB actions. */
export const IAM_ACTIONS = {
  acquire: ACQUIRE_ACTIONS,
  readOnly: READ_ONLY_ACTIONS,
  admin: ADMIN_ACTIONS,
  aggregator: AGGREGATOR_TABLE_ACTIONS,
} as const;

/** A caller role of {@link IAM_ACTIONS}. */
export type IamRole = keyof typeof IAM_ACTIONS;
