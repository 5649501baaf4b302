import { fileURLToPath } from 'node:url';
import { Limit, type LimitDefinition } from '@tollgate/core';
import {
  type AcquirerOptions,
  type RedisServer,
  redisStoreFixture,
  runWorkers,
  startRedisServer,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisWorkerConfig, RedisWorkerReport } from './workers/acquire-worker.js';

const WORKER = fileURLToPath(new URL('./workers/acquire-worker.ts', import.meta.url));
const PROCESSES = 4;
const ACQUIRERS = 25;

let server: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());

/** Runs {@link PROCESSES} workers on one bucket under a prefix of their own; sums their reports. */
async function runProcesses(
  options: Partial<AcquirerOptions> & { limits: LimitDefinition[] },
  coalesce = true,
): Promise<{ prefix: string; reports: RedisWorkerReport[]; consumed: Record<string, number> }> {
  const prefix = `multi-${process.pid}-${++prefixes}:`;
  const config: RedisWorkerConfig = {
    port: server.port,
    prefix,
    coalesce,
    concurrency: ACQUIRERS,
    durationMs: 60_000,
    stopOnReject: true,
    retryJitterMs: 0,
    ...options,
  };
  const reports = await runWorkers<RedisWorkerConfig, RedisWorkerReport>(
    WORKER,
    Array.from({ length: PROCESSES }, () => config),
  );
  const consumed: Record<string, number> = {};
  for (const report of reports) {
    for (const [name, tokens] of Object.entries(report.consumed))
      consumed[name] = (consumed[name] ?? 0) + tokens;
  }
  return { prefix, reports, consumed };
}

/** Tokens per limit that the store recorded as used by (hot, api), over every hourly snapshot. */
async function recordedUsage(prefix: string): Promise<Record<string, number>> {
  const { store, cleanup } = await redisStoreFixture(server, { prefix });
  try {
    const page = await store.getUsage(
      { entity: 'hot', resource: 'api', window: 'hour' },
      new AbortController().signal,
    );
    const total: Record<string, number> = {};
    for (const snapshot of page.snapshots) {
      for (const [name, tokens] of Object.entries(snapshot.consumed))
        total[name] = (total[name] ?? 0) + tokens;
    }
    return total;
  } finally {
    await cleanup();
  }
}

describe(`${PROCESSES} processes × ${ACQUIRERS} acquirers on one bucket in Redis`, () => {
  it.each([
    ['with coalescing', true],
    ['one script call per decision', false],
  ])(
    'admit exactly the capacity of a bucket that does not refill (%s)',
    async (_, coalesce) => {
      const { reports } = await runProcesses(
        { limits: [Limit.perDay('req', 200).toJSON(), Limit.perDay('tokens', 10_000).toJSON()] },
        coalesce,
      );
      expect(reports.flatMap((report) => report.errors)).toEqual([]);
      expect(reports.reduce((sum, report) => sum + report.admissions.length, 0)).toBe(200);
      expect(reports.reduce((sum, report) => sum + report.rejections, 0)).toBe(PROCESSES * ACQUIRERS);
      // The processes competed (one that starts late may find the bucket empty).
      expect(reports.filter((report) => report.admissions.length > 0).length).toBeGreaterThan(1);
      // Each admission is a script call of its own, or shares one with others queued beside it.
      const calls = reports.reduce((sum, report) => sum + report.chargeCalls, 0);
      if (coalesce) expect(calls).toBeLessThan(200);
      else expect(calls).toBeGreaterThanOrEqual(200);
    },
    60_000,
  );

  it('admit exactly the capacity with mixed costs and two limits, and record exactly that usage', async () => {
    const requests = Limit.perDay('req', 150);
    const tokens = Limit.perDay('tokens', 1000);
    const { prefix, reports, consumed } = await runProcesses({
      limits: [requests.toJSON(), tokens.toJSON()],
      consume: [
        { req: 1, tokens: 3 },
        { req: 2, tokens: 11 },
        { req: 1, tokens: 1 },
        { req: 1, tokens: 25 },
      ],
    });
    expect(reports.flatMap((report) => report.errors)).toEqual([]);
    const admitted = { req: consumed['req'] ?? 0, tokens: consumed['tokens'] ?? 0 };
    // Every acquirer ends refused one token of each limit: one of the limits is used up, neither overdrawn.
    expect(admitted.req, JSON.stringify(admitted)).toBeLessThanOrEqual(requests.capacity);
    expect(admitted.tokens, JSON.stringify(admitted)).toBeLessThanOrEqual(tokens.capacity);
    expect(
      admitted.req === requests.capacity || admitted.tokens === tokens.capacity,
      JSON.stringify(admitted),
    ).toBe(true);
    // The usage the scripts summed per batch is what the processes were told they got.
    expect(await recordedUsage(prefix)).toEqual(admitted);
  }, 60_000);

  it('admit what the bucket allows while it refills: never more, and not 1% less', async () => {
    const limit = Limit.perSecond('req', 50, { burst: 100 });
    const { reports } = await runProcesses({
      limits: [limit.toJSON()],
      durationMs: 3000,
      stopOnReject: false,
      retryJitterMs: 20,
    });
    expect(reports.flatMap((report) => report.errors)).toEqual([]);
    const admissions = reports.flatMap((report) => report.admissions);
    const latestRejectedBefore = Math.max(...reports.map((report) => report.latestRejectedBefore));
    // Every call was decided at a clock reading between its `before` and `after`.
    const earliestBefore = Math.min(...admissions.map(([before]) => before));
    const earliestAfter = Math.min(...admissions.map(([, after]) => after));
    const latestAfter = Math.max(...admissions.map(([, after]) => after));
    const rate = limit.refillAmount / limit.refillPeriodMs;
    // Never more: GCRA admits at most capacity + rate × (latest − earliest admission time).
    const most = limit.capacity + rate * (latestAfter - earliestBefore);
    // Not less: a refusal at time t proves every token refilled up to t was handed out.
    const least = limit.capacity + rate * (latestRejectedBefore - earliestAfter);
    const summary = `${admissions.length} admitted, allowance ${least.toFixed(1)}–${most.toFixed(1)}`;
    expect(admissions.length, summary).toBeLessThanOrEqual(Math.floor(most));
    expect(admissions.length, summary).toBeGreaterThanOrEqual(Math.floor(0.99 * least));
    expect(latestRejectedBefore - earliestAfter, summary).toBeGreaterThan(1000);
  }, 60_000);
});
