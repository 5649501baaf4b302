/**
 * Decisions per second and server commands per decision of RateLimiter on
 * RedisStore, beside rate-limiter-flexible's RateLimiterRedis and
 * express-rate-limit's store `rate-limit-redis`, on the same redis-server in
 * the same run: one hot key and 100 000 keys, one limit and two, at several
 * concurrencies. The server runs in a process of its own, started by the
 * benchmark; the load comes from this process, one ioredis client per library.
 *
 * Commands per decision come from the server's own `INFO commandstats`:
 * every command the three libraries send while deciding is an `EVALSHA`
 * (`EVAL` after a `NOSCRIPT`), and the commands their scripts run inside are
 * counted apart, as is the time Redis reports spending in the scripts.
 *
 * Run alone (after `npm run build`): node --import tsx bench/redis.ts
 */
import { readFileSync } from 'node:fs';
import { Limit, RateLimiter } from '@tollgate/core';
import { RedisStore } from '@tollgate/redis';
import { type RedisServer, startRedisServer } from '@tollgate/test-utils';
import type { Options as ExpressRateLimitOptions } from 'express-rate-limit';
import { Redis } from 'ioredis';
import { RedisStore as RateLimitRedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterRedis, RateLimiterRes, RateLimiterUnion } from 'rate-limiter-flexible';
import { markdownTable, median, type Row } from './table.js';

/** Options of {@link runRedisBench}. */
export interface RedisBenchOptions {
  /** Measured time per library and scenario, in ms, split over `rounds` (default 5000). */
  durationMs?: number;
  /** Times the libraries of one scenario are measured, in turn (default 5). */
  rounds?: number;
  /** Concurrent callers; 1 is sequential (default [1, 10, 50]). */
  concurrencies?: readonly number[];
  /** Key sets: one hot key, 100 000 keys round-robin, or both (default). */
  keySets?: readonly KeySet[];
  /** Limits per decision (default [1, 2]). */
  limitCounts?: readonly (1 | 2)[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What one caller does once, on one key: true when admitted. */
type Decide = (key: string) => Promise<boolean>;

interface Contender {
  readonly library: string;
  /** A decision function for `limits` limits under a key prefix of this scenario's own. */
  prepare(limits: 1 | 2, prefix: string): Promise<Decide>;
  close(): void;
}

/** A rate no run reaches: every decision is admitted, so what is measured is the admitted path. */
const PLENTY = 100_000_000;
/** The keys decisions walk: one hot key, or 100 000 keys round-robin. */
export type KeySet = '1 key' | '100k keys';
const KEY_COUNTS: Record<KeySet, number> = { '1 key': 1, '100k keys': 100_000 };

/** Library names as the rows and the chart print them. */
const TOLLGATE = 'Tollgate RedisStore';
const FLEXIBLE = 'rate-limiter-flexible RateLimiterRedis';
const EXPRESS = 'rate-limit-redis (express-rate-limit)';

/** Runs every scenario for the three libraries and returns one row per library and scenario. */
export async function runRedisBench(options: RedisBenchOptions = {}): Promise<Row[]> {
  const durationMs = options.durationMs ?? 5000;
  const rounds = Math.max(1, options.rounds ?? 5);
  const concurrencies = options.concurrencies ?? [1, 10, 50];
  const log = options.log ?? (() => {});
  const server = await startRedisServer();
  const admin = new Redis(server.port, server.host);
  const contenders = [tollgate(server), flexible(server), expressStore(server)];
  const rows: Row[] = [];
  try {
    let run = 0;
    for (const keySet of options.keySets ?? ['1 key', '100k keys']) {
      const count = KEY_COUNTS[keySet];
      const keys = Array.from({ length: count }, (_, index) => (count === 1 ? 'hot' : `k${index}`));
      for (const limits of options.limitCounts ?? [1, 2]) {
        for (const concurrency of concurrencies) {
          run += 1;
          const scenario = `${keySet}, ${limits} limit${limits === 1 ? '' : 's'}`;
          const decides = await Promise.all(
            contenders.map((contender) => contender.prepare(limits, `b${run}:`)),
          );
          // Warm-up: JIT on the client side, scripts loaded, connections open.
          for (const decide of decides) await drive(decide, keys, Math.min(concurrency, 10), 300);
          const samples = contenders.map(() => ({
            rates: [] as number[],
            decisions: 0,
            usage: emptyUsage(),
            clientCpuUs: 0,
            serverCpuUs: 0,
          }));
          for (let round = 0; round < rounds; round += 1) {
            // Alternate who goes first, so drift in background load hits every library alike.
            for (let turn = 0; turn < contenders.length; turn += 1) {
              const index = (turn + round) % contenders.length;
              const before = await commandStats(admin);
              const cpuBefore = { client: process.cpuUsage(), server: serverCpuUs(server) };
              const sample = await drive(decides[index]!, keys, concurrency, durationMs / rounds);
              const clientCpu = process.cpuUsage(cpuBefore.client);
              const serverCpu = serverCpuUs(server) - cpuBefore.server;
              const after = await commandStats(admin);
              const target = samples[index]!;
              target.rates.push((sample.decisions * 1000) / sample.elapsedMs);
              target.decisions += sample.decisions;
              addUsage(target.usage, usageBetween(before, after));
              target.clientCpuUs += clientCpu.user + clientCpu.system;
              target.serverCpuUs += serverCpu;
              if (sample.rejected > 0)
                throw new Error(`${contenders[index]!.library} rejected under ${scenario}`);
            }
          }
          const flexibleRate = median(samples[1]!.rates);
          contenders.forEach((contender, index) => {
            const { rates, decisions, usage, clientCpuUs, serverCpuUs } = samples[index]!;
            const rate = median(rates);
            rows.push({
              scenario,
              concurrency: concurrency === 1 ? '1 (sequential)' : concurrency,
              library: contender.library,
              'decisions/s': Math.round(rate).toLocaleString('en-US'),
              '÷ RateLimiterRedis': (rate / flexibleRate).toFixed(2),
              'commands/decision': round(usage.sent / decisions, 3),
              'calls in scripts/decision': round(usage.inner / decisions, 1),
              'client CPU µs/decision': round(clientCpuUs / decisions, 1),
              'Redis CPU µs/decision': Number.isNaN(serverCpuUs) ? '-' : round(serverCpuUs / decisions, 1),
            });
          });
          log(
            `${scenario} · ${concurrency}: ${contenders.map((c, i) => `${c.library} ${Math.round(median(samples[i]!.rates))}/s`).join(', ')}`,
          );
        }
      }
    }
  } finally {
    for (const contender of contenders) contender.close();
    admin.disconnect();
    await server.stop();
  }
  return rows;
}

/** Calls `decide` from `concurrency` loops for `durationMs`, walking `keys` round-robin. */
async function drive(
  decide: Decide,
  keys: readonly string[],
  concurrency: number,
  durationMs: number,
): Promise<{ decisions: number; rejected: number; elapsedMs: number }> {
  let next = 0;
  let decisions = 0;
  let rejected = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const key = keys[next++ % keys.length]!;
        if (!(await decide(key))) rejected += 1;
        decisions += 1;
      }
    }),
  );
  return { decisions, rejected, elapsedMs: performance.now() - started };
}

/** RateLimiter on RedisStore, default options, the lease committed (a plain commit sends nothing). */
function tollgate(server: RedisServer): Contender {
  const client = new Redis(server.port, server.host);
  return {
    library: TOLLGATE,
    async prepare(limits, prefix) {
      const limiter = new RateLimiter({
        store: new RedisStore({ client, prefix }),
        limits:
          limits === 1
            ? [Limit.perMinute('rpm', PLENTY)]
            : [Limit.perMinute('rpm', PLENTY), Limit.perMinute('tpm', PLENTY)],
      });
      return async (entity) => {
        const decision = await limiter.tryAcquire({ entity });
        if (decision.allowed) await decision.lease.commit();
        return decision.allowed;
      };
    },
    close: () => client.disconnect(),
  };
}

/** RateLimiterRedis; two limits are two limiters, consumed together through its RateLimiterUnion. */
function flexible(server: RedisServer): Contender {
  const client = new Redis(server.port, server.host);
  const limiter = (keyPrefix: string) =>
    new RateLimiterRedis({ storeClient: client, points: PLENTY, duration: 60, keyPrefix });
  return {
    library: FLEXIBLE,
    async prepare(limits, prefix) {
      const consumer =
        limits === 1
          ? limiter(`${prefix}rpm`)
          : new RateLimiterUnion(limiter(`${prefix}rpm`), limiter(`${prefix}tpm`));
      return async (key) => {
        try {
          await consumer.consume(key, 1);
          return true;
        } catch (error) {
          // A rejection is a RateLimiterRes (an object of them from the union); anything else failed.
          if (error instanceof Error) throw error;
          if (error instanceof RateLimiterRes || typeof error === 'object') return false;
          throw error;
        }
      };
    },
    close: () => client.disconnect(),
  };
}

/**
 * rate-limit-redis, driven through its Store API as express-rate-limit drives it
 * (`increment(key)`, then the hit count against the limit). Two limits are two
 * `rateLimit()` middlewares, so two stores, the second asked after the first passed.
 */
function expressStore(server: RedisServer): Contender {
  const client = new Redis(server.port, server.host);
  const store = async (prefix: string) => {
    const created = new RateLimitRedisStore({
      sendCommand: (command: string, ...args: string[]) =>
        client.call(command, ...args) as Promise<RedisReply>,
      prefix,
    });
    await created.init({ windowMs: 60_000 } as ExpressRateLimitOptions);
    return created;
  };
  return {
    library: EXPRESS,
    async prepare(limits, prefix) {
      const stores = [await store(`${prefix}rpm:`)];
      if (limits === 2) stores.push(await store(`${prefix}tpm:`));
      return async (key) => {
        for (const limit of stores) if ((await limit.increment(key)).totalHits > PLENTY) return false;
        return true;
      };
    },
    close: () => client.disconnect(),
  };
}

/** Calls per command since the server started, from `INFO commandstats`. */
async function commandStats(client: Redis): Promise<Map<string, { calls: number }>> {
  const info = await client.info('commandstats');
  const stats = new Map<string, { calls: number }>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    stats.set(match[1]!, { calls: Number(match[2]) });
  }
  return stats;
}

/** What the server did for one sample: commands clients sent, calls scripts made inside. */
interface Usage {
  sent: number;
  inner: number;
}

/** Commands that run a script: what a client sends. Everything else counted here ran inside one. */
const SCRIPT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'script|load', 'script']);

function usageBetween(before: Map<string, { calls: number }>, after: Map<string, { calls: number }>): Usage {
  const usage = emptyUsage();
  for (const [command, { calls }] of after) {
    if (command === 'info') continue;
    const delta = calls - (before.get(command)?.calls ?? 0);
    if (SCRIPT_COMMANDS.has(command)) usage.sent += delta;
    else usage.inner += delta;
  }
  return usage;
}

function emptyUsage(): Usage {
  return { sent: 0, inner: 0 };
}

function addUsage(sum: Usage, usage: Usage): void {
  sum.sent += usage.sent;
  sum.inner += usage.inner;
}

/** CPU time (user + system, µs) the server process has used, from /proc; NaN where there is none. */
function serverCpuUs(server: RedisServer): number {
  try {
    const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runRedisBench({ log: (line) => console.error(line) });
  console.log(markdownTable(rows));
}
