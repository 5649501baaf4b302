import { LRUCache } from 'lru-cache';
import { EntityError } from '../errors.js';
import type { LimitDefinition } from '../limit.js';
import { adjustedTat, chargedTat, isAdmissible } from '../math/gcra.js';
import {
  type AdjustRequest,
  type BucketKey,
  type BucketState,
  bucketId,
  type ChargeRequest,
  type ChargeResult,
  type EntityRecord,
  type GetBucketsRequest,
  type LimitScope,
  type LoadConfigRequest,
  type LoadedConfig,
  type Store,
  type StoreStats,
  scopeKey,
  type UsageQuery,
  type UsageSnapshot,
  type UsageWindow,
} from './store.js';
import { usageWindowMs } from './usage-windows.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most buckets kept (default 100 000). When full, each new bucket evicts one
   * of the 32 least recently used: an idle one (full again, so nothing is
   * lost) if any, else the one owing the least time (earliest `tat`), so
   * buckets in debt are kept longest. See docs/concepts.md, "MemoryStore under
   * a key flood", for what a flood of new keys can and cannot do.
   */
  maxKeys?: number;
}

interface MemoryBucket {
  readonly entity: string;
  readonly tats: Map<string, bigint>;
  /** The usage entries of the current hour and day, kept here so that charges skip the lookup. */
  hour?: UsageEntry | undefined;
  day?: UsageEntry | undefined;
  /** End of the hour of `hour`, in ns: until then both entries are current (a day ends on an hour). */
  hourEndNs?: bigint | undefined;
}

interface UsageEntry {
  readonly snapshot: UsageSnapshot;
  readonly consumed: Record<string, number>;
}

const HOUR_NS = BigInt(usageWindowMs('hour')) * 1_000_000n;

/**
 * How many buckets one insert into a full store compares before evicting.
 * A bucket in debt goes only if it owes the least of all it is compared with,
 * so the sample must be wide enough to nearly always hold a cheaper candidate
 * when one exists: with a fraction `f` of a well-mixed store owing less, the
 * 31 others all miss them with probability `(1 − f)^31` (4 % at f = 10 %,
 * 10⁻⁴ at 25 %, 5·10⁻¹⁰ at 50 %). The price is at most this many map reads and
 * LRU moves per insert into a full store, a few microseconds; inserts into a
 * store with room and charges of known keys pay nothing.
 */
const EVICTION_SAMPLE = 32;

/**
 * An in-process {@link Store}: exact, atomic (each call finishes before the
 * next starts), bounded, with no timers. For one process, tests and demos;
 * use `DynamoDBStore` to share limits between processes.
 *
 * Bounded means a full store forgets a bucket for every new one, and a
 * forgotten bucket starts full again. The choice keeps what a flood of new
 * keys can win back small: an idle bucket goes first (no decision changes);
 * otherwise, of 32 buckets compared, the one whose `tat` is earliest (it owes
 * the least time, so forgetting it admits the least). A bucket in debt is
 * evicted only when each of the other 31 owes at least as much, so it
 * outlives any number of keys charged less than it owes whenever one of them
 * is compared with it. Buckets compared and kept move to the recent end, so
 * the next insert compares others rather than the same deep debtors.
 *
 * @example
 * const limiter = new RateLimiter({ store: new MemoryStore({ maxKeys: 100_000 }), limits: [Limit.perMinute('rpm', 60)] });
 */
export class MemoryStore implements Store {
  /** Answers in process: the limiter skips per-call deadline timers. */
  readonly inProcess = true;
  private readonly buckets: LRUCache<string, MemoryBucket>;
  private readonly entities = new Map<string, EntityRecord>();
  private readonly children = new Map<string, Set<string>>();
  private readonly limitSets = new Map<string, { scope: LimitScope; limits: readonly LimitDefinition[] }>();
  private readonly usage: LRUCache<string, UsageEntry>;
  private readonly counters: StoreStats = {};

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys <= 0) {
      throw new TypeError(`Expected \`maxKeys\` to be a positive integer, got \`${String(maxKeys)}\``);
    }
    this.buckets = new LRUCache({ max: maxKeys });
    this.usage = new LRUCache({ max: maxKeys * 2 });
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    this.count('charge');
    const { nowNs, buckets } = request;
    const current: Array<MemoryBucket | undefined> = [];
    let admitted = true;
    for (const bucket of buckets) {
      const stored = this.buckets.get(bucketId(bucket));
      current.push(stored);
      for (const { limit, cost } of bucket.charges) {
        if (!isAdmissible(stored?.tats.get(limit.name), nowNs, limit, cost)) admitted = false;
      }
    }
    if (!admitted) {
      return { admitted, buckets: buckets.map((bucket, index) => snapshot(bucket, current[index])) };
    }
    const states: BucketState[] = [];
    for (const [index, bucket] of buckets.entries()) {
      const stored = current[index] ?? this.insertBucket(bucket, nowNs, buckets);
      const [hour, day] = this.usageEntries(bucket, stored, nowNs);
      for (const { limit, cost } of bucket.charges) {
        stored.tats.set(limit.name, chargedTat(stored.tats.get(limit.name), nowNs, limit, cost));
        addTokens(hour.consumed, limit.name, cost);
        addTokens(day.consumed, limit.name, cost);
      }
      states.push(snapshot(bucket, stored));
    }
    return { admitted, buckets: states };
  }

  async adjust(request: AdjustRequest): Promise<void> {
    this.count('adjust');
    const { nowNs } = request;
    for (const bucket of request.buckets) {
      const stored = this.buckets.get(bucketId(bucket)) ?? this.insertBucket(bucket, nowNs, request.buckets);
      const usage = this.usageEntries(bucket, stored, nowNs);
      for (const { limit, delta } of bucket.adjustments) {
        const tat = adjustedTat(stored.tats.get(limit.name), nowNs, limit, delta);
        if (tat === undefined) stored.tats.delete(limit.name);
        else stored.tats.set(limit.name, tat);
        for (const entry of usage) addTokens(entry.consumed, limit.name, delta);
      }
    }
  }

  async getBuckets(request: GetBucketsRequest): Promise<BucketState[]> {
    this.count('getBuckets');
    return request.keys.map((key) => ({
      entity: key.entity,
      resource: key.resource,
      tats: new Map(this.buckets.peek(bucketId(key))?.tats ?? []),
    }));
  }

  async loadConfig(request: LoadConfigRequest): Promise<LoadedConfig> {
    this.count('loadConfig');
    const entities = new Map<string, EntityRecord>();
    for (const id of request.entityIds) {
      const entity = this.entities.get(id);
      if (entity) entities.set(id, entity);
    }
    const limits = new Map<string, readonly LimitDefinition[]>();
    for (const scope of request.scopes) {
      const key = scopeKey(scope);
      const set = this.limitSets.get(key);
      if (set) limits.set(key, set.limits);
    }
    return { entities, limits };
  }

  async createEntity(entity: EntityRecord): Promise<void> {
    this.count('createEntity');
    if (this.entities.has(entity.id)) {
      throw new EntityError(
        'ERR_TOLLGATE_ENTITY_EXISTS',
        entity.id,
        `Entity \`${entity.id}\` already exists`,
      );
    }
    this.entities.set(entity.id, structuredClone(entity));
    if (entity.parent !== undefined) {
      const siblings = this.children.get(entity.parent) ?? new Set<string>();
      siblings.add(entity.id);
      this.children.set(entity.parent, siblings);
    }
  }

  async getChildren(parent: string): Promise<EntityRecord[]> {
    this.count('getChildren');
    const ids = [...(this.children.get(parent) ?? [])];
    return ids.flatMap((id) => this.entities.get(id) ?? []);
  }

  async deleteEntity(id: string): Promise<boolean> {
    this.count('deleteEntity');
    const entity = this.entities.get(id);
    this.entities.delete(id);
    if (entity?.parent !== undefined) this.children.get(entity.parent)?.delete(id);
    for (const [key, set] of [...this.limitSets]) {
      if (set.scope.entity === id) this.limitSets.delete(key);
    }
    for (const [key, bucket] of [...this.buckets.entries()]) {
      if (bucket.entity === id) this.buckets.delete(key);
    }
    for (const [key, entry] of [...this.usage.entries()]) {
      if (entry.snapshot.entity === id) this.usage.delete(key);
    }
    return entity !== undefined;
  }

  async putLimits(scope: LimitScope, limits: readonly LimitDefinition[]): Promise<void> {
    this.count('putLimits');
    this.limitSets.set(scopeKey(scope), {
      scope: { ...scope },
      limits: limits.map((limit) => ({
        name: limit.name,
        capacity: limit.capacity,
        refillAmount: limit.refillAmount,
        refillPeriodMs: limit.refillPeriodMs,
      })),
    });
  }

  async deleteLimits(scope: LimitScope): Promise<boolean> {
    this.count('deleteLimits');
    return this.limitSets.delete(scopeKey(scope));
  }

  async getUsage(query: UsageQuery): Promise<{ snapshots: UsageSnapshot[]; cursor?: string }> {
    this.count('getUsage');
    const matching = [...this.usage.values()]
      .map((entry) => ({ ...entry.snapshot, consumed: { ...entry.consumed } }))
      .filter(
        (snapshot) =>
          snapshot.entity === query.entity &&
          snapshot.window === query.window &&
          (query.resource === undefined || snapshot.resource === query.resource) &&
          (query.from === undefined || snapshot.start >= query.from) &&
          (query.to === undefined || snapshot.start < query.to),
      )
      .sort((a, b) => a.start - b.start || (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
    const offset = query.cursor === undefined ? 0 : Number(query.cursor);
    const pageSize = query.pageSize ?? 100;
    const snapshots = matching.slice(offset, offset + pageSize);
    const next = offset + pageSize;
    return next < matching.length ? { snapshots, cursor: String(next) } : { snapshots };
  }

  stats(): StoreStats {
    return structuredClone(this.counters);
  }

  /** Number of buckets held (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  /** Adds an empty bucket, first evicting one if the store is full (never one of `inUse`). */
  private insertBucket(key: BucketKey, nowNs: bigint, inUse: readonly BucketKey[]): MemoryBucket {
    if (this.buckets.size >= this.buckets.max) this.evictCheapest(nowNs, inUse);
    const bucket: MemoryBucket = { entity: key.entity, tats: new Map() };
    this.buckets.set(bucketId(key), bucket);
    return bucket;
  }

  /**
   * Evicts the bucket whose loss admits the least, among the `EVICTION_SAMPLE`
   * least recently used: the first idle one, else the one with the earliest
   * latest `tat`. The buckets of the call in progress (`inUse`) are never
   * candidates: losing one would drop the charge being made.
   */
  private evictCheapest(nowNs: bigint, inUse: readonly BucketKey[]): void {
    const skip = new Set(inUse.map(bucketId));
    const kept: string[] = [];
    let victim: string | undefined;
    let victimTat: bigint | undefined;
    for (const id of this.buckets.rkeys()) {
      const bucket = skip.has(id) ? undefined : this.buckets.peek(id);
      if (bucket === undefined) continue;
      const tat = latestTat(bucket);
      if (tat <= nowNs) {
        victim = id;
        break;
      }
      kept.push(id);
      if (victimTat === undefined || tat < victimTat) {
        victim = id;
        victimTat = tat;
      }
      if (kept.length >= EVICTION_SAMPLE) break;
    }
    if (victim === undefined) return;
    this.buckets.delete(victim);
    // A second chance for the debtors just compared: moved to the recent end, they
    // make the next insert compare other buckets instead of losing one of them.
    for (const id of kept) if (id !== victim) this.buckets.get(id);
  }

  /** The hour and day usage entries of a bucket at `nowNs`, created on a window change. */
  private usageEntries(key: BucketKey, bucket: MemoryBucket, nowNs: bigint): [UsageEntry, UsageEntry] {
    if (
      bucket.hour &&
      bucket.day &&
      bucket.hourEndNs !== undefined &&
      nowNs < bucket.hourEndNs &&
      nowNs >= bucket.hourEndNs - HOUR_NS
    ) {
      return [bucket.hour, bucket.day];
    }
    const nowMs = Number(nowNs / 1_000_000n);
    const hourStart = nowMs - (nowMs % usageWindowMs('hour'));
    if (bucket.hour?.snapshot.start !== hourStart) bucket.hour = this.usageEntry(key, 'hour', hourStart);
    const dayStart = nowMs - (nowMs % usageWindowMs('day'));
    if (bucket.day?.snapshot.start !== dayStart) bucket.day = this.usageEntry(key, 'day', dayStart);
    bucket.hourEndNs = BigInt(hourStart + usageWindowMs('hour')) * 1_000_000n;
    return [bucket.hour, bucket.day];
  }

  private usageEntry(key: BucketKey, window: UsageWindow, start: number): UsageEntry {
    const id = `${window}${start}|${bucketId(key)}`;
    let entry = this.usage.get(id);
    if (!entry) {
      entry = {
        snapshot: { entity: key.entity, resource: key.resource, window, start, consumed: {} },
        consumed: {},
      };
      this.usage.set(id, entry);
    }
    return entry;
  }

  private count(kind: string): void {
    const entry = this.counters[kind] ?? {
      calls: 0,
      roundTrips: 0,
      readCapacityUnits: 0,
      writeCapacityUnits: 0,
    };
    entry.calls += 1;
    this.counters[kind] = entry;
  }
}

/** Adds to a name-keyed counter; own properties only, so `constructor` is a limit name like any other. */
function addTokens(counters: Record<string, number>, name: string, tokens: number): void {
  counters[name] = (Object.hasOwn(counters, name) ? (counters[name] ?? 0) : 0) + tokens;
}

/** When the whole bucket is full again: the latest `tat` of its limits (0 when it has none). */
function latestTat(bucket: MemoryBucket): bigint {
  let latest = 0n;
  for (const tat of bucket.tats.values()) if (tat > latest) latest = tat;
  return latest;
}

function snapshot(key: BucketKey, bucket: MemoryBucket | undefined): BucketState {
  return { entity: key.entity, resource: key.resource, tats: new Map(bucket?.tats ?? []) };
}
