import type { BucketKey, BucketState, gcra } from '@tollgate/core';
import { ENTITY_ATTRIBUTE, numberValue, RESOURCE_ATTRIBUTE, stringValue } from './item-codec.js';
import { nsToEpochSecondsCeil } from './numbers.js';
import { TTL } from './schema.js';
import type { UpdateExpressionBuilder, UpdateParts } from './update-expression.js';

/** One conditional write to one bucket item, built from a guess of its state. */
export interface BucketUpdate {
  readonly key: { PK: string; SK: string };
  readonly parts: UpdateParts;
  /** The state the write leaves when the guess it was built from is the stored state. */
  readonly expected: BucketState;
}

/** The last known state of a bucket: limit name → `tat` in ns (absent: never used or unknown). */
export type TatGuess = ReadonlyMap<string, bigint>;

/**
 * The TTL (epoch seconds) a write sets: at least every `tat` the write can
 * leave for the limits it touches (`now + tau`, or the expected tat after
 * debt) and every other tat known for the item, plus a margin. An item is
 * only ever expired once all its limits are full again, which loses nothing.
 */
export function bucketTtl(
  nowNs: bigint,
  limits: readonly gcra.GcraLimit[],
  expected: BucketState,
  marginSeconds: number,
): number {
  let latest = nowNs;
  for (const limit of limits) if (nowNs + limit.tauNs > latest) latest = nowNs + limit.tauNs;
  for (const tat of expected.tats.values()) if (tat > latest) latest = tat;
  return nsToEpochSecondsCeil(latest) + marginSeconds;
}

/**
 * Adds what every bucket write sets besides the limits: the TTL and the
 * entity/resource attributes the usage aggregator reads from the stream.
 */
export function stampBucket(builder: UpdateExpressionBuilder, bucket: BucketKey, ttlSeconds: number): void {
  builder.set(TTL, builder.value(numberValue(ttlSeconds)));
  builder.set(ENTITY_ATTRIBUTE, builder.value(stringValue(bucket.entity)));
  builder.set(RESOURCE_ATTRIBUTE, builder.value(stringValue(bucket.resource)));
}

/** True when a guessed tat means the idle form: never used, or full again by `now`. */
export function isIdle(tat: bigint | undefined, nowNs: bigint): boolean {
  return tat === undefined || tat <= nowNs;
}
