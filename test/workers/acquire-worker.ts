/**
 * One OS process of the multi-process test: `concurrency` acquirers hammer one
 * bucket through their own RateLimiter and DynamoDBStore for `durationMs` or,
 * with `stopOnReject`, until each is refused (with mixed costs: refused a cost
 * of one of every limit, after falling back to it at its first refusal). It prints `ready` once loaded,
 * starts at the wall-clock time (ms) the parent then writes to stdin, and
 * prints one JSON line: the [before, after] clock readings around every
 * admission, the number of rejections, and any errors.
 */
import {
  Limit,
  type LimitDefinition,
  RateLimiter,
  type ReservationOptions,
  ReservingStore,
  type Store,
} from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { localClientConfig } from '@tollgate/test-utils';

/** What the parent process asks of this worker (argv[2], JSON). */
export interface WorkerConfig {
  endpoint: string;
  tableName: string;
  namespace: string;
  limits: LimitDefinition[];
  /** Costs the acquirers take in turn; default: 1 of every limit. */
  consume?: Record<string, number>[];
  concurrency: number;
  durationMs: number;
  stopOnReject: boolean;
  /** Random extra pause after a rejection, in ms, so one process's acquirers do not retry in lockstep. */
  retryJitterMs: number;
  /** Serve the limits from reserved blocks (ReservingStore over the DynamoDBStore). */
  reservation?: Omit<ReservationOptions, 'clock'>;
}

/** The worker's answer (one JSON line on stdout). */
export interface WorkerReport {
  admissions: [number, number][];
  /** Tokens admitted per limit. */
  consumed: Record<string, number>;
  rejections: number;
  /** The latest clock reading taken before a call that was refused (0 if none was). */
  latestRejectedBefore: number;
  errors: string[];
  /** Decisions made (admitted and refused) and charge requests sent to DynamoDB. */
  decisions: number;
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
const report: WorkerReport = {
  admissions: [],
  consumed: {},
  rejections: 0,
  latestRejectedBefore: 0,
  errors: [],
  decisions: 0,
  chargeRoundTrips: 0,
};
/** One of every limit: what an acquirer falls back to once a larger cost is refused. */
const smallest = Object.fromEntries(config.limits.map((limit) => [limit.name, 1]));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function acquirer(index: number, endAt: number): Promise<void> {
  let turn = index;
  let fallen = config.consume === undefined;
  while (Date.now() < endAt) {
    const before = Date.now();
    const consume = fallen ? smallest : (config.consume?.[turn++ % config.consume.length] ?? smallest);
    try {
      const decision = await limiter.tryAcquire({ entity: 'hot', resource: 'api', consume });
      const after = Date.now();
      report.decisions += 1;
      if (decision.allowed) {
        report.admissions.push([before, after]);
        for (const [name, cost] of Object.entries(consume)) {
          report.consumed[name] = (report.consumed[name] ?? 0) + cost;
        }
        await decision.lease.commit();
        continue;
      }
      report.rejections += 1;
      report.latestRejectedBefore = Math.max(report.latestRejectedBefore, before);
      if (config.stopOnReject) {
        if (fallen) return;
        // A larger cost was refused: take what is left, one token of every limit at a time.
        fallen = true;
        continue;
      }
      await sleep(decision.retryAfterMs + Math.random() * config.retryJitterMs);
    } catch (error) {
      report.errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      return;
    }
  }
}

/** Resolves with the first line written to stdin. */
function firstLine(): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end >= 0) {
        process.stdin.pause();
        resolve(buffered.slice(0, end));
      }
    });
  });
}

process.stdout.write('ready\n');
const startAt = Number(await firstLine());
await sleep(Math.max(0, startAt - Date.now()));
const endAt = startAt + config.durationMs;
await Promise.all(Array.from({ length: config.concurrency }, (_, index) => acquirer(index, endAt)));
report.chargeRoundTrips = dynamo.stats()['charge']?.roundTrips ?? 0;
// Returns the unused tokens of reserved blocks before the report says the run is over.
await limiter.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
