/**
 * One OS process of the multi-process test: acquirers on one bucket through
 * this process's own RateLimiter and DynamoDBStore (see `runAcquirers` in
 * test-utils). It prints `ready` once loaded, starts at the wall-clock time
 * the parent writes to stdin, and prints one JSON line: what the acquirers
 * observed and how many charge requests reached DynamoDB.
 */
import { Limit, RateLimiter, type ReservationOptions, ReservingStore, type Store } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  type AcquirerOptions,
  type AcquirerReport,
  localClientConfig,
  runAcquirers,
  sendReport,
  waitForStart,
} from '@tollgate/test-utils';

/** What the parent process asks of this worker (argv[2], JSON). */
export interface WorkerConfig extends AcquirerOptions {
  endpoint: string;
  tableName: string;
  namespace: string;
  /** Serve the limits from reserved blocks (ReservingStore over the DynamoDBStore). */
  reservation?: Omit<ReservationOptions, 'clock'>;
}

/** The worker's answer (one JSON line on stdout). */
export interface WorkerReport extends AcquirerReport {
  /** Charge requests sent to DynamoDB. */
  chargeRoundTrips: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const dynamo = new DynamoDBStore({
  tableName: config.tableName,
  namespace: config.namespace,
  clientConfig: localClientConfig(config.endpoint),
});
const store: Store = config.reservation ? new ReservingStore(dynamo, config.reservation) : dynamo;
const limiter = new RateLimiter({
  store,
  limits: config.limits.map((limit) => Limit.custom(limit)),
  timeoutMs: 20_000,
});
const report = await runAcquirers(limiter, config, await waitForStart());
// Returns the unused tokens of reserved blocks before the report says the run is over.
await limiter.close();
sendReport({ ...report, chargeRoundTrips: dynamo.stats()['charge']?.roundTrips ?? 0 } satisfies WorkerReport);
