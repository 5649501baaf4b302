/**
 * One OS process of the Redis multi-process tests: acquirers on one bucket
 * through this process's own RateLimiter, RedisStore and client (see
 * `runAcquirers` in test-utils). It prints `ready` once connected, starts at
 * the wall-clock time the parent writes to stdin, and prints one JSON line.
 */
import { Limit, RateLimiter } from '@tollgate/core';
import { RedisStore } from '@tollgate/redis';
import {
  type AcquirerOptions,
  type AcquirerReport,
  runAcquirers,
  sendReport,
  waitForStart,
} from '@tollgate/test-utils';
import { Redis } from 'ioredis';

/** What the parent asks of this worker (argv[2], JSON). */
export interface RedisWorkerConfig extends AcquirerOptions {
  port: number;
  prefix: string;
  coalesce: boolean;
}

/** The worker's answer: what its acquirers saw, and the script calls its store sent to charge. */
export interface RedisWorkerReport extends AcquirerReport {
  chargeCalls: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as RedisWorkerConfig;
const client = new Redis(config.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
const store = new RedisStore({ client, prefix: config.prefix, coalesce: config.coalesce });
const limiter = new RateLimiter({
  store,
  limits: config.limits.map((limit) => Limit.custom(limit)),
  timeoutMs: 20_000,
});
await client.ping();
const report = await runAcquirers(limiter, config, await waitForStart());
await limiter.close();
client.disconnect();
sendReport({ ...report, chargeCalls: store.stats()['charge']?.roundTrips ?? 0 } satisfies RedisWorkerReport);
