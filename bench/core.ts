/**
 * Decisions per second of RateLimiter on MemoryStore, beside
 * rate-limiter-flexible's RateLimiterMemory, in the same process and run.
 * Run alone: node --import tsx bench/core.ts
 */
import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { markdownTable, median, perSecond, type Row } from './table.js';

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

/** Decisions per second of `iterations` sequential decisions, keys taken round-robin from `offset`. */
async function timed(
  contender: Contender,
  keys: readonly string[],
  iterations: number,
  offset: number,
): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iterations; i += 1) await contender.decide(keys[(offset + i) % keys.length]!);
  return perSecond(iterations, performance.now() - started);
}

/** Options of {@link runCoreBench}. */
export interface CoreBenchOptions {
  /** Decisions per contender per round (default 40 000). */
  iterations?: number;
  /** Alternating rounds per scenario (default 15). */
  rounds?: number;
}

/**
 * Runs both scenarios (one hot key, 100k keys) and returns one row per
 * scenario. The two contenders take turns for `rounds` rounds, each round
 * started by the other one, after a warm-up that also fills the 100k keys;
 * decisions/s are medians over the rounds and the ratio is the median of the
 * ratios taken within each round, so drift in background load (which moves
 * both within a round) cancels out.
 */
export async function runCoreBench(options: CoreBenchOptions = {}): Promise<Row[]> {
  const iterations = options.iterations ?? 40_000;
  const rounds = Math.max(1, options.rounds ?? 15);
  const rows: Row[] = [];
  for (const [label, count] of [
    ['1 key', 1],
    ['100k keys', 100_000],
  ] as const) {
    const keys = Array.from({ length: count }, (_, i) => `key-${i}`);
    const contenders = [tollgate(), flexible()] as const;
    for (const contender of contenders) await timed(contender, keys, Math.max(count, 20_000), 0);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const offset = round * iterations;
      if (round % 2 === 0) {
        ours.push(await timed(contenders[0], keys, iterations, offset));
        theirs.push(await timed(contenders[1], keys, iterations, offset));
      } else {
        theirs.push(await timed(contenders[1], keys, iterations, offset));
        ours.push(await timed(contenders[0], keys, iterations, offset));
      }
    }
    rows.push({
      scenario: label,
      'Tollgate decisions/s': median(ours).toLocaleString('en-US'),
      'rate-limiter-flexible decisions/s': median(theirs).toLocaleString('en-US'),
      'Tollgate ÷ flexible': median(ours.map((rate, round) => rate / theirs[round]!)).toFixed(2),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(markdownTable(await runCoreBench()));
}
