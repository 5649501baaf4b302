import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { keyPicker, seededRandom } from '../src/bench/key-distribution.js';
import { percentile, summarizeLatencies } from '../src/bench/latency.js';
import { runBench } from '../src/bench/run-bench.js';
import { appliedLimitsReport, parseConsume } from '../src/commands/bench.js';

function histogram(pick: () => number, draws: number, keys: number): number[] {
  const counts = new Array<number>(keys).fill(0);
  for (let i = 0; i < draws; i++) counts[pick()]!++;
  return counts;
}

describe('key distributions', () => {
  it('hot sends every request to one key', () => {
    expect(histogram(keyPicker('hot', 100, seededRandom(1)), 1000, 100)[0]).toBe(1000);
  });

  it('uniform spreads requests evenly over the keys', () => {
    const counts = histogram(keyPicker('uniform', 10, seededRandom(7)), 100_000, 10);
    for (const count of counts) expect(count).toBeGreaterThan(9_000);
    for (const count of counts) expect(count).toBeLessThan(11_000);
  });

  it('zipf gives the first keys most requests, in rank order', () => {
    const counts = histogram(keyPicker('zipf', 100, seededRandom(3), 1.1), 100_000, 100);
    expect(counts[0]!).toBeGreaterThan(counts[1]!);
    expect(counts[1]!).toBeGreaterThan(counts[9]!);
    expect(counts[9]!).toBeGreaterThan(counts[99]!);
    // P(rank 1) = 1 / (1^-1.1 + 2^-1.1 + … + 100^-1.1) = 0.2338
    expect(counts[0]! / 100_000).toBeGreaterThan(0.2238);
    expect(counts[0]! / 100_000).toBeLessThan(0.2438);
  });

  it('repeats the same key sequence for the same seed', () => {
    const a = keyPicker('zipf', 50, seededRandom(42));
    const b = keyPicker('zipf', 50, seededRandom(42));
    expect(Array.from({ length: 20 }, a)).toEqual(Array.from({ length: 20 }, b));
  });
});

describe('latency summary', () => {
  it('uses nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(summarizeLatencies([3, 1, 2])).toEqual({ p50: 2, p95: 3, p99: 3, max: 3, mean: 2 });
  });
});

describe('runBench', () => {
  it('counts admitted and limited decisions exactly on one hot key', async () => {
    const now = 1_700_000_000_000;
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.perMinute('rpm', 10)],
      clock: () => now,
    });
    const result = await runBench({
      limiter,
      concurrency: 4,
      requests: 25,
      distribution: 'hot',
      keys: 1,
      resource: 'bench',
      entityPrefix: 'k',
    });
    expect(result).toMatchObject({ decisions: 25, admitted: 10, limited: 15, errors: 0 });
    expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p99);
  });

  it('reports which limits applied and whether stored limits overrode the defaults (-l)', async () => {
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.perMinute('rpm', 600)],
      clock: () => 1_700_000_000_000,
    });
    const options = {
      limiter,
      concurrency: 1,
      requests: 4,
      distribution: 'uniform' as const,
      keys: 2,
      resource: 'bench',
      entityPrefix: 'k',
    };
    const defaults = await runBench(options);
    expect(defaults.appliedLimits).toEqual([
      { spec: 'rpm:600/min', depth: 0, source: 'default', decisions: 4 },
    ]);
    expect(defaults.decisionsWithStoredLimits).toBe(0);
    expect(appliedLimitsReport(defaults, ['rpm:600/min'])).toContain(
      'No stored limits applied: every decision used -l (rpm:600/min).',
    );

    await limiter.setLimits({ resource: 'bench' }, [Limit.perMinute('rpm', 100, { burst: 150 })]);
    const stored = await runBench(options);
    expect(stored.appliedLimits).toEqual([
      { spec: 'rpm:100/min:150', depth: 0, source: 'stored', decisions: 4 },
    ]);
    expect(stored.decisionsWithStoredLimits).toBe(4);
    const report = appliedLimitsReport(stored, ['rpm:600/min']);
    expect(report).toMatch(/rpm:100\/min:150\s*│\s*stored\s*│\s*own\s*│\s*4/);
    expect(report).toContain('Stored limits overrode -l (rpm:600/min) in every decision.');
  });

  it('parses --consume amounts', () => {
    expect(parseConsume('rpm=1,tpm=500')).toEqual({ rpm: 1, tpm: 500 });
    expect(() => parseConsume('rpm:1')).toThrow(/rpm=1,tpm=500/);
  });
});
