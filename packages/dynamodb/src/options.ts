import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { describeValue, ValidationError } from '@tollgate/core';
import { positiveInteger } from '@tollgate/core/internal';

/** Options of `DynamoDBStore`. */
export interface DynamoDBStoreOptions {
  /** The table made by `createTable()` or the CloudFormation template. */
  tableName: string;
  /** A client to use (and not to close): pass this or `clientConfig`. */
  client?: DynamoDBClient;
  /**
   * Configuration of a client the store creates, with keep-alive connections,
   * and destroys in `close()`. E.g. `{ region: 'eu-west-1' }` or, for
   * DynamoDB Local, `{ endpoint: 'http://127.0.0.1:8000' }`.
   */
  clientConfig?: DynamoDBClientConfig;
  /** Prefixes every key, so several apps or environments can share one table. */
  namespace?: string;
  /** Strongly consistent reads for `getBuckets` and `loadConfig` (twice the read cost). Default false. */
  consistentReads?: boolean;
  /** Buckets whose last state is remembered to guess the write form (default 10 000). */
  stateCacheSize?: number;
  /** Seconds added to the TTL of a bucket beyond its last tat (default 3600). */
  ttlMarginSeconds?: number;
  /** Writes per call when conditions keep failing because of concurrent changes (default 6). */
  maxAttempts?: number;
  /** `Limit` of each Query page (children, entity deletion); default: DynamoDB's 1 MB pages. */
  queryPageSize?: number;
  /**
   * Combine the charges (and, separately, the adjustments) this store
   * receives for one item set while a write to it is in flight into ONE
   * conditional write, each request still decided as if alone, in arrival
   * order. Default true; false sends every call as its own write.
   */
  coalesce?: boolean;
}

/** Options after validation, with defaults applied. */
export interface ResolvedStoreOptions {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  /** True when the store created the client and must destroy it. */
  readonly ownsClient: boolean;
  readonly namespace: string | undefined;
  readonly consistentReads: boolean;
  readonly stateCacheSize: number;
  readonly ttlMarginSeconds: number;
  readonly maxAttempts: number;
  readonly queryPageSize: number | undefined;
  readonly coalesce: boolean;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/** Validates the options with exact messages and creates the client if asked to. Does no I/O. */
export function resolveStoreOptions(options: DynamoDBStoreOptions): ResolvedStoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', `Expected DynamoDBStore options to be an object, got ${describeValue(options)}`);
  }
  const { tableName, client, clientConfig, namespace } = options;
  if (typeof tableName !== 'string' || !TABLE_NAME.test(tableName)) {
    throw invalid(
      'tableName',
      `Expected \`tableName\` to be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -), got ${describeValue(tableName)}`,
    );
  }
  if (client !== undefined && clientConfig !== undefined) {
    throw invalid('client', 'Expected either `client` or `clientConfig`, not both');
  }
  if (client === undefined && clientConfig === undefined) {
    throw invalid(
      'client',
      'Expected `client` (a DynamoDBClient) or `clientConfig` (options for one), got neither',
    );
  }
  if (
    client !== undefined &&
    (typeof client !== 'object' || client === null || typeof client.send !== 'function')
  ) {
    throw invalid('client', `Expected \`client\` to be a DynamoDBClient, got ${describeValue(client)}`);
  }
  if (clientConfig !== undefined && (typeof clientConfig !== 'object' || clientConfig === null)) {
    throw invalid(
      'clientConfig',
      `Expected \`clientConfig\` to be an object, got ${describeValue(clientConfig)}`,
    );
  }
  if (
    namespace !== undefined &&
    (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 64)
  ) {
    throw invalid(
      'namespace',
      `Expected \`namespace\` to be a string of 1 to 64 characters, got ${describeValue(namespace)}`,
    );
  }
  if (options.consistentReads !== undefined && typeof options.consistentReads !== 'boolean') {
    throw invalid(
      'consistentReads',
      `Expected \`consistentReads\` to be a boolean, got ${describeValue(options.consistentReads)}`,
    );
  }
  if (options.coalesce !== undefined && typeof options.coalesce !== 'boolean') {
    throw invalid(
      'coalesce',
      `Expected \`coalesce\` to be a boolean, got ${describeValue(options.coalesce)}`,
    );
  }
  const stateCacheSize = positiveInteger('stateCacheSize', options.stateCacheSize ?? 10_000);
  const ttlMarginSeconds = positiveInteger('ttlMarginSeconds', options.ttlMarginSeconds ?? 3600);
  const maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? 6);
  const queryPageSize =
    options.queryPageSize === undefined ? undefined : positiveInteger('queryPageSize', options.queryPageSize);
  return {
    tableName,
    client: client ?? createClient(clientConfig ?? {}),
    ownsClient: client === undefined,
    namespace,
    consistentReads: options.consistentReads ?? false,
    stateCacheSize,
    ttlMarginSeconds,
    maxAttempts,
    queryPageSize,
    coalesce: options.coalesce ?? true,
  };
}

/**
 * A client with keep-alive connections (one TLS handshake per socket, not per
 * decision), unless the configuration brings its own request handler.
 */
export function createClient(config: DynamoDBClientConfig): DynamoDBClient {
  if (config.requestHandler !== undefined) return new DynamoDBClient(config);
  return new DynamoDBClient({
    ...config,
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50 }),
    },
  });
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}
