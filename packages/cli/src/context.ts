import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { type Command, Option } from 'commander';
import { Output, type Streams } from './output.js';

/** What every command runs with: where to print and the environment. */
export interface CliContext {
  readonly streams: Streams;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Options shared by commands that talk to DynamoDB. */
export interface ConnectionOptions {
  endpoint?: string;
  region?: string;
  table: string;
  namespace?: string;
  timeout: string;
  json?: boolean;
}

/** Adds `--json`. */
export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON document (for scripts) instead of tables');
}

/** Adds `--endpoint` and `--region`. */
export function withEndpoint(command: Command): Command {
  return command
    .addOption(
      new Option('--endpoint <url>', 'DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local').env(
        'TOLLGATE_ENDPOINT',
      ),
    )
    .addOption(new Option('--region <region>', 'AWS region').env('AWS_REGION'));
}

/** Adds `--endpoint`, `--region`, `--table`, `--namespace`, `--timeout` and `--json`. */
export function withConnection(command: Command): Command {
  return withJson(
    withEndpoint(command)
      .addOption(new Option('--table <name>', 'table name').env('TOLLGATE_TABLE').default('tollgate'))
      .addOption(
        new Option('--namespace <namespace>', 'key namespace inside the table').env('TOLLGATE_NAMESPACE'),
      )
      .option('--timeout <ms>', 'deadline of each DynamoDB call in ms', '10000'),
  );
}

/**
 * SDK client configuration for the options. With an endpoint (DynamoDB
 * Local) and no credentials in the environment, fixed local credentials and
 * region are used, since DynamoDB Local accepts any.
 */
export function clientConfig(
  options: { endpoint?: string | undefined; region?: string | undefined },
  env: CliContext['env'],
): DynamoDBClientConfig {
  const config: DynamoDBClientConfig = {};
  if (options.region !== undefined) config.region = options.region;
  if (options.endpoint !== undefined) {
    config.endpoint = options.endpoint;
    config.region ??= 'us-east-1';
    if (env['AWS_ACCESS_KEY_ID'] === undefined && env['AWS_PROFILE'] === undefined) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return config;
}

/** A limiter over a `DynamoDBStore` for the options; `close()` releases its client. */
export function openLimiter(options: ConnectionOptions, context: CliContext): RateLimiter {
  const store = new DynamoDBStore({
    tableName: options.table,
    clientConfig: clientConfig(options, context.env),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  return new RateLimiter({ store, timeoutMs: Number(options.timeout), limits: [] });
}

/** The output of a command invocation. */
export function outputFor(options: { json?: boolean | undefined }, context: CliContext): Output {
  return new Output(context.streams, options.json === true);
}
