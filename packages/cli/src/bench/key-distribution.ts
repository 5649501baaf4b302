import { describeValue, ValidationError } from '@tollgate/core';

/** How the load test picks the entity of each request. */
export type KeyDistribution = 'hot' | 'uniform' | 'zipf';

/** A seeded generator of floats in [0, 1) (mulberry32), so runs can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Returns a picker of key indexes in [0, keys):
 * - `hot`: always 0 (one hot key: the worst case for one partition);
 * - `uniform`: every key equally likely;
 * - `zipf`: key k with probability ∝ 1/(k+1)^exponent (a few keys take most traffic).
 */
export function keyPicker(
  distribution: KeyDistribution,
  keys: number,
  random: () => number,
  exponent = 1.1,
): () => number {
  if (!Number.isInteger(keys) || keys < 1) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`keys\` to be a positive integer, got ${describeValue(keys)}`,
      'keys',
    );
  }
  switch (distribution) {
    case 'hot':
      return () => 0;
    case 'uniform':
      return () => Math.floor(random() * keys);
    case 'zipf': {
      const cumulative = new Float64Array(keys);
      let sum = 0;
      for (let k = 0; k < keys; k++) {
        sum += 1 / (k + 1) ** exponent;
        cumulative[k] = sum;
      }
      return () => {
        const target = random() * sum;
        let low = 0;
        let high = keys - 1;
        while (low < high) {
          const middle = (low + high) >>> 1;
          if (cumulative[middle]! < target) low = middle + 1;
          else high = middle;
        }
        return low;
      };
    }
    default:
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`distribution\` to be hot, uniform or zipf, got ${describeValue(distribution)}`,
        'distribution',
      );
  }
}
