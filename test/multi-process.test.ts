import { fileURLToPath } from 'node:url';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { Limit, type LimitDefinition } from '@tollgate/core';
import { DynamoDBStore, KeyBuilder } from '@tollgate/dynamodb';
import { createTestTable, type DynamoDBLocal, runWorkers, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerConfig, WorkerReport } from './workers/acquire-worker.js';

const WORKER = fileURLToPath(new URL('./workers/acquire-worker.ts', import.meta.url));
const PROCESSES = 4;
const ACQUIRERS = 25;
/** Delay between the last worker reporting ready and the common start. */
const START_DELAY_MS = 200;

let local: DynamoDBLocal;
let tableName: string;

beforeAll(async () => {
  local = await useDynamoDBLocal();
  tableName = await createTestTable(local.client);
  // Warm the JVM up (a cold DynamoDB Local answers 10× slower for its first few hundred requests).
  const store = new DynamoDBStore({ tableName, client: local.client, namespace: 'warm-up' });
  const limit = Limit.perSecond('req', 1000);
  for (let index = 0; index < 150; index += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, offset) =>
        store.charge({
          nowNs: BigInt(Date.now()) * 1_000_000n,
          buckets: [
            { entity: `warm-${(index + offset) % 7}`, resource: 'api', charges: [{ limit, cost: 1 }] },
          ],
          signal: AbortSignal.timeout(30_000),
        }),
      ),
    );
  }
});
afterAll(() => local.stop());

async function runProcesses(
  namespace: string,
  limits: LimitDefinition[],
  durationMs: number,
  stopOnReject: boolean,
  retryJitterMs = 0,
  consume?: Record<string, number>[],
  reservation?: WorkerConfig['reservation'],
) {
  const config: WorkerConfig = {
    endpoint: local.endpoint,
    tableName,
    namespace,
    limits,
    concurrency: ACQUIRERS,
    durationMs,
    stopOnReject,
    retryJitterMs,
    ...(consume === undefined ? {} : { consume }),
    ...(reservation === undefined ? {} : { reservation }),
  };
  const reports = await runWorkers<WorkerConfig, WorkerReport>(
    WORKER,
    Array.from({ length: PROCESSES }, () => config),
    START_DELAY_MS,
  );
  return {
    admissions: reports.flatMap((report) => report.admissions),
    consumed: reports.reduce<Record<string, number>>((sum, report) => {
      for (const [name, tokens] of Object.entries(report.consumed)) sum[name] = (sum[name] ?? 0) + tokens;
      return sum;
    }, {}),
    rejections: reports.reduce((sum, report) => sum + report.rejections, 0),
    latestRejectedBefore: Math.max(...reports.map((report) => report.latestRejectedBefore)),
    errors: reports.flatMap((report) => report.errors),
    decisions: reports.reduce((sum, report) => sum + report.decisions, 0),
    chargeRoundTrips: reports.reduce((sum, report) => sum + report.chargeRoundTrips, 0),
  };
}

/** The consumed counters of the hot bucket of a namespace, as DynamoDB Local holds them. */
async function consumedInItem(namespace: string, names: readonly string[]): Promise<Record<string, number>> {
  const key = new KeyBuilder(namespace).bucket('hot', 'api');
  const { Item: item } = await local.client.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { PK: { S: key.PK }, SK: { S: key.SK } },
      ConsistentRead: true,
    }),
  );
  return Object.fromEntries(names.map((name) => [name, Number(item?.[`consumed:${name}`]?.N ?? 0)]));
}

describe(`${PROCESSES} processes × ${ACQUIRERS} acquirers on one bucket in DynamoDB Local`, () => {
  it('admit exactly the capacity of a bucket that does not refill', async () => {
    const limit = Limit.perDay('req', 200).toJSON();
    const { admissions, rejections, errors } = await runProcesses('no-refill', [limit], 60_000, true);
    expect(errors).toEqual([]);
    expect(admissions).toHaveLength(200);
    expect(rejections).toBe(PROCESSES * ACQUIRERS);
  }, 90_000);

  it('with reserved blocks: never above the allowance, short of it by at most the blocks, unused returned', async () => {
    const capacity = 3000;
    const maxShare = 0.02; // blocks of at most 60 tokens per process
    const limit = Limit.perDay('req', capacity);
    const { admissions, errors, decisions, chargeRoundTrips } = await runProcesses(
      'reserved',
      [limit.toJSON()],
      60_000,
      true,
      0,
      undefined,
      { maxShare, blockTtlMs: 1000 },
    );
    expect(errors).toEqual([]);
    const bound = PROCESSES * Math.floor(capacity * maxShare);
    const summary = `${admissions.length} admitted, ${decisions} decisions, ${chargeRoundTrips} charge writes`;
    expect(admissions.length, summary).toBeLessThanOrEqual(capacity);
    // Every acquirer stopped at a refusal: what is missing is held in other processes' blocks.
    expect(admissions.length, summary).toBeGreaterThanOrEqual(capacity - bound);
    // Each process returned its unused tokens on close: the item counts exactly what was admitted.
    expect(await consumedInItem('reserved', ['req'])).toEqual({ req: admissions.length });
    // Blocks serve most decisions from memory.
    expect(decisions / chargeRoundTrips, summary).toBeGreaterThanOrEqual(5);
  }, 90_000);

  it('admit exactly the capacity with mixed costs and two limits on one bucket, never more', async () => {
    const requests = Limit.perDay('req', 150);
    const tokens = Limit.perDay('tokens', 1000);
    const consume = [
      { req: 1, tokens: 3 },
      { req: 2, tokens: 11 },
      { req: 1, tokens: 1 },
      { req: 1, tokens: 25 },
    ];
    const { consumed, errors } = await runProcesses(
      'mixed-costs',
      [requests.toJSON(), tokens.toJSON()],
      60_000,
      true,
      0,
      consume,
    );
    expect(errors).toEqual([]);
    const admitted = { req: consumed['req'] ?? 0, tokens: consumed['tokens'] ?? 0 };
    // Every acquirer ends refused one token of each limit: one of the limits is used up, neither overdrawn.
    expect(admitted.req, JSON.stringify(admitted)).toBeLessThanOrEqual(requests.capacity);
    expect(admitted.tokens, JSON.stringify(admitted)).toBeLessThanOrEqual(tokens.capacity);
    expect(
      admitted.req === requests.capacity || admitted.tokens === tokens.capacity,
      JSON.stringify(admitted),
    ).toBe(true);
    // What the item counted is what the processes were told they got.
    const key = new KeyBuilder('mixed-costs').bucket('hot', 'api');
    const { Item: item } = await local.client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { PK: { S: key.PK }, SK: { S: key.SK } },
        ConsistentRead: true,
      }),
    );
    expect({ req: Number(item?.['consumed:req']?.N), tokens: Number(item?.['consumed:tokens']?.N) }).toEqual(
      admitted,
    );
  }, 90_000);

  it('admit what the bucket allows while it refills: never more, and not 1% less', async () => {
    // A rate DynamoDB Local on a small machine keeps up with, and a burst (3 s of refill) longer
    // than any pause of its JVM, so that what is measured is the store, not a stalled database.
    const limit = Limit.perSecond('req', 20, { burst: 60 });
    const { admissions, rejections, latestRejectedBefore, errors } = await runProcesses(
      'refill',
      [limit.toJSON()],
      3000,
      false,
      20,
    );
    expect(errors).toEqual([]);
    // Every call was decided at a clock reading between its `before` and `after`.
    const earliestBefore = Math.min(...admissions.map(([before]) => before));
    const earliestAfter = Math.min(...admissions.map(([, after]) => after));
    const latestAfter = Math.max(...admissions.map(([, after]) => after));
    const rate = limit.refillAmount / limit.refillPeriodMs;
    // Never more: GCRA admits at most capacity + rate × (latest − earliest admission time).
    const most = limit.capacity + rate * (latestAfter - earliestBefore);
    // Not less: a refusal at time t proves every token refilled up to t was handed out, so
    // from the first admission to the last refusal the whole allowance must have been admitted.
    const least = limit.capacity + rate * (latestRejectedBefore - earliestAfter);
    const summary = `${admissions.length} admitted, ${rejections} rejected, allowance ${least.toFixed(1)}–${most.toFixed(1)}`;
    expect(admissions.length, summary).toBeLessThanOrEqual(Math.floor(most));
    expect(admissions.length, summary).toBeGreaterThanOrEqual(Math.floor(0.99 * least));
    // The bucket ran dry long after the initial burst, so the refill was really competed for.
    expect(latestRejectedBefore - earliestAfter, summary).toBeGreaterThan(1000);
  }, 90_000);
});
