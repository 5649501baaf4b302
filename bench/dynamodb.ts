/**
 * Decisions per second, latency percentiles, round trips and write units per
 * decision of RateLimiter on DynamoDBStore, beside rate-limiter-flexible's
 * RateLimiterDynamo, on the same DynamoDB Local in the same run, on one hot key.
 * Starts its own DynamoDB Local unless given an endpoint.
 * Run alone: node --import tsx bench/dynamodb.ts
 */
import {
  type ConsumedCapacity,
  CreateTableCommand,
  DynamoDB,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  isRateLimiterUnavailable,
  Limit,
  RateLimiter,
  ReservingStore,
  type Store,
  type StoreStats,
} from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  localClient,
  localClientConfig,
  startDynamoDBLocal,
} from '@tollgate/test-utils';
import { RateLimiterDynamo, RateLimiterRes } from 'rate-limiter-flexible';
import { markdownTable, percentile, type Row } from './table.js';

/** Options of {@link runDynamoBench}. */
export interface DynamoBenchOptions {
  /** A running DynamoDB Local (or other endpoint); default: start one for the run. */
  endpoint?: string;
  /** How long each scenario runs at each concurrency, in ms (default 2000). */
  durationMs?: number;
  /** How long both libraries warm DynamoDB Local up before anything is measured, in ms (default 4000). */
  warmUpMs?: number;
  /** Concurrent callers; 1 is sequential (default [1, 10, 50, 200]). */
  concurrencies?: readonly number[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What one caller does once: true when admitted. */
type Decide = () => Promise<boolean>;

/** Counters a contender exposes: requests sent, write/read units reported, calls that failed. */
interface Meter {
  roundTrips: number;
  writeCapacityUnits: number;
  readCapacityUnits: number;
  /** Calls answered "unavailable" (a store error or a missed deadline) instead of a decision. */
  unavailable: number;
}

interface Contender {
  readonly library: string;
  /** Sets up the scenario (unmeasured) and returns the call to time. */
  prepare(scenario: Scenario): Promise<Decide>;
  meter(): Meter;
  close(): Promise<void>;
}

type Scenario = 'acquire, 1 limit' | 'acquire, 2 limits' | 'cascade (3 buckets)' | 'rejected';
const SCENARIOS: readonly Scenario[] = [
  'acquire, 1 limit',
  'acquire, 2 limits',
  'cascade (3 buckets)',
  'rejected',
];
/** A rate no run reaches: every acquire is admitted. Per minute, so a slow answer never makes a `now` stale by a whole burst. */
const PLENTY = 60_000_000;

/** Runs every scenario at every concurrency for both libraries and returns one row each. */
export async function runDynamoBench(options: DynamoBenchOptions = {}): Promise<Row[]> {
  const durationMs = options.durationMs ?? 2000;
  const concurrencies = options.concurrencies ?? [1, 10, 50, 200];
  const log = options.log ?? (() => {});
  let local: DynamoDBLocal | undefined;
  let endpoint = options.endpoint;
  if (endpoint === undefined) {
    log('starting DynamoDB Local…');
    local = await startDynamoDBLocal();
    endpoint = local.endpoint;
  }
  const admin = localClient(endpoint);
  const rows: Row[] = [];
  try {
    const tollgateTable = await createTestTable(admin, 'tollgate-bench');
    const flexibleTable = await createFlexibleTable(admin);
    // DynamoDB Local runs on a JVM that is still compiling for the first seconds: warm it up with
    // both libraries before measuring anything, so no scenario pays for it.
    for (const contender of [
      tollgate(endpoint, tollgateTable, 'warm-up'),
      flexible(endpoint, flexibleTable, 'warm-up'),
    ]) {
      try {
        const decide = await contender.prepare('acquire, 2 limits');
        await drive(decide, 10, options.warmUpMs ?? 4000);
      } finally {
        await contender.close();
      }
    }
    let run = 0;
    for (const scenario of SCENARIOS) {
      for (const concurrency of concurrencies) {
        run += 1;
        const contenders = [
          tollgate(endpoint, tollgateTable, `bench-${run}`),
          flexible(endpoint, flexibleTable, `bench-${run}`),
        ];
        if (scenario === 'acquire, 1 limit' || scenario === 'acquire, 2 limits') {
          contenders.splice(1, 0, tollgate(endpoint, tollgateTable, `bench-${run}-reserved`, true));
        }
        for (const contender of contenders) {
          try {
            const decide = await contender.prepare(scenario);
            await drive(decide, Math.min(concurrency, 10), 300); // warm-up: JIT on both sides, connections open
            const before = contender.meter();
            const sample = await drive(decide, concurrency, durationMs);
            const after = contender.meter();
            const decisions = sample.latencies.length;
            const latencies = [...sample.latencies].sort((a, b) => a - b);
            rows.push({
              library: contender.library,
              scenario,
              concurrency: concurrency === 1 ? '1 (sequential)' : concurrency,
              'decisions/s': Math.round((decisions * 1000) / sample.elapsedMs),
              'p50 ms': round(percentile(latencies, 50)),
              'p95 ms': round(percentile(latencies, 95)),
              'p99 ms': round(percentile(latencies, 99)),
              'round trips/decision': round((after.roundTrips - before.roundTrips) / decisions, 3),
              'WCU/decision': round((after.writeCapacityUnits - before.writeCapacityUnits) / decisions, 3),
              unavailable: after.unavailable - before.unavailable,
              admitted: `${Math.round((100 * sample.admitted) / decisions)}%`,
            });
            log(`${contender.library} · ${scenario} · ${concurrency}: ${decisions} decisions`);
          } finally {
            await contender.close();
          }
        }
      }
    }
  } finally {
    admin.destroy();
    await local?.stop();
  }
  return rows;
}

/** Calls `decide` from `concurrency` loops for `durationMs`; returns each call's latency. */
async function drive(
  decide: Decide,
  concurrency: number,
  durationMs: number,
): Promise<{ latencies: number[]; admitted: number; elapsedMs: number }> {
  const latencies: number[] = [];
  let admitted = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        if (await decide()) admitted += 1;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, admitted, elapsedMs: performance.now() - started };
}

function tollgate(endpoint: string, tableName: string, namespace: string, reserve = false): Contender {
  const dynamo = new DynamoDBStore({ tableName, namespace, clientConfig: localClientConfig(endpoint) });
  const store: Store = reserve ? new ReservingStore(dynamo) : dynamo;
  let limiter: RateLimiter | undefined;
  let unavailable = 0;
  return {
    library: reserve ? 'Tollgate DynamoDBStore + ReservingStore' : 'Tollgate DynamoDBStore',
    async prepare(scenario) {
      const limits =
        scenario === 'acquire, 2 limits'
          ? [Limit.perMinute('rpm', PLENTY), Limit.perMinute('tpm', PLENTY)]
          : scenario === 'rejected'
            ? [Limit.perDay('rpd', 1)]
            : [Limit.perMinute('rpm', PLENTY)];
      // Setup is not measured: a generous deadline. Decisions run under the default deadline
      // (timeoutMs 500): one that misses it counts as unavailable.
      const setup = new RateLimiter({ store: dynamo, limits, timeoutMs: 30_000 });
      const created = new RateLimiter({ store, limits });
      limiter = created;
      let entity = 'hot';
      if (scenario === 'cascade (3 buckets)') {
        await setup.createEntity({ id: 'org' });
        await setup.createEntity({ id: 'team', parent: 'org', cascade: true });
        await setup.createEntity({ id: 'key', parent: 'team', cascade: true });
        await setup.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', PLENTY)]);
        await setup.setLimits({ entity: 'team' }, [Limit.perMinute('rpm', PLENTY)]);
        entity = 'key';
      }
      if (scenario === 'rejected') await setup.tryAcquire({ entity });
      return async () => {
        try {
          const decision = await created.tryAcquire({ entity });
          if (decision.allowed) await decision.lease.commit();
          return decision.allowed;
        } catch (error) {
          if (!isRateLimiterUnavailable(error)) throw error;
          unavailable += 1;
          return false;
        }
      };
    },
    meter: () => ({ ...totals(dynamo.stats()), unavailable }),
    async close() {
      await (limiter ?? store).close?.();
    },
  };
}

function flexible(endpoint: string, tableName: string, keyPrefix: string): Contender {
  const client = new DynamoDB(localClientConfig(endpoint));
  const meter = meterClient(client);
  return {
    library: 'rate-limiter-flexible RateLimiterDynamo',
    async prepare(scenario) {
      const limiter = (points: number, duration: number, prefix: string) =>
        new RateLimiterDynamo({
          storeClient: client,
          tableName,
          tableCreated: true,
          ttlSet: true,
          points,
          duration,
          keyPrefix: prefix,
        });
      const consume = async (rateLimiter: RateLimiterDynamo, key: string): Promise<boolean> => {
        try {
          await rateLimiter.consume(key, 1);
          return true;
        } catch (error) {
          if (error instanceof RateLimiterRes) return false;
          throw error;
        }
      };
      if (scenario === 'acquire, 2 limits') {
        // No multi-limit item: one call per limit, one after the other.
        const requests = limiter(PLENTY, 60, `${keyPrefix}-rpm`);
        const tokens = limiter(PLENTY, 60, `${keyPrefix}-tpm`);
        return async () => (await consume(requests, 'hot')) && consume(tokens, 'hot');
      }
      if (scenario === 'cascade (3 buckets)') {
        // No hierarchy: one call per level.
        const levels = ['key', 'team', 'org'].map((level) => limiter(PLENTY, 60, `${keyPrefix}-${level}`));
        return async () => {
          for (const level of levels) if (!(await consume(level, 'hot'))) return false;
          return true;
        };
      }
      if (scenario === 'rejected') {
        const once = limiter(1, 86_400, `${keyPrefix}-rpd`);
        await consume(once, 'hot');
        return () => consume(once, 'hot');
      }
      const single = limiter(PLENTY, 60, `${keyPrefix}-rpm`);
      return () => consume(single, 'hot');
    },
    meter: () => ({ ...meter }),
    async close() {
      client.destroy();
    },
  };
}

/** Counts every request the client sends and the capacity reported, asking DynamoDB to report it. */
function meterClient(client: DynamoDB): Meter {
  const meter: Meter = { roundTrips: 0, writeCapacityUnits: 0, readCapacityUnits: 0, unavailable: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity ??= 'TOTAL';
      return next(args);
    },
    { step: 'initialize', name: 'benchConsumedCapacity' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      meter.roundTrips += 1;
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity }).ConsumedCapacity;
      const units = consumed?.CapacityUnits ?? 0;
      if (context.commandName === 'GetItemCommand') meter.readCapacityUnits += units;
      else meter.writeCapacityUnits += units;
      return result;
    },
    { step: 'finalizeRequest', name: 'benchRoundTrips', priority: 'low' },
  );
  return meter;
}

function totals(stats: StoreStats): Meter {
  const meter: Meter = { roundTrips: 0, writeCapacityUnits: 0, readCapacityUnits: 0, unavailable: 0 };
  for (const entry of Object.values(stats)) {
    meter.roundTrips += entry.roundTrips;
    meter.writeCapacityUnits += entry.writeCapacityUnits;
    meter.readCapacityUnits += entry.readCapacityUnits;
  }
  return meter;
}

/** rate-limiter-flexible's table: a string `key` (its TTL on `expire` is not needed for a short run). */
async function createFlexibleTable(client: DynamoDBClient): Promise<string> {
  const tableName = `flexible-bench-${process.pid}`;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return tableName;
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runDynamoBench({ log: (line) => console.error(line) });
  console.log(markdownTable(rows));
}
