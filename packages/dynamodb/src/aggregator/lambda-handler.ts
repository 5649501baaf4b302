import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  createStreamProcessor,
  type StreamProcessor,
  type StreamProcessorOptions,
} from './stream-processor.js';
import type { BatchResponse, StreamEvent } from './stream-types.js';

/** Options of {@link createAggregatorHandler}; every one has an environment default. */
export type AggregatorHandlerOptions = Partial<StreamProcessorOptions>;

/**
 * Environment variables read by the default handler:
 * - `TOLLGATE_TABLE_NAME`: table for usage snapshots (default: the stream's table);
 * - `TOLLGATE_NAMESPACE`: aggregate only this namespace (default: all);
 * - `TOLLGATE_HOURLY_RETENTION_DAYS`, `TOLLGATE_DAILY_RETENTION_DAYS`: snapshot TTL after the window ends (default: none).
 */
export const AGGREGATOR_ENVIRONMENT = [
  'TOLLGATE_TABLE_NAME',
  'TOLLGATE_NAMESPACE',
  'TOLLGATE_HOURLY_RETENTION_DAYS',
  'TOLLGATE_DAILY_RETENTION_DAYS',
] as const;

/**
 * Builds a Lambda handler for a DynamoDB Streams event source mapping with
 * `FunctionResponseTypes: [ReportBatchItemFailures]`. The client is created
 * on the first event, not at import.
 *
 * @example
 * export const handler = createAggregatorHandler({ retentionDays: { hour: 35 } });
 */
export function createAggregatorHandler(
  options: AggregatorHandlerOptions = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): (event: StreamEvent) => Promise<BatchResponse> {
  let processor: StreamProcessor | undefined;
  return async (event) => {
    processor ??= createStreamProcessor({
      ...optionsFromEnvironment(env),
      ...options,
      client: options.client ?? new DynamoDBClient({}),
    });
    const { batchItemFailures } = await processor(event);
    return { batchItemFailures };
  };
}

/** Reads {@link AGGREGATOR_ENVIRONMENT}. */
export function optionsFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
): AggregatorHandlerOptions {
  const retentionDays: { hour?: number; day?: number } = {};
  const hour = positiveNumber(env['TOLLGATE_HOURLY_RETENTION_DAYS'], 'TOLLGATE_HOURLY_RETENTION_DAYS');
  const day = positiveNumber(env['TOLLGATE_DAILY_RETENTION_DAYS'], 'TOLLGATE_DAILY_RETENTION_DAYS');
  if (hour !== undefined) retentionDays.hour = hour;
  if (day !== undefined) retentionDays.day = day;
  return {
    tableName: nonEmpty(env['TOLLGATE_TABLE_NAME']),
    namespace: nonEmpty(env['TOLLGATE_NAMESPACE']),
    retentionDays,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function positiveNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '' || value === '0') return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0)
    throw new Error(`Expected ${name} to be a number of days, got "${value}"`);
  return parsed;
}
