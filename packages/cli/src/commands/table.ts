import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { createTable, deleteTable } from '@tollgate/dynamodb';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  openClient,
  outputFor,
  withConnection,
} from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { details } from '../output.js';

interface WaitOptions extends ConnectionOptions {
  maxWait: number;
}

interface CreateOptions extends WaitOptions {
  billingMode: 'on-demand' | 'provisioned';
  rcu: string;
  wcu: string;
  ifNotExists?: boolean;
}

interface DeleteOptions extends WaitOptions {
  ifExists?: boolean;
}

/** Longest wait for a table to become ACTIVE or to disappear, in seconds, when `--max-wait` is not given. */
const DEFAULT_MAX_WAIT_SECONDS = 300;

function parseSeconds(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || parsed < 1) {
    throw new InvalidArgumentError(`Expected a whole number of seconds (at least 1), got "${value}"`);
  }
  return parsed;
}

/** `--max-wait <s>`: how long `create` and `delete` wait for the table to settle. */
function withMaxWait(command: Command): Command {
  return command.addOption(
    new Option('--max-wait <seconds>', 'longest wait for the table to settle (each poll has --timeout)')
      .argParser(parseSeconds)
      .default(DEFAULT_MAX_WAIT_SECONDS),
  );
}

/** `tollgate table create|delete|status`: tables for development and tests. */
export function tableCommand(context: CliContext): Command {
  const command = new Command('table').description(
    'create, delete or inspect a table for development and tests (production: `tollgate template` / `deploy`)',
  );

  withConnection(
    withMaxWait(command.command('create'))
      .description('create the table (keys, children index, stream, TTL) and wait until it is active')
      .addOption(
        new Option('--billing-mode <mode>', 'billing mode')
          .choices(['on-demand', 'provisioned'])
          .default('on-demand'),
      )
      .option('--rcu <units>', 'read capacity units when provisioned', '5')
      .option('--wcu <units>', 'write capacity units when provisioned', '5')
      .option('--if-not-exists', 'succeed when the table exists already'),
  ).action(async (options: CreateOptions) => {
    const output = outputFor(options, context);
    const client = openClient(options, context);
    try {
      output.note(`Creating table ${options.table}...`);
      await createTable({
        client,
        tableName: options.table,
        billingMode: options.billingMode === 'provisioned' ? 'PROVISIONED' : 'PAY_PER_REQUEST',
        readCapacityUnits: Number(options.rcu),
        writeCapacityUnits: Number(options.wcu),
        maxWaitSeconds: options.maxWait,
        ...(options.ifNotExists === true ? { ifNotExists: true } : {}),
      });
      output.result({ table: options.table, status: 'ACTIVE' }, () => `Table ${options.table} is active`);
    } catch (error) {
      if (error instanceof ResourceInUseException) {
        throw new CliError(
          EXIT.conflict,
          'ERR_TOLLGATE_CLI_TABLE_EXISTS',
          `Table ${options.table} (--table) exists already; pass --if-not-exists to accept it`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      client.destroy();
    }
  });

  withConnection(
    withMaxWait(command.command('delete'))
      .description('delete the table and wait until it is gone')
      .option('--if-exists', 'succeed when there is no such table'),
  ).action(async (options: DeleteOptions) => {
    const output = outputFor(options, context);
    const client = openClient(options, context);
    try {
      output.note(`Deleting table ${options.table}...`);
      await deleteTable({
        client,
        tableName: options.table,
        maxWaitSeconds: options.maxWait,
        ...(options.ifExists === true ? { ifExists: true } : {}),
      });
      output.result({ table: options.table, deleted: true }, () => `Table ${options.table} is deleted`);
    } finally {
      client.destroy();
    }
  });

  withConnection(
    command.command('status').description('show the table: status, billing, stream, TTL, items'),
  ).action(async (options: ConnectionOptions) => {
    const client = openClient(options, context);
    try {
      const status = await describe(client, options.table);
      outputFor(options, context).result(status, () =>
        details([
          ['table', status.table],
          ['status', status.status],
          ['billing mode', status.billingMode],
          ['items (approx.)', status.itemCount],
          ['size (bytes, approx.)', status.sizeBytes],
          ['stream', status.stream ?? 'disabled'],
          ['TTL', status.ttl],
          ['indexes', status.indexes.join(', ')],
          ['deletion protection', status.deletionProtection],
        ]),
      );
    } finally {
      client.destroy();
    }
  });
  return command;
}

/** What `table status` reports. */
export interface TableStatus {
  table: string;
  status: string;
  billingMode: string;
  itemCount: number;
  sizeBytes: number;
  stream: string | undefined;
  streamArn: string | undefined;
  ttl: string;
  indexes: string[];
  deletionProtection: boolean;
}

/** A missing table is `ResourceNotFoundException`, reported as `ERR_TOLLGATE_CLI_NO_TABLE` (exit 3). */
async function describe(client: DynamoDBClient, tableName: string): Promise<TableStatus> {
  const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const { TimeToLiveDescription: ttl } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  return {
    table: tableName,
    status: table?.TableStatus ?? 'UNKNOWN',
    billingMode: table?.BillingModeSummary?.BillingMode ?? 'PROVISIONED',
    itemCount: table?.ItemCount ?? 0,
    sizeBytes: table?.TableSizeBytes ?? 0,
    stream: table?.StreamSpecification?.StreamEnabled ? table.StreamSpecification.StreamViewType : undefined,
    streamArn: table?.LatestStreamArn,
    ttl:
      ttl?.TimeToLiveStatus === undefined
        ? 'DISABLED'
        : `${ttl.TimeToLiveStatus} (${ttl.AttributeName ?? ''})`,
    indexes: (table?.GlobalSecondaryIndexes ?? []).map(
      (index) => `${index.IndexName} (${index.IndexStatus})`,
    ),
    deletionProtection: table?.DeletionProtectionEnabled === true,
  };
}
