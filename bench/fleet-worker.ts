/**
 * One process of the fleet benchmark: `concurrency` callers acquire from one
 * hot key through their own RateLimiter on DynamoDBStore (optionally behind a
 * ReservingStore) for `durationMs` from a common start time, then print one
 * JSON line: decisions, admissions, and the writes this process sent.
 */
import { Limit, RateLimiter, ReservingStore, type Store } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { localClientConfig } from '@tollgate/test-utils';

/** What the parent asks of this process (argv[2], JSON). */
export interface FleetWorkerConfig {
  endpoint: string;
  tableName: string;
  namespace: string;
  concurrency: number;
  durationMs: number;
  startAt: number;
  reserve: boolean;
  ratePerMinute: number;
}

/** The process's answer. */
export interface FleetWorkerReport {
  decisions: number;
  admitted: number;
  /** Requests that wrote to the item: charges, reservations and refunds. */
  writes: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as FleetWorkerConfig;
const dynamo = new DynamoDBStore({
  tableName: config.tableName,
  namespace: config.namespace,
  clientConfig: localClientConfig(config.endpoint),
});
const store: Store = config.reserve ? new ReservingStore(dynamo) : dynamo;
const limiter = new RateLimiter({
  store,
  limits: [Limit.perMinute('rpm', config.ratePerMinute)],
  timeoutMs: 30_000,
});
const report: FleetWorkerReport = { decisions: 0, admitted: 0, writes: 0 };

await new Promise((resolve) => setTimeout(resolve, Math.max(0, config.startAt - Date.now())));
const endAt = config.startAt + config.durationMs;
await Promise.all(
  Array.from({ length: config.concurrency }, async () => {
    while (Date.now() < endAt) {
      const decision = await limiter.tryAcquire({ entity: 'hot' });
      report.decisions += 1;
      if (decision.allowed) {
        report.admitted += 1;
        await decision.lease.commit();
      }
    }
  }),
);
await limiter.close();
const stats = dynamo.stats();
report.writes = (stats['charge']?.roundTrips ?? 0) + (stats['adjust']?.roundTrips ?? 0);
process.stdout.write(`${JSON.stringify(report)}\n`);
