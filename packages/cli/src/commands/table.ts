import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { createTable, deleteTable } from '@tollgate/dynamodb';
import { Command, Option } from 'commander';
import {
  type CliContext,
  type ConnectionOptions,
  clientConfig,
  outputFor,
  withConnection,
} from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { details } from '../output.js';

interface CreateOptions extends ConnectionOptions {
  billingMode: 'on-demand' | 'provisioned';
  rcu: string;
  wcu: string;
  ifNotExists?: boolean;
}

interface DeleteOptions extends ConnectionOptions {
  ifExists?: boolean;
}

/** `tollgate table create|delete|status`: tables for development and tests. */
export function tableCommand(context: CliContext): Command {
  const command = new Command('table').description(
    'create, delete or inspect a table for development and tests (production: `tollgate template` / `deploy`)',
  );

  withConnection(
    command
      .command('create')
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
    const client = new DynamoDBClient(clientConfig(options, context.env));
    try {
      output.note(`Creating table ${options.table}...`);
      await createTable({
        client,
        tableName: options.table,
        billingMode: options.billingMode === 'provisioned' ? 'PROVISIONED' : 'PAY_PER_REQUEST',
        readCapacityUnits: Number(options.rcu),
        writeCapacityUnits: Number(options.wcu),
        ...(options.ifNotExists === true ? { ifNotExists: true } : {}),
      });
      output.result({ table: options.table, status: 'ACTIVE' }, () => `Table ${options.table} is active`);
    } catch (error) {
      if (error instanceof ResourceInUseException) {
        throw new CliError(
          EXIT.conflict,
          'ERR_TOLLGATE_CLI_TABLE_EXISTS',
          `Table ${options.table} exists already`,
          {
            cause: error,
          },
        );
      }
      throw error;
    } finally {
      client.destroy();
    }
  });

  withConnection(
    command
      .command('delete')
      .description('delete the table and wait until it is gone')
      .option('--if-exists', 'succeed when there is no such table'),
  ).action(async (options: DeleteOptions) => {
    const output = outputFor(options, context);
    const client = new DynamoDBClient(clientConfig(options, context.env));
    try {
      output.note(`Deleting table ${options.table}...`);
      await deleteTable({
        client,
        tableName: options.table,
        ...(options.ifExists === true ? { ifExists: true } : {}),
      });
      output.result({ table: options.table, deleted: true }, () => `Table ${options.table} is deleted`);
    } catch (error) {
      if (error instanceof ResourceNotFoundException) {
        throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_CLI_NO_TABLE', `No table ${options.table}`, {
          cause: error,
        });
      }
      throw error;
    } finally {
      client.destroy();
    }
  });

  withConnection(
    command.command('status').description('show the table: status, billing, stream, TTL, items'),
  ).action(async (options: ConnectionOptions) => {
    const client = new DynamoDBClient(clientConfig(options, context.env));
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

async function describe(client: DynamoDBClient, tableName: string): Promise<TableStatus> {
  try {
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
      stream: table?.StreamSpecification?.StreamEnabled
        ? table.StreamSpecification.StreamViewType
        : undefined,
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
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_CLI_NO_TABLE', `No table ${tableName}`, {
        cause: error,
      });
    }
    throw error;
  }
}
