/**
 * Decisions per second of RateLimiter on MemoryStore, beside
 * rate-limiter-flexible's RateLimiterMemory, in the same process and run.
 * Run alone: node --import tsx bench/core.ts
 */
import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { markdownTable, perSecond, type Row } from './table.js';

interface Contender {
  name: string;
  decide(key: string): Promise<boolean>;
}

/** Default options throughout: what an application gets without tuning. */
function tollgate(): Contender {
  const limiter = new RateLimiter({
    store: new MemoryStore(),
    limits: [Limit.perMinute('rpm', 1_000_000_000)],
  });
  return {
    name: 'Tollgate RateLimiter + MemoryStore',
    decide: async (key) => (await limiter.tryAcquire({ entity: key })).allowed,
  };
}

function flexible(): Contender {
  const limiter = new RateLimiterMemory({ points: 1_000_000_000, duration: 60 });
  return {
    name: 'rate-limiter-flexible RateLimiterMemory',
    decide: async (key) => {
      await limiter.consume(key);
      return true;
    },
  };
}

async function measure(contender: Contender, keys: readonly string[], iterations: number): Promise<number> {
  for (let i = 0; i < Math.min(iterations, 20_000); i += 1) await contender.decide(keys[i % keys.length]!);
  const started = performance.now();
  for (let i = 0; i < iterations; i += 1) await contender.decide(keys[i % keys.length]!);
  return perSecond(iterations, performance.now() - started);
}

/** Runs both scenarios (one hot key, 100k keys) and returns one row per scenario. */
export async function runCoreBench(options: { iterations?: number } = {}): Promise<Row[]> {
  const iterations = options.iterations ?? 300_000;
  const rows: Row[] = [];
  for (const [label, count] of [
    ['1 key', 1],
    ['100k keys', 100_000],
  ] as const) {
    const keys = Array.from({ length: count }, (_, i) => `key-${i}`);
    const ours = await measure(tollgate(), keys, iterations);
    const theirs = await measure(flexible(), keys, iterations);
    rows.push({
      scenario: label,
      'Tollgate decisions/s': ours.toLocaleString('en-US'),
      'rate-limiter-flexible decisions/s': theirs.toLocaleString('en-US'),
      'Tollgate ÷ flexible': (ours / theirs).toFixed(2),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(markdownTable(await runCoreBench()));
}
