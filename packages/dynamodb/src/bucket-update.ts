import type { BucketKey, BucketState } from '@tollgate/core';
import type { gcra } from '@tollgate/core/internal';
import { ENTITY_ATTRIBUTE, numberValue, RESOURCE_ATTRIBUTE, stringValue } from './item-codec.js';
import { nsToEpochSecondsCeil } from './numbers.js';
import { CONSUMED_PREFIX, type KeyBuilder, TAT_PREFIX, TTL } from './schema.js';
import { UpdateExpressionBuilder, type UpdateParts } from './update-expression.js';

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
function bucketTtl(
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
 * The scaffold of every conditional bucket write (charge and adjust): one
 * expression with `now` bound, per-limit `tat` clauses and conditions, the
 * consumed counters, and what every write stamps besides the limits (the
 * TTL, and the entity/resource attributes the usage aggregator reads from
 * the stream). Placeholders only: no name or value is spliced in.
 */
export class BucketExpression {
  private readonly builder = new UpdateExpressionBuilder();
  /** The placeholder of `now`. */
  readonly now: string;

  constructor(private readonly nowNs: bigint) {
    this.now = this.value(nowNs);
  }

  /** A fresh placeholder bound to a number. */
  value(value: bigint | number): string {
    return this.builder.value(numberValue(value));
  }

  /** The placeholder of a limit's `tat` attribute. */
  tat(limit: string): string {
    return this.builder.name(`${TAT_PREFIX}${limit}`);
  }

  /** `SET tat = value`. */
  setTat(limit: string, tatNs: bigint): void {
    this.builder.set(`${TAT_PREFIX}${limit}`, this.value(tatNs));
  }

  /** `ADD tat delta`. */
  addTat(limit: string, deltaNs: bigint): void {
    this.builder.add(`${TAT_PREFIX}${limit}`, this.value(deltaNs));
  }

  /** The idle form's condition: the limit was never used, or is full again by `now`. */
  whenIdle(limit: string): void {
    const tat = this.tat(limit);
    this.builder.condition(`attribute_not_exists(${tat}) OR ${tat} <= ${this.now}`);
  }

  /** A condition term (joined with the others by AND). */
  when(term: string): void {
    this.builder.condition(term);
  }

  /** Adds `tokens` to the limit's monotonic consumed counter (nothing for 0). */
  addConsumed(limit: string, tokens: number): void {
    if (tokens !== 0) this.builder.add(`${CONSUMED_PREFIX}${limit}`, this.value(tokens));
  }

  /** The finished write, stamped with a TTL that outlives every tat it can leave. */
  finish(
    keys: KeyBuilder,
    bucket: BucketKey,
    limits: readonly gcra.GcraLimit[],
    expected: BucketState,
    ttlMarginSeconds: number,
  ): BucketUpdate {
    const ttl = bucketTtl(this.nowNs, limits, expected, ttlMarginSeconds);
    this.builder.set(TTL, this.value(ttl));
    this.builder.set(ENTITY_ATTRIBUTE, this.builder.value(stringValue(bucket.entity)));
    this.builder.set(RESOURCE_ATTRIBUTE, this.builder.value(stringValue(bucket.resource)));
    return { key: keys.bucket(bucket.entity, bucket.resource), parts: this.builder.build(), expected };
  }
}

/** True when a guessed tat means the idle form: never used, or full again by `now`. */
export function isIdle(tat: bigint | undefined, nowNs: bigint): boolean {
  return tat === undefined || tat <= nowNs;
}
