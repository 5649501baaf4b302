import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_TIMEOUT_MS, withDeadline } from './deadline.js';
import type { ServiceTarget } from './exit-codes.js';
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
  /** `--timeout`, parsed: the deadline of each request in ms. */
  timeout: number;
  json?: boolean;
}

/** The service each command talks to, for wording its connection failures. */
const SERVICES = new WeakMap<Command, ServiceTarget['service']>();

/**
 * The service `command` talks to and how its options chose it (endpoint,
 * region, table, timeout), or undefined for a command that talks to none.
 */
export function serviceTarget(command: Command): ServiceTarget | undefined {
  const service = SERVICES.get(command);
  if (service === undefined) return undefined;
  const options = command.opts<Partial<ConnectionOptions>>();
  return {
    service,
    endpoint: options.endpoint,
    region: options.region,
    table: options.table,
    timeoutMs: options.timeout,
  };
}

/** Parses `--timeout`: a whole number of ms, at least 1. */
export function parseTimeout(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`Expected a whole number of milliseconds (at least 1), got "${value}"`);
  }
  return parsed;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

function parseTable(value: string): string {
  if (!TABLE_NAME.test(value)) {
    throw new InvalidArgumentError(
      `Expected a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -), got "${value}"`,
    );
  }
  return value;
}

/**
 * Adds `--timeout <ms>` (also `TOLLGATE_TIMEOUT`; default {@link DEFAULT_TIMEOUT_MS})
 * and records that the command talks to `service`.
 */
export function withTimeout(command: Command, service: ServiceTarget['service']): Command {
  SERVICES.set(command, service);
  return command.addOption(
    new Option('--timeout <ms>', `deadline of each request to ${service}, in ms`)
      .env('TOLLGATE_TIMEOUT')
      .argParser(parseTimeout)
      .default(DEFAULT_TIMEOUT_MS),
  );
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
    withTimeout(
      withEndpoint(command)
        .addOption(
          new Option('--table <name>', 'table name')
            .env('TOLLGATE_TABLE')
            .argParser(parseTable)
            .default('tollgate'),
        )
        .addOption(
          new Option('--namespace <namespace>', 'key namespace inside the table').env('TOLLGATE_NAMESPACE'),
        ),
      'DynamoDB',
    ),
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

/** A DynamoDB client for the options whose every request has the `--timeout` deadline; `destroy()` it. */
export function openClient(options: ConnectionOptions, context: CliContext): DynamoDBClient {
  return withDeadline(new DynamoDBClient(clientConfig(options, context.env)), options.timeout);
}

/**
 * Extra time the limiter allows a store operation beyond `--timeout`, so that
 * a request's own deadline, which names the operation, is what reports a
 * silent endpoint.
 */
const STORE_GRACE_MS = 250;

/**
 * A `DynamoDBStore` for the options (keep-alive client, `--timeout` on each of
 * its requests); the limiter's `close()` releases the client.
 */
export function openStore(options: ConnectionOptions, context: CliContext): DynamoDBStore {
  const store = new DynamoDBStore({
    tableName: options.table,
    clientConfig: clientConfig(options, context.env),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  withDeadline(store.client, options.timeout);
  return store;
}

/** The limiter's `timeoutMs` for `--timeout`: a store operation's deadline. */
export function storeTimeout(options: ConnectionOptions): number {
  return options.timeout + STORE_GRACE_MS;
}

/** A limiter over a `DynamoDBStore` for the options; `close()` releases its client. */
export function openLimiter(options: ConnectionOptions, context: CliContext): RateLimiter {
  return new RateLimiter({
    store: openStore(options, context),
    timeoutMs: storeTimeout(options),
    limits: [],
  });
}

/** The output of a command invocation. */
export function outputFor(options: { json?: boolean | undefined }, context: CliContext): Output {
  return new Output(context.streams, options.json === true);
}
