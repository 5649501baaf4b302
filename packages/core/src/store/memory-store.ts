import { LRUCache } from 'lru-cache';
import { EntityError } from '../errors.js';
import type { LimitDefinition } from '../limit.js';
import { adjustedTat, tryChargeTat } from '../math/gcra.js';
import {
  type AdjustRequest,
  type BucketCharge,
  type BucketKey,
  type BucketState,
  bucketId,
  type ChargeRequest,
  type ChargeResult,
  changedEntity,
  compactBucketId,
  type EntityChanges,
  type EntityRecord,
  type GetBucketsRequest,
  type LimitScope,
  type LoadConfigRequest,
  type LoadedConfig,
  type ResetScope,
  type Store,
  type StoreCallStats,
  type StoreStats,
  type SyncChargeRequest,
  type SyncLoadConfigRequest,
  scopeKey,
  type UsageQuery,
  type UsageSnapshot,
  type UsageWindow,
} from './store.js';
import { ArrayTats, OneBucketCharged, OneTat } from './tat-maps.js';
import { usageWindowMs } from './usage-windows.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most buckets kept (default 100 000). When full, each new bucket evicts one
   * of the next 32 not used since the eviction hand last passed them: an idle
   * one (full again, so nothing is lost) if any, else the one owing the least
   * time (earliest `tat`), so buckets in debt are kept longest. See docs/concepts.md, "MemoryStore under
   * a key flood", for what a flood of new keys can and cannot do.
   */
  maxKeys?: number;
}

interface MemoryBucket {
  readonly entity: string;
  /**
   * Limit names and their `tat`s, index-aligned. `names` is replaced when a
   * limit comes or goes, never changed in place, so states share it; `tats`
   * is written in place, and a state handed out holds its own copy.
   */
  names: readonly string[];
  tats: bigint[];
  /** Set by every charge or adjust, cleared by the eviction hand as it passes (a second chance). */
  used: boolean;
  /** The usage entries of the current hour and day, kept here so that charges skip the lookup. */
  hour?: UsageEntry | undefined;
  day?: UsageEntry | undefined;
  /** The hour of `hour`: within it both entries are current (a day ends on an hour). */
  hourWindow?: HourWindow | undefined;
}

/** One hour, `[startNs, endNs)`: shared by every bucket charged in it. */
interface HourWindow {
  readonly startMs: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

interface UsageEntry {
  /** Which window of which bucket. */
  readonly snapshot: Omit<UsageSnapshot, 'consumed'>;
  /** Limit names and the tokens consumed of each, index-aligned (names shared as a bucket's are). */
  names: readonly string[];
  readonly counts: number[];
}

/** The names of a bucket with no `tat` yet: shared, as every names array is never changed. */
const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * The names array after `name` joins `names`, shared by every bucket that
 * took its limits in the same order (most take the same ones): a bucket then
 * holds no array of its own. Keyed weakly by the array it extends.
 */
const extensions = new WeakMap<readonly string[], Map<string, readonly string[]>>();

function withName(names: readonly string[], name: string): readonly string[] {
  let byName = extensions.get(names);
  if (byName === undefined) {
    byName = new Map();
    extensions.set(names, byName);
  }
  let extended = byName.get(name);
  if (extended === undefined) {
    extended = Object.freeze([...names, name]);
    byName.set(name, extended);
  }
  return extended;
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
 * is compared with it. Which buckets are compared is a CLOCK sweep: a hand
 * walks the buckets in turn, passing over (and unmarking) those used since it
 * last came by, so recently used buckets are not compared, and the next insert
 * compares the buckets after the last ones, not the same deep debtors again.
 * A charge costs one map lookup and one flag; config reads are map lookups.
 *
 * @example
 * const limiter = new RateLimiter({ store: new MemoryStore({ maxKeys: 100_000 }), limits: [Limit.perMinute('rpm', 60)] });
 */
export class MemoryStore implements Store {
  /** Answers in process: the limiter skips per-call deadline timers. */
  readonly inProcess = true;
  /** Buckets by `compactBucketId`, in insertion order, which the eviction hand walks round. */
  private readonly buckets = new Map<string, MemoryBucket>();
  private readonly maxKeys: number;
  /** Where the eviction hand is: the next bucket it looks at (a new walk starts when it runs out). */
  private hand: Iterator<[string, MemoryBucket]> | undefined;
  private readonly entities = new Map<string, EntityRecord>();
  private readonly children = new Map<string, Set<string>>();
  private readonly limitSets = new Map<string, { scope: LimitScope; limits: readonly LimitDefinition[] }>();
  /**
   * Usage entries no bucket holds any more: windows that ended, and the
   * windows of evicted or deleted buckets. A bucket keeps its current hour and
   * day itself, so charges and new keys never touch this cache.
   */
  private usageArchive: LRUCache<string, UsageEntry> | undefined;
  private readonly maxArchived: number;
  private readonly counters = new Map<string, StoreCallStats>();
  /** The counters of the two calls every decision makes, once they exist: no map lookup per decision. */
  private chargeCounter: StoreCallStats | undefined;
  private loadConfigCounter: StoreCallStats | undefined;
  /** The hour buckets were last charged in. */
  private lastHourWindow: HourWindow | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys <= 0) {
      throw new TypeError(`Expected \`maxKeys\` to be a positive integer, got \`${String(maxKeys)}\``);
    }
    this.maxKeys = maxKeys;
    this.maxArchived = maxKeys * 2;
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    return this.chargeNow(request);
  }

  /**
   * {@link charge} without a promise, for the limiter's fast path; undefined
   * once `charge` has been replaced (by a subclass, or on the instance, to
   * fail, delay or count it), so that the replacement is what gets called.
   */
  get chargeSync(): ((request: SyncChargeRequest) => ChargeResult) | undefined {
    return this.charge === MemoryStore.prototype.charge ? this.chargeNow : undefined;
  }

  /** {@link loadConfig} without a promise; undefined once `loadConfig` has been replaced (see {@link chargeSync}). */
  get loadConfigSync(): ((request: SyncLoadConfigRequest) => LoadedConfig) | undefined {
    return this.loadConfig === MemoryStore.prototype.loadConfig ? this.loadConfigNow : undefined;
  }

  private readonly chargeNow = (request: SyncChargeRequest): ChargeResult => {
    if (this.chargeCounter === undefined) this.chargeCounter = this.count('charge');
    else this.chargeCounter.calls += 1;
    const { nowNs, buckets } = request;
    if (buckets.length === 1 && buckets[0]!.charges.length === 1) return this.chargeOne(nowNs, buckets);
    const count = buckets.length;
    const current = new Array<MemoryBucket | undefined>(count);
    // First pass: every charge must be admissible; the new tats wait in `next`.
    const next: Array<bigint | undefined> = [];
    for (let index = 0; index < count; index += 1) {
      const bucket = buckets[index]!;
      const stored = this.use(compactBucketId(bucket.entity, bucket.resource));
      current[index] = stored;
      for (const { limit, cost } of bucket.charges) {
        const tat = tryChargeTat(
          stored === undefined ? undefined : tatOf(stored, limit.name),
          nowNs,
          limit,
          cost,
        );
        if (tat === undefined) {
          return { admitted: false, buckets: buckets.map((key, at) => stateOf(key, current[at])) };
        }
        next.push(tat);
      }
    }
    const states = new Array<BucketState>(count);
    let taken = 0;
    for (let index = 0; index < count; index += 1) {
      const bucket = buckets[index]!;
      const stored = current[index] ?? this.insertBucket(bucket, nowNs, buckets);
      const { hour, day } = this.currentUsage(bucket, stored, nowNs);
      for (const { limit, cost } of bucket.charges) {
        setTat(stored, limit.name, next[taken++]);
        addTokens(hour, limit.name, cost);
        addTokens(day, limit.name, cost);
      }
      states[index] = stateOf(bucket, stored);
    }
    return { admitted: true, buckets: states };
  };

  /**
   * {@link chargeNow} of one bucket with one limit, the common decision: no
   * arrays for the pending tats, one search for the limit, one object back.
   */
  private chargeOne(nowNs: bigint, buckets: readonly BucketCharge[]): ChargeResult {
    const bucket = buckets[0]!;
    const { limit, cost } = bucket.charges[0]!;
    const { name } = limit;
    const stored = this.use(compactBucketId(bucket.entity, bucket.resource));
    const index = stored === undefined ? -1 : indexOfName(stored.names, name);
    const tat = tryChargeTat(index < 0 ? undefined : stored!.tats[index], nowNs, limit, cost);
    if (tat === undefined) return { admitted: false, buckets: [stateOf(bucket, stored)] };
    const written = stored ?? this.insertBucket(bucket, nowNs, buckets);
    const { hour, day } = this.currentUsage(bucket, written, nowNs);
    if (index < 0) setTat(written, name, tat);
    else written.tats[index] = tat;
    addTokens(hour, name, cost);
    addTokens(day, name, cost);
    // The state shows every limit of the bucket, not only the one charged.
    if (written.names.length > 1) return { admitted: true, buckets: [stateOf(bucket, written)] };
    return new OneBucketCharged(bucket.entity, bucket.resource, name, tat);
  }

  async adjust(request: AdjustRequest): Promise<void> {
    this.count('adjust');
    const { nowNs } = request;
    for (const bucket of request.buckets) {
      const stored =
        this.use(compactBucketId(bucket.entity, bucket.resource)) ??
        this.insertBucket(bucket, nowNs, request.buckets);
      const { hour, day } = this.currentUsage(bucket, stored, nowNs);
      for (const { limit, delta } of bucket.adjustments) {
        setTat(stored, limit.name, adjustedTat(tatOf(stored, limit.name), nowNs, limit, delta));
        addTokens(hour, limit.name, delta);
        addTokens(day, limit.name, delta);
      }
    }
  }

  async getBuckets(request: GetBucketsRequest): Promise<BucketState[]> {
    this.count('getBuckets');
    return request.keys.map((key) =>
      stateOf(key, this.buckets.get(compactBucketId(key.entity, key.resource))),
    );
  }

  async loadConfig(request: LoadConfigRequest): Promise<LoadedConfig> {
    return this.loadConfigNow(request);
  }

  private readonly loadConfigNow = (request: SyncLoadConfigRequest): LoadedConfig => {
    if (this.loadConfigCounter === undefined) this.loadConfigCounter = this.count('loadConfig');
    else this.loadConfigCounter.calls += 1;
    if (this.entities.size === 0 && this.limitSets.size === 0) return NO_CONFIG;
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
  };

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
    if (entity.parent !== undefined) this.listChild(entity.parent, entity.id);
  }

  async updateEntity(id: string, changes: EntityChanges): Promise<EntityRecord> {
    this.count('updateEntity');
    const stored = this.entities.get(id);
    if (stored === undefined) {
      throw new EntityError('ERR_TOLLGATE_ENTITY_NOT_FOUND', id, `Entity \`${id}\` does not exist`);
    }
    const updated = structuredClone(changedEntity(stored, changes));
    if (updated.parent !== stored.parent) {
      if (stored.parent !== undefined) this.unlistChild(stored.parent, id);
      if (updated.parent !== undefined) this.listChild(updated.parent, id);
    }
    this.entities.set(id, updated);
    return structuredClone(updated);
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
    if (entity?.parent !== undefined) this.unlistChild(entity.parent, id);
    for (const [key, set] of [...this.limitSets]) {
      if (set.scope.entity === id) this.limitSets.delete(key);
    }
    for (const [key, bucket] of [...this.buckets]) {
      if (bucket.entity === id) this.removeBucket(key, bucket);
    }
    const archive = this.usageArchive;
    if (archive !== undefined) {
      for (const [key, entry] of [...archive.entries()]) {
        if (entry.snapshot.entity === id) archive.delete(key);
      }
    }
    return entity !== undefined;
  }

  /**
   * Empties the `tat`s of the entity's buckets (of one resource, or all).
   * The buckets stay, with the usage of their current hour and day.
   */
  async resetBuckets(scope: ResetScope): Promise<number> {
    this.count('resetBuckets');
    const { entity, resource } = scope;
    const candidates =
      resource === undefined
        ? [...this.buckets.values()].filter((bucket) => bucket.entity === entity)
        : [this.buckets.get(compactBucketId(entity, resource))];
    let reset = 0;
    for (const bucket of candidates) {
      if (bucket === undefined || bucket.names.length === 0) continue;
      // Fresh arrays, as on every write: states handed out keep what they showed.
      bucket.names = NO_NAMES;
      bucket.tats = [];
      reset += 1;
    }
    return reset;
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
    const live = [...this.buckets.values()].flatMap((bucket) =>
      bucket.entity === query.entity ? [bucket.hour, bucket.day].filter((entry) => entry !== undefined) : [],
    );
    const matching = [...(this.usageArchive?.values() ?? []), ...live]
      .map((entry) => ({ ...entry.snapshot, consumed: consumedOf(entry) }))
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
    return structuredClone(Object.fromEntries(this.counters));
  }

  /** Number of buckets held (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  private listChild(parent: string, child: string): void {
    const siblings = this.children.get(parent) ?? new Set<string>();
    siblings.add(child);
    this.children.set(parent, siblings);
  }

  private unlistChild(parent: string, child: string): void {
    const siblings = this.children.get(parent);
    siblings?.delete(child);
    if (siblings?.size === 0) this.children.delete(parent);
  }

  /** The bucket of `id`, marked as used (the eviction hand passes it over once). */
  private use(id: string): MemoryBucket | undefined {
    const bucket = this.buckets.get(id);
    if (bucket !== undefined) bucket.used = true;
    return bucket;
  }

  /** Adds an empty bucket, first evicting one if the store is full (never one of `inUse`). */
  private insertBucket(key: BucketKey, nowNs: bigint, inUse: readonly BucketKey[]): MemoryBucket {
    if (this.buckets.size >= this.maxKeys) this.evictCheapest(nowNs, inUse);
    const bucket: MemoryBucket = { entity: key.entity, names: NO_NAMES, tats: [], used: true };
    this.buckets.set(compactBucketId(key.entity, key.resource), bucket);
    return bucket;
  }

  /**
   * Evicts the bucket whose loss admits the least, among the next
   * `EVICTION_SAMPLE` buckets unused since the hand last passed them (a CLOCK
   * sweep: the hand clears the use mark of a bucket used since, and goes on):
   * the first idle one, else the one with the earliest latest `tat`. The
   * buckets of the call in progress (`inUse`) are never candidates: losing one
   * would drop the charge being made. A charge reads one plain map entry and
   * sets one flag; only inserts into a full store move the hand.
   */
  private evictCheapest(nowNs: bigint, inUse: readonly BucketKey[]): void {
    const skip = new Set(inUse.map((key) => compactBucketId(key.entity, key.resource)));
    let victim: [string, MemoryBucket] | undefined;
    let victimTat: bigint | undefined;
    let compared = 0;
    // Two turns at most: the first may only clear use marks, the second then finds candidates.
    for (let steps = 2 * this.buckets.size; steps > 0 && compared < EVICTION_SAMPLE; steps -= 1) {
      const entry = this.advanceHand();
      if (entry === undefined) break;
      const [id, bucket] = entry;
      if (skip.has(id)) continue;
      if (bucket.used) {
        bucket.used = false;
        continue;
      }
      const tat = latestTat(bucket);
      if (tat <= nowNs) {
        victim = entry;
        break;
      }
      compared += 1;
      if (victimTat === undefined || tat < victimTat) {
        victim = entry;
        victimTat = tat;
      }
    }
    if (victim !== undefined) this.removeBucket(victim[0], victim[1]);
  }

  /** The next bucket under the eviction hand, starting a new turn at the end of the map. */
  private advanceHand(): [string, MemoryBucket] | undefined {
    let next = this.hand?.next();
    if (next === undefined || next.done === true) {
      this.hand = this.buckets.entries();
      next = this.hand.next();
    }
    return next.done === true ? undefined : next.value;
  }

  /** Forgets a bucket; its current usage moves to the archive, so `getUsage` still finds it. */
  private removeBucket(id: string, bucket: MemoryBucket): void {
    this.buckets.delete(id);
    this.archiveUsage(bucket);
  }

  /** The bucket's usage entries of the hour and day of `nowNs`, switched (and the old ones archived) on a window change. */
  private currentUsage(
    key: BucketKey,
    bucket: MemoryBucket,
    nowNs: bigint,
  ): { hour: UsageEntry; day: UsageEntry } {
    const { hour, day, hourWindow } = bucket;
    if (hour && day && hourWindow && nowNs < hourWindow.endNs && nowNs >= hourWindow.startNs) {
      return bucket as { hour: UsageEntry; day: UsageEntry };
    }
    const nowMs = Number(nowNs / 1_000_000n);
    const hourStart = nowMs - (nowMs % usageWindowMs('hour'));
    if (hour?.snapshot.start !== hourStart) bucket.hour = this.swapUsage(key, hour, 'hour', hourStart);
    const dayStart = nowMs - (nowMs % usageWindowMs('day'));
    if (day?.snapshot.start !== dayStart) bucket.day = this.swapUsage(key, day, 'day', dayStart);
    bucket.hourWindow = this.hourWindowAt(hourStart);
    return bucket as { hour: UsageEntry; day: UsageEntry };
  }

  /** The window of the hour starting at `startMs`: the same object for every bucket charged in it. */
  private hourWindowAt(startMs: number): HourWindow {
    if (this.lastHourWindow?.startMs !== startMs) {
      const startNs = BigInt(startMs) * 1_000_000n;
      this.lastHourWindow = { startMs, startNs, endNs: startNs + HOUR_NS };
    }
    return this.lastHourWindow;
  }

  /** Archives `current` and returns the entry of (`window`, `start`): from the archive if one is there, else new. */
  private swapUsage(
    key: BucketKey,
    current: UsageEntry | undefined,
    window: UsageWindow,
    start: number,
  ): UsageEntry {
    if (current !== undefined) this.archive(current);
    const archive = this.usageArchive;
    if (archive !== undefined && archive.size > 0) {
      const id = usageId(key, window, start);
      const archived = archive.get(id);
      if (archived !== undefined) {
        archive.delete(id);
        return archived;
      }
    }
    return {
      snapshot: { entity: key.entity, resource: key.resource, window, start },
      names: NO_NAMES,
      counts: [],
    };
  }

  /** Moves a leaving bucket's current usage to the archive, so `getUsage` still finds it. */
  private archiveUsage(bucket: MemoryBucket): void {
    if (bucket.hour !== undefined) this.archive(bucket.hour);
    if (bucket.day !== undefined) this.archive(bucket.day);
    bucket.hour = undefined;
    bucket.day = undefined;
  }

  private archive(entry: UsageEntry): void {
    const { snapshot } = entry;
    // Made on first use: an LRU of this size allocates its arrays up front (megabytes at the default bound).
    this.usageArchive ??= new LRUCache({ max: this.maxArchived });
    this.usageArchive.set(usageId(snapshot, snapshot.window, snapshot.start), entry);
  }

  /** Counts one call of `kind`; returns its counter. */
  private count(kind: string): StoreCallStats {
    let entry = this.counters.get(kind);
    if (entry === undefined) {
      entry = { calls: 0, roundTrips: 0, readCapacityUnits: 0, writeCapacityUnits: 0 };
      this.counters.set(kind, entry);
    }
    entry.calls += 1;
    return entry;
  }
}

/** The key of a usage entry: window, start and bucket. */
function usageId(key: BucketKey, window: UsageWindow, start: number): string {
  return `${window}${start}|${bucketId(key)}`;
}

/** Where `name` is in `names`, or −1: most buckets have one limit, which needs no search. */
function indexOfName(names: readonly string[], name: string): number {
  return names[0] === name ? 0 : names.indexOf(name);
}

/** Adds to one limit's count of a usage entry. */
function addTokens(entry: UsageEntry, name: string, tokens: number): void {
  const index = indexOfName(entry.names, name);
  if (index < 0) {
    entry.names = withName(entry.names, name);
    entry.counts.push(tokens);
  } else {
    entry.counts[index]! += tokens;
  }
}

/** A usage entry's counts by limit name (own properties, so `constructor` is a name like any other). */
function consumedOf(entry: UsageEntry): Record<string, number> {
  return Object.fromEntries(entry.names.map((name, index) => [name, entry.counts[index]!]));
}

/** When the whole bucket is full again: the latest `tat` of its limits (0 when it has none). */
function latestTat(bucket: MemoryBucket): bigint {
  let latest = 0n;
  for (const tat of bucket.tats) if (tat > latest) latest = tat;
  return latest;
}

/** The `tat` of one limit of a bucket; undefined when never charged (full). */
function tatOf(bucket: MemoryBucket, name: string): bigint | undefined {
  const index = indexOfName(bucket.names, name);
  return index < 0 ? undefined : bucket.tats[index];
}

/**
 * Writes one limit's `tat` (undefined forgets it): in place, as states hold
 * copies; `names` is replaced when a limit comes or goes, as states share it.
 */
function setTat(bucket: MemoryBucket, name: string, tat: bigint | undefined): void {
  const index = indexOfName(bucket.names, name);
  if (tat === undefined) {
    if (index < 0) return;
    bucket.names = bucket.names.filter((_, at) => at !== index);
    bucket.tats.splice(index, 1);
  } else if (index < 0) {
    bucket.names = withName(bucket.names, name);
    bucket.tats.push(tat);
  } else {
    bucket.tats[index] = tat;
  }
}

function stateOf(key: BucketKey, bucket: MemoryBucket | undefined): BucketState {
  return { entity: key.entity, resource: key.resource, tats: tatsOf(bucket) };
}

/** A snapshot of the bucket's `tats`: later writes do not show in it. */
function tatsOf(bucket: MemoryBucket | undefined): ReadonlyMap<string, bigint> {
  if (bucket === undefined || bucket.names.length === 0) return NO_TATS;
  if (bucket.names.length === 1) return new OneTat(bucket.names[0]!, bucket.tats[0]!);
  return new ArrayTats(bucket.names, bucket.tats.slice());
}

/** The answer of a store that holds no entities and no limit sets (shared: callers only read it). */
const NO_CONFIG: LoadedConfig = Object.freeze({ entities: new Map(), limits: new Map() });

const NO_TATS: ReadonlyMap<string, bigint> = new Map();
