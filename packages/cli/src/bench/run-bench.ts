import { performance } from 'node:perf_hooks';
import type { Consumption, LimitStatus, RateLimiter, StoreStats } from '@tollgate/core';
import { formatLimitSpec } from '../limit-spec.js';
import { type KeyDistribution, keyPicker, seededRandom } from './key-distribution.js';
import { type LatencySummary, summarizeLatencies } from './latency.js';

/** Options of {@link runBench}. */
export interface BenchOptions {
  limiter: RateLimiter;
  /** Requests in flight at once. */
  concurrency: number;
  /** Stop after this many ms (unless `requests` ends it first). */
  durationMs?: number | undefined;
  /** Stop after this many decisions. */
  requests?: number | undefined;
  distribution: KeyDistribution;
  /** Distinct entities for `uniform` and `zipf`. */
  keys: number;
  zipfExponent?: number | undefined;
  seed?: number | undefined;
  resource: string;
  consume?: Consumption | undefined;
  /** Prefix of entity ids (`<prefix><index>`). */
  entityPrefix: string;
  /** Called about ten times a second with the decisions so far and the elapsed ms. */
  onProgress?: ((decisions: number, elapsedMs: number) => void) | undefined;
}

/** A limit that decided requests of the load test, as the decisions reported it. */
export interface AppliedLimit {
  /** `rpm:600/min`: name, rate, period and burst (see `parseLimitSpec`). */
  spec: string;
  /** 0: the requested entity's own limit; 1: its parent's (cascade); ... */
  depth: number;
  /** `default`: one of the limiter's default limits (`-l`); `stored`: a limit set stored in the table. */
  source: 'default' | 'stored';
  /** Decisions this limit took part in. */
  decisions: number;
}

/** What a load test measured. */
export interface BenchResult {
  decisions: number;
  admitted: number;
  limited: number;
  errors: number;
  elapsedMs: number;
  decisionsPerSecond: number;
  latencyMs: LatencySummary;
  /** Store counters (round trips, RCU, WCU per kind of call) when the store keeps them. */
  storeStats?: StoreStats | undefined;
  /** Mean units per call of the kinds `tollgate capacity` takes as inputs. */
  unitsPerCall?: Record<string, { wcu: number; rcu: number; roundTrips: number }> | undefined;
  firstError?: string | undefined;
  /** Every limit that decided a request, most used first. */
  appliedLimits: AppliedLimit[];
  /** Decisions whose own limits were not the limiter's defaults (`-l`) but a stored set. */
  decisionsWithStoredLimits: number;
}

/**
 * Runs `concurrency` loops of `tryAcquire` (committing every admitted lease)
 * until the duration or request count is reached, recording each decision's
 * latency.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  if (options.durationMs === undefined && options.requests === undefined) {
    throw new Error('runBench needs `durationMs` or `requests`');
  }
  const pick = keyPicker(
    options.distribution,
    options.keys,
    seededRandom(options.seed ?? 1),
    options.zipfExponent,
  );
  const latencies: number[] = [];
  let started = 0;
  let admitted = 0;
  let limited = 0;
  let errors = 0;
  let firstError: string | undefined;
  let decisionsWithStoredLimits = 0;
  const defaults = new Set(options.limiter.defaultLimits.map((limit) => formatLimitSpec(limit.toJSON())));
  const applied = new Map<string, AppliedLimit>();
  const recordLimits = (statuses: readonly LimitStatus[]) => {
    let stored = false;
    for (const status of statuses) {
      const spec = formatLimitSpec({ ...status, name: status.limit });
      const source = status.depth === 0 && defaults.has(spec) ? 'default' : 'stored';
      if (status.depth === 0 && source === 'stored') stored = true;
      const key = `${status.depth} ${spec}`;
      const entry = applied.get(key) ?? { spec, depth: status.depth, source, decisions: 0 };
      entry.decisions++;
      applied.set(key, entry);
    }
    if (stored) decisionsWithStoredLimits++;
  };
  const start = performance.now();
  const deadline = options.durationMs === undefined ? Number.POSITIVE_INFINITY : start + options.durationMs;
  const budget = options.requests ?? Number.POSITIVE_INFINITY;
  const ticker = setInterval(() => options.onProgress?.(latencies.length, performance.now() - start), 100);

  const worker = async () => {
    while (started < budget && performance.now() < deadline) {
      started++;
      const entity = `${options.entityPrefix}${pick()}`;
      const begin = performance.now();
      try {
        const decision = await options.limiter.tryAcquire({
          entity,
          resource: options.resource,
          ...(options.consume === undefined ? {} : { consume: options.consume }),
        });
        recordLimits(decision.statuses);
        if (decision.allowed) {
          await decision.lease.commit();
          admitted++;
        } else limited++;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      latencies.push(performance.now() - begin);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    clearInterval(ticker);
  }
  const elapsedMs = performance.now() - start;
  options.onProgress?.(latencies.length, elapsedMs);
  const storeStats = options.limiter.store.stats?.();
  return {
    decisions: latencies.length,
    admitted,
    limited,
    errors,
    elapsedMs: Math.round(elapsedMs),
    decisionsPerSecond: Math.round((latencies.length / elapsedMs) * 1000 * 10) / 10,
    latencyMs: summarizeLatencies(latencies),
    storeStats,
    unitsPerCall: storeStats === undefined ? undefined : unitsPerCall(storeStats),
    firstError,
    appliedLimits: [...applied.values()].sort((a, b) => b.decisions - a.decisions || a.depth - b.depth),
    decisionsWithStoredLimits,
  };
}

function unitsPerCall(stats: StoreStats): Record<string, { wcu: number; rcu: number; roundTrips: number }> {
  const result: Record<string, { wcu: number; rcu: number; roundTrips: number }> = {};
  for (const [kind, counters] of Object.entries(stats)) {
    if (counters.calls === 0) continue;
    const mean = (value: number) => Math.round((value / counters.calls) * 1000) / 1000;
    result[kind] = {
      wcu: mean(counters.writeCapacityUnits),
      rcu: mean(counters.readCapacityUnits),
      roundTrips: mean(counters.roundTrips),
    };
  }
  return result;
}
