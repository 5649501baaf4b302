/**
 * One OS process of the Redis multi-process test: `concurrency` acquirers, each
 * acquiring on one bucket through this process's own RateLimiter, RedisStore
 * and client until refused. Prints `ready` once connected, starts at the
 * wall-clock time (ms) the parent writes to stdin, and prints one JSON line.
 */
import { Limit, type LimitDefinition, RateLimiter } from '@tollgate/core';
import { RedisStore } from '@tollgate/redis';
import { Redis } from 'ioredis';

/** What the parent asks of this worker (argv[2], JSON). */
export interface RedisWorkerConfig {
  port: number;
  prefix: string;
  limits: LimitDefinition[];
  concurrency: number;
}

/** The worker's answer. */
export interface RedisWorkerReport {
  admitted: number;
  rejected: number;
  errors: string[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as RedisWorkerConfig;
const client = new Redis(config.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
const limiter = new RateLimiter({
  store: new RedisStore({ client, prefix: config.prefix }),
  limits: config.limits.map((limit) => Limit.custom(limit)),
  timeoutMs: 20_000,
});
const report: RedisWorkerReport = { admitted: 0, rejected: 0, errors: [] };

async function acquirer(): Promise<void> {
  for (;;) {
    try {
      const decision = await limiter.tryAcquire({ entity: 'hot', resource: 'api' });
      if (!decision.allowed) {
        report.rejected += 1;
        return;
      }
      report.admitted += 1;
    } catch (error) {
      report.errors.push(String(error));
      return;
    }
  }
}

await client.ping();
process.stdout.write('ready\n');
let input = '';
process.stdin.on('data', (chunk: Buffer) => {
  input += chunk.toString('utf8');
});
process.stdin.on('end', async () => {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(input.trim()) - Date.now())));
  await Promise.all(Array.from({ length: config.concurrency }, acquirer));
  process.stdout.write(`${JSON.stringify(report)}\n`);
  client.disconnect();
});
