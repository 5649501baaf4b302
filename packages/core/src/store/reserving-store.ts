import { describeValue, ValidationError } from '../errors.js';
import type { Limit, LimitDefinition } from '../limit.js';
import { msToNs } from '../math/time.js';
import {
  type AdjustRequest,
  type BucketCharge,
  type BucketKey,
  type BucketState,
  bucketId,
  type ChargeRequest,
  type ChargeResult,
  type EntityChanges,
  type EntityRecord,
  type GetBucketsRequest,
  type LimitAdjustment,
  type LimitScope,
  type LoadConfigRequest,
  type LoadedConfig,
  type ResetScope,
  type Store,
  type StoreStats,
  type UsagePage,
  type UsageQuery,
} from './store.js';

/** Options of {@link ReservingStore}. */
export interface ReservationOptions {
  /** Names of the limits served from reserved blocks; default: every limit. */
  limits?: readonly string[];
  /**
   * Largest block one process holds per bucket and limit, as a share of the
   * limit's capacity (default 0.1). Bounds the under-admission: every block
   * outstanding is tokens charged that nobody used yet.
   */
  maxShare?: number;
  /** How long a block serves before its unused tokens are returned, in ms (default 1000). */
  blockTtlMs?: number;
  /** Clock of block expiry and of the refund writes, ms since the epoch (default `Date.now`). */
  clock?: () => number;
  /** Deadline of each refund write, in ms (default 5000). */
  refundTimeoutMs?: number;
}

/** Tokens of one limit of one bucket, charged in the store and not yet handed out. */
interface Block {
  readonly limit: Limit;
  tokens: number;
}

/** The blocks of one bucket, with the bucket's state after the write that reserved them. */
interface BucketBlocks {
  readonly key: BucketKey;
  readonly blocks: Map<string, Block>;
  /** Tats after the reserving write (block tokens included). */
  readonly tats: ReadonlyMap<string, bigint>;
  readonly expiresAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Demand seen for one bucket and limit: tokens asked in the current and previous block period. */
interface Demand {
  periodStart: number;
  current: number;
  previous: number;
  /** Until then the bucket had no room for a block: write plainly. */
  exhaustedUntil: number;
}

/**
 * A {@link Store} that serves hot limits from blocks of tokens reserved in the
 * store underneath: when a request finds no block with enough tokens, one
 * write charges its cost plus a block; later requests of this process take
 * from the block in memory, with no round trip. Unused tokens are refunded
 * when the block expires (`blockTtlMs`) and on `close()`.
 *
 * Never admits more than the bucket allows, across every process: each block
 * is charged in the store before a token of it is handed out. It can admit
 * less: at most the blocks outstanding, `maxShare × capacity` per process per
 * bucket and limit, for at most `blockTtlMs` each. Blocks are sized from the
 * demand of the last period, so a key with little traffic reserves nothing.
 *
 * Statuses of decisions served from a block count the unused tokens of this
 * process's block as available; other processes' blocks count as spent.
 *
 * @example
 * const store = new ReservingStore(new DynamoDBStore({ tableName, clientConfig }), { limits: ['tpm'], maxShare: 0.05 });
 * const limiter = new RateLimiter({ store, limits: [Limit.perMinute('tpm', 1_000_000)] });
 */
export class ReservingStore implements Store {
  private readonly reserved: ReadonlySet<string> | undefined;
  private readonly maxShare: number;
  private readonly blockTtlMs: number;
  private readonly clock: () => number;
  private readonly refundTimeoutMs: number;
  private readonly buckets = new Map<string, BucketBlocks>();
  private readonly demand = new Map<string, Demand>();
  /** Reserving writes under way per request shape: later requests wait for the block instead of writing. */
  private readonly reserving = new Map<string, Promise<unknown>>();
  private readonly refunds = new Set<Promise<unknown>>();
  /** Resets under way: charges of these entities are written plainly, and no block is kept. */
  private readonly resetting = new Map<string, number>();
  private servedLocally = 0;
  private closed = false;

  constructor(
    /** The store that holds the buckets (DynamoDBStore, a custom store). */
    readonly inner: Store,
    options: ReservationOptions = {},
  ) {
    if (typeof inner !== 'object' || inner === null || typeof inner.charge !== 'function') {
      throw invalid('store', `Expected a Store to reserve from, got ${describeValue(inner)}`);
    }
    if (options.limits !== undefined && !Array.isArray(options.limits)) {
      throw invalid(
        'limits',
        `Expected \`limits\` to be an array of limit names, got ${describeValue(options.limits)}`,
      );
    }
    this.reserved = options.limits === undefined ? undefined : new Set(options.limits);
    this.maxShare = options.maxShare ?? 0.1;
    if (typeof this.maxShare !== 'number' || !(this.maxShare > 0 && this.maxShare <= 1)) {
      throw invalid(
        'maxShare',
        `Expected \`maxShare\` to be a number in (0, 1], got ${describeValue(options.maxShare)}`,
      );
    }
    this.blockTtlMs = positive(options.blockTtlMs ?? 1000, 'blockTtlMs');
    this.refundTimeoutMs = positive(options.refundTimeoutMs ?? 5000, 'refundTimeoutMs');
    this.clock = options.clock ?? Date.now;
    if (typeof this.clock !== 'function') {
      throw invalid('clock', `Expected \`clock\` to be a function, got ${describeValue(options.clock)}`);
    }
  }

  /** Requests are the inner store's: reported when it reports them (none for an in-process one). */
  get reportsRoundTrips(): boolean {
    return this.inner.reportsRoundTrips === true || this.inner.inProcess === true;
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    if (
      this.closed ||
      (this.resetting.size > 0 && request.buckets.some((bucket) => this.resetting.has(bucket.entity))) ||
      !request.buckets.every((bucket) => this.isReservable(bucket))
    ) {
      return this.inner.charge(request);
    }
    const nowMs = this.clock();
    for (const bucket of request.buckets)
      for (const charge of bucket.charges) this.noteDemand(bucket, charge.limit, charge.cost, nowMs);
    const local = this.takeFromBlocks(request.buckets, nowMs);
    if (local) return local;
    const shape = request.buckets.map(bucketId).join('\n');
    // One reserving write per request shape at a time: the others wait for its block.
    for (
      let underWay = this.reserving.get(shape);
      underWay !== undefined;
      underWay = this.reserving.get(shape)
    ) {
      await underWay.catch(() => undefined);
      const served = this.takeFromBlocks(request.buckets, this.clock());
      if (served) return served;
    }
    const reservation = this.reserve(request, nowMs);
    this.reserving.set(shape, reservation);
    try {
      return await reservation;
    } finally {
      if (this.reserving.get(shape) === reservation) this.reserving.delete(shape);
    }
  }

  adjust(request: AdjustRequest): Promise<void> {
    return this.inner.adjust(request);
  }

  getBuckets(request: GetBucketsRequest): Promise<BucketState[]> {
    return this.inner.getBuckets(request);
  }

  loadConfig(request: LoadConfigRequest): Promise<LoadedConfig> {
    return this.inner.loadConfig(request);
  }

  createEntity(entity: EntityRecord, signal: AbortSignal): Promise<void> {
    return this.inner.createEntity(entity, signal);
  }

  updateEntity(id: string, changes: EntityChanges, signal: AbortSignal): Promise<EntityRecord> {
    return this.inner.updateEntity(id, changes, signal);
  }

  getChildren(parent: string, signal: AbortSignal): Promise<EntityRecord[]> {
    return this.inner.getChildren(parent, signal);
  }

  async deleteEntity(id: string, signal: AbortSignal): Promise<boolean> {
    // The entity's buckets are deleted: blocks held on them would be refunded into nothing.
    for (const [id2, held] of this.buckets) {
      if (held.key.entity === id) {
        clearTimeout(held.timer);
        this.buckets.delete(id2);
      }
    }
    return this.inner.deleteEntity(id, signal);
  }

  /**
   * Gives back the blocks this process holds on the buckets being reset
   * (their unused tokens refunded first, so usage stays exact), then resets
   * them in the inner store. While it runs, charges of the entity skip blocks
   * and go straight to the inner store: a block reserved before the reset
   * lands would hand out tokens the reset has already returned.
   */
  async resetBuckets(scope: ResetScope, signal: AbortSignal): Promise<number> {
    const { entity, resource } = scope;
    this.resetting.set(entity, (this.resetting.get(entity) ?? 0) + 1);
    try {
      // A reserving write under way would leave a block behind: let it land, then give it back.
      await Promise.allSettled([...this.reserving.values()]);
      const refunds: Promise<unknown>[] = [];
      for (const [id, held] of [...this.buckets]) {
        if (held.key.entity === entity && (resource === undefined || held.key.resource === resource)) {
          refunds.push(this.release(id));
        }
      }
      await Promise.allSettled(refunds);
      return await this.inner.resetBuckets(scope, signal);
    } finally {
      const count = (this.resetting.get(entity) ?? 1) - 1;
      if (count === 0) this.resetting.delete(entity);
      else this.resetting.set(entity, count);
    }
  }

  putLimits(scope: LimitScope, limits: readonly LimitDefinition[], signal: AbortSignal): Promise<void> {
    return this.inner.putLimits(scope, limits, signal);
  }

  deleteLimits(scope: LimitScope, signal: AbortSignal): Promise<boolean> {
    return this.inner.deleteLimits(scope, signal);
  }

  getUsage(query: UsageQuery, signal: AbortSignal): Promise<UsagePage> {
    return this.inner.getUsage(query, signal);
  }

  /** The inner store's counters, plus `reserved`: decisions served from blocks (no round trip). */
  stats(): StoreStats {
    return {
      ...(this.inner.stats?.() ?? {}),
      reserved: { calls: this.servedLocally, roundTrips: 0, readCapacityUnits: 0, writeCapacityUnits: 0 },
    };
  }

  /** Tokens held in unexpired blocks, per `bucketId` and limit name (for tests and monitoring). */
  heldTokens(): Map<string, number> {
    const held = new Map<string, number>();
    for (const [id, bucket] of this.buckets) {
      for (const [name, block] of bucket.blocks) held.set(`${id}|${name}`, block.tokens);
    }
    return held;
  }

  /** Refunds every block's unused tokens, waits for those writes, then closes the inner store. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.reserving.values()]);
    for (const id of [...this.buckets.keys()]) void this.release(id);
    await Promise.allSettled([...this.refunds]);
    await this.inner.close?.();
  }

  private isReservable(bucket: BucketCharge): boolean {
    return (
      bucket.charges.length > 0 &&
      bucket.charges.every((charge) => this.reserved === undefined || this.reserved.has(charge.limit.name))
    );
  }

  /** Serves the request from this process's blocks if every charge fits in one; else undefined. */
  private takeFromBlocks(buckets: readonly BucketCharge[], nowMs: number): ChargeResult | undefined {
    const held: BucketBlocks[] = [];
    for (const bucket of buckets) {
      const id = bucketId(bucket);
      const blocks = this.buckets.get(id);
      if (blocks === undefined) return undefined;
      if (blocks.expiresAt <= nowMs) {
        void this.release(id);
        return undefined;
      }
      for (const { limit, cost } of bucket.charges) {
        const block = blocks.blocks.get(limit.name);
        if (
          block === undefined ||
          block.tokens < cost ||
          block.limit.emissionIntervalNs !== limit.emissionIntervalNs
        ) {
          return undefined;
        }
      }
      held.push(blocks);
    }
    buckets.forEach((bucket, index) => {
      for (const { limit, cost } of bucket.charges) {
        const block = held[index]?.blocks.get(limit.name);
        if (block) block.tokens -= cost;
      }
    });
    this.servedLocally += 1;
    return { admitted: true, buckets: buckets.map((bucket, index) => this.stateOf(bucket, held[index])) };
  }

  /** One write: the request's cost plus a block per limit; without blocks if they do not fit. */
  private async reserve(request: ChargeRequest, nowMs: number): Promise<ChargeResult> {
    const sizes = request.buckets.map((bucket) =>
      bucket.charges.map(({ limit, cost }) => this.blockSize(bucket, limit, cost, nowMs)),
    );
    if (sizes.every((perBucket) => perBucket.every((size) => size === 0))) return this.inner.charge(request);
    const withBlocks: BucketCharge[] = request.buckets.map((bucket, index) => ({
      entity: bucket.entity,
      resource: bucket.resource,
      charges: bucket.charges.map((charge, at) => ({
        limit: charge.limit,
        cost: charge.cost + (sizes[index]?.[at] ?? 0),
      })),
    }));
    const result = await this.inner.charge({ ...request, buckets: withBlocks });
    if (!result.admitted) {
      // Not enough left for the blocks too: no blocks for this period, and the request decided alone.
      for (const bucket of request.buckets) {
        for (const { limit } of bucket.charges)
          this.demandOf(bucket, limit).exhaustedUntil = nowMs + this.blockTtlMs;
      }
      return this.inner.charge(request);
    }
    const expiresAt = nowMs + this.blockTtlMs;
    const states = request.buckets.map((bucket, index) => {
      const id = bucketId(bucket);
      void this.release(id);
      const blocks = new Map<string, Block>();
      bucket.charges.forEach(({ limit }, at) => {
        const size = sizes[index]?.[at] ?? 0;
        if (size > 0) blocks.set(limit.name, { limit, tokens: size });
      });
      const held: BucketBlocks = {
        key: { entity: bucket.entity, resource: bucket.resource },
        blocks,
        tats: result.buckets[index]?.tats ?? new Map(),
        expiresAt,
        timer: undefined,
      };
      if (!this.closed) {
        held.timer = setTimeout(() => void this.release(id), this.blockTtlMs);
        held.timer.unref?.();
        this.buckets.set(id, held);
      }
      return this.stateOf(bucket, held);
    });
    if (this.closed) {
      request.buckets.forEach((bucket, index) => {
        const adjustments = bucket.charges.flatMap(({ limit }, at) => {
          const size = sizes[index]?.[at] ?? 0;
          return size > 0 ? [{ limit, delta: -size }] : [];
        });
        void this.refund(bucket, adjustments);
      });
    }
    return {
      admitted: true,
      buckets: states,
      ...(result.nowNs === undefined ? {} : { nowNs: result.nowNs }),
    };
  }

  /** The bucket's state as this process sees it: its own unused block tokens count as free. */
  private stateOf(bucket: BucketKey, held: BucketBlocks | undefined): BucketState {
    const tats = new Map(held?.tats ?? []);
    for (const [name, block] of held?.blocks ?? []) {
      const tat = tats.get(name);
      if (tat !== undefined) tats.set(name, tat - BigInt(block.tokens) * block.limit.emissionIntervalNs);
    }
    return { entity: bucket.entity, resource: bucket.resource, tats };
  }

  /** Tokens to reserve beyond `cost`: last period's demand, capped by `maxShare`; 0 when not worth it. */
  private blockSize(bucket: BucketKey, limit: Limit, cost: number, nowMs: number): number {
    const demand = this.demandOf(bucket, limit);
    if (demand.exhaustedUntil > nowMs) return 0;
    const cap = Math.floor(limit.capacity * this.maxShare) - cost;
    // Tokens one period needs: the last full period's, or this one's so far, extrapolated
    // (from at least a tenth of a period, so one early request does not make a huge block).
    const elapsed = Math.max(nowMs - demand.periodStart, this.blockTtlMs / 10);
    const current = Math.ceil((demand.current * this.blockTtlMs) / elapsed);
    const size = Math.min(cap, Math.max(demand.previous, current));
    // A block of a token or two saves nothing: write plainly.
    return size >= 2 ? size : 0;
  }

  private demandOf(bucket: BucketKey, limit: Limit): Demand {
    const key = `${bucketId(bucket)}|${limit.name}`;
    let demand = this.demand.get(key);
    if (demand === undefined) {
      if (this.demand.size >= MAX_TRACKED) this.demand.clear();
      demand = { periodStart: this.clock(), current: 0, previous: 0, exhaustedUntil: 0 };
      this.demand.set(key, demand);
    }
    return demand;
  }

  private noteDemand(bucket: BucketKey, limit: Limit, cost: number, nowMs: number): void {
    const demand = this.demandOf(bucket, limit);
    const elapsed = nowMs - demand.periodStart;
    if (elapsed >= this.blockTtlMs) {
      demand.previous = elapsed >= 2 * this.blockTtlMs ? 0 : demand.current;
      demand.current = 0;
      demand.periodStart = nowMs;
    }
    demand.current += cost;
  }

  /** Drops the blocks of a bucket and refunds their unused tokens; the refund's write, if any. */
  private release(id: string): Promise<unknown> {
    const held = this.buckets.get(id);
    if (held === undefined) return NOTHING;
    this.buckets.delete(id);
    clearTimeout(held.timer);
    const adjustments = [...held.blocks.values()]
      .filter((block) => block.tokens > 0)
      .map((block) => ({ limit: block.limit, delta: -block.tokens }));
    return this.refund(held.key, adjustments);
  }

  /** Returns unused block tokens to the store; `close()` waits for these writes. */
  private refund(key: BucketKey, adjustments: readonly LimitAdjustment[]): Promise<unknown> {
    if (adjustments.length === 0) return NOTHING;
    const write = this.inner
      .adjust({
        nowNs: msToNs(this.clock()),
        buckets: [{ entity: key.entity, resource: key.resource, adjustments }],
        signal: AbortSignal.timeout(this.refundTimeoutMs),
      })
      .catch(() => undefined);
    this.refunds.add(write);
    void write.finally(() => this.refunds.delete(write));
    return write;
  }
}

/** What {@link ReservingStore} awaits when there was nothing to write. */
const NOTHING: Promise<unknown> = Promise.resolve();

/** Most (bucket, limit) demand counters kept; past this the estimates start over. */
const MAX_TRACKED = 100_000;

function positive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw invalid(field, `Expected \`${field}\` to be a positive number of ms, got ${describeValue(value)}`);
  }
  return value;
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}
