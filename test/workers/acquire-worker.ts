/**
 * One OS process of the multi-process test: `concurrency` acquirers hammer one
 * bucket through their own RateLimiter and DynamoDBStore for `durationMs` or,
 * with `stopOnReject`, until each is refused. It prints `ready` once loaded,
 * starts at the wall-clock time (ms) the parent then writes to stdin, and
 * prints one JSON line: the [before, after] clock readings around every
 * admission, the number of rejections, and any errors.
 */
import { Limit, type LimitDefinition, RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { localClientConfig } from '@tollgate/test-utils';

/** What the parent process asks of this worker (argv[2], JSON). */
export interface WorkerConfig {
  endpoint: string;
  tableName: string;
  namespace: string;
  limit: LimitDefinition;
  concurrency: number;
  durationMs: number;
  stopOnReject: boolean;
  /** Random extra pause after a rejection, in ms, so one process's acquirers do not retry in lockstep. */
  retryJitterMs: number;
}

/** The worker's answer (one JSON line on stdout). */
export interface WorkerReport {
  admissions: [number, number][];
  rejections: number;
  /** The latest clock reading taken before a call that was refused (0 if none was). */
  latestRejectedBefore: number;
  errors: string[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const store = new DynamoDBStore({
  tableName: config.tableName,
  namespace: config.namespace,
  clientConfig: localClientConfig(config.endpoint),
});
const limiter = new RateLimiter({ store, limits: [Limit.custom(config.limit)], timeoutMs: 20_000 });
const report: WorkerReport = { admissions: [], rejections: 0, latestRejectedBefore: 0, errors: [] };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function acquirer(endAt: number): Promise<void> {
  while (Date.now() < endAt) {
    const before = Date.now();
    try {
      const decision = await limiter.tryAcquire({ entity: 'hot', resource: 'api' });
      const after = Date.now();
      if (decision.allowed) {
        report.admissions.push([before, after]);
        await decision.lease.commit();
        continue;
      }
      report.rejections += 1;
      report.latestRejectedBefore = Math.max(report.latestRejectedBefore, before);
      if (config.stopOnReject) return;
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
await Promise.all(Array.from({ length: config.concurrency }, () => acquirer(endAt)));
await store.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
