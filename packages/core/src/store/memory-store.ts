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
   * Most buckets kept (default 100 000). When full, a bucket that is already
   * full again (idle) is dropped first, which loses nothing; only if none of
   * the least recently used are idle does the oldest busy bucket go.
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

/** How many least-recently-used buckets are inspected for an idle one before evicting. */
const EVICTION_SCAN = 16;

/**
 * An in-process {@link Store}: exact, atomic (each call finishes before the
 * next starts), bounded, with no timers. For one process, tests and demos;
 * use `DynamoDBStore` to share limits between processes.
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
      const stored = current[index] ?? this.insertBucket(bucket, nowNs);
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
      const stored = this.buckets.get(bucketId(bucket)) ?? this.insertBucket(bucket, nowNs);
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

  private insertBucket(key: BucketKey, nowNs: bigint): MemoryBucket {
    if (this.buckets.size >= this.buckets.max) this.evictIdleBucket(nowNs);
    const bucket: MemoryBucket = { entity: key.entity, tats: new Map() };
    this.buckets.set(bucketId(key), bucket);
    return bucket;
  }

  /** Drops a least-recently-used bucket that is full again; losing it changes no decision. */
  private evictIdleBucket(nowNs: bigint): void {
    let scanned = 0;
    for (const key of this.buckets.rkeys()) {
      const bucket = this.buckets.peek(key);
      if (bucket && [...bucket.tats.values()].every((tat) => tat <= nowNs)) {
        this.buckets.delete(key);
        return;
      }
      if (++scanned >= EVICTION_SCAN) return;
    }
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

function snapshot(key: BucketKey, bucket: MemoryBucket | undefined): BucketState {
  return { entity: key.entity, resource: key.resource, tats: new Map(bucket?.tats ?? []) };
}
