import { DEFAULT_RESOURCE } from '../ids.js';
import type { Limit, LimitDefinition } from '../limit.js';

/**
 * The persistence contract. A store persists GCRA state and conditions every
 * write on it; the limiter above decides what to ask for and turns answers
 * into statuses. Shaped so that a database store can answer `charge` with ONE
 * conditional write (per-limit idle/busy forms, old state returned when a
 * condition fails) and `loadConfig` with one batch read.
 *
 * Every method receives an `AbortSignal` carrying the call's deadline. Errors
 * that are not a `TollgateError` are treated by the limiter as "unavailable".
 */
export interface Store {
  /**
   * Atomically checks every charge of every bucket at `nowNs` and, only if all
   * are admissible, applies them all (`tat ← max(tat, now) + cost·T`, and the
   * consumed counter of each limit `+= cost`). Otherwise writes nothing.
   */
  charge(request: ChargeRequest): Promise<ChargeResult>;

  /**
   * Applies debt (`delta > 0`) and refunds (`delta < 0`) that are never
   * refused: `tat ← adjustedTat(tat, now, limit, delta)` and the consumed
   * counter `+= delta`. Used by `Lease.commit` (adjustments) and `rollback`.
   */
  adjust(request: AdjustRequest): Promise<void>;

  /** Reads bucket states without changing them (for `available`). */
  getBuckets(request: GetBucketsRequest): Promise<BucketState[]>;

  /**
   * Reads, in one round trip where the backend allows it, the entity records
   * and limit sets the limiter needs for one acquire. Missing ones are absent
   * from the maps.
   */
  loadConfig(request: LoadConfigRequest): Promise<LoadedConfig>;

  /** Creates an entity; throws `EntityError` `ERR_TOLLGATE_ENTITY_EXISTS` if the id is taken. */
  createEntity(entity: EntityRecord, signal: AbortSignal): Promise<void>;

  /**
   * Applies `changes` to a stored entity in one write and returns the record
   * as stored. Keeps the children index right: the entity is listed by
   * {@link getChildren} of its new parent, and no longer of its old one.
   * Throws `EntityError` `ERR_TOLLGATE_ENTITY_NOT_FOUND` when there is no
   * record with this id. The limiter has checked that a new parent exists and
   * that no cycle forms; the store does not.
   */
  updateEntity(id: string, changes: EntityChanges, signal: AbortSignal): Promise<EntityRecord>;

  /** Direct children of `parent`, following every page. */
  getChildren(parent: string, signal: AbortSignal): Promise<EntityRecord[]>;

  /**
   * Deletes the entity and everything stored under it (its limit sets, buckets
   * and usage). Returns false if there was no entity record.
   */
  deleteEntity(id: string, signal: AbortSignal): Promise<boolean>;

  /**
   * Forgets the GCRA state (every `tat`) of the buckets of `scope.entity`: on
   * `scope.resource`, or on every resource when it is absent. Each such
   * bucket is full again. Keeps everything else: consumed counters and usage,
   * the entity record, limit sets, other entities' buckets. Returns how many
   * buckets held state (a bucket never charged, or already forgotten, is not
   * counted).
   */
  resetBuckets(scope: ResetScope, signal: AbortSignal): Promise<number>;

  /** Replaces the limit set of one scope. */
  putLimits(scope: LimitScope, limits: readonly LimitDefinition[], signal: AbortSignal): Promise<void>;

  /** Removes the limit set of one scope; false if there was none. */
  deleteLimits(scope: LimitScope, signal: AbortSignal): Promise<boolean>;

  /** One page of usage snapshots, oldest first. */
  getUsage(query: UsageQuery, signal: AbortSignal): Promise<UsagePage>;

  /** Per-kind counters of round trips and capacity, for tests and benchmarks. */
  stats?(): StoreStats;

  /** Releases what the store owns (clients it created). */
  close?(): Promise<void>;

  /**
   * True for stores that answer in process without I/O (MemoryStore): the
   * limiter then skips the per-call deadline timer. Errors are still caught.
   */
  readonly inProcess?: boolean;

  /**
   * True when the store calls `recordRoundTrips` for every request it sends
   * to its backend, so `tollgate:store` messages carry `roundTrips`.
   */
  readonly reportsRoundTrips?: boolean;

  /**
   * In-process stores only: {@link charge} answered synchronously, with the
   * same semantics. Read once, when a limiter is built; the limiter then
   * prefers it when the caller passed no signal and nobody observes store
   * calls, so a decision needs no promise hop. A store must leave it
   * undefined while `charge` does something else (a subclass that overrides
   * `charge` to fail, delay or count calls).
   */
  readonly chargeSync?: ((request: SyncChargeRequest) => ChargeResult) | undefined;

  /** In-process stores only: {@link loadConfig} answered synchronously (see {@link chargeSync}). */
  readonly loadConfigSync?: ((request: SyncLoadConfigRequest) => LoadedConfig) | undefined;
}

/** Arguments of {@link Store.chargeSync}: a charge with nothing to abort. */
export type SyncChargeRequest = Omit<ChargeRequest, 'signal'>;

/** Arguments of {@link Store.loadConfigSync}. */
export type SyncLoadConfigRequest = Omit<LoadConfigRequest, 'signal'>;

/** One bucket: all limits of one (entity, resource) live together. */
export interface BucketKey {
  readonly entity: string;
  readonly resource: string;
}

/** GCRA state of one bucket: limit name → `tat` in ns. A missing name has never been used (full). */
export interface BucketState extends BucketKey {
  readonly tats: ReadonlyMap<string, bigint>;
}

/** Tokens to take from one limit; `cost` is a positive integer not above the limit's capacity. */
export interface LimitCharge {
  readonly limit: Limit;
  readonly cost: number;
}

/** The charges for one bucket. */
export interface BucketCharge extends BucketKey {
  readonly charges: readonly LimitCharge[];
}

/** Arguments of {@link Store.charge}. Several buckets (cascade) are all-or-nothing. */
export interface ChargeRequest {
  readonly nowNs: bigint;
  readonly buckets: readonly BucketCharge[];
  readonly signal: AbortSignal;
}

/**
 * The answer to a charge, buckets in request order.
 * - admitted: the state after the charge.
 * - rejected: nothing was written; the state that caused the rejection, holding a
 *   `tat` for at least every limit that was short (so the exact wait can be computed).
 */
export interface ChargeResult {
  readonly admitted: boolean;
  readonly buckets: readonly BucketState[];
  /**
   * The instant the store decided at, when it differs from the request's
   * `nowNs` (a coalesced charge is decided when its write is sent).
   */
  readonly nowNs?: bigint;
}

/** A never-refused change to one limit: positive is debt, negative a refund; a non-zero integer. */
export interface LimitAdjustment {
  readonly limit: Limit;
  readonly delta: number;
}

/** The adjustments for one bucket. */
export interface BucketAdjustment extends BucketKey {
  readonly adjustments: readonly LimitAdjustment[];
}

/** Arguments of {@link Store.adjust}. */
export interface AdjustRequest {
  readonly nowNs: bigint;
  readonly buckets: readonly BucketAdjustment[];
  readonly signal: AbortSignal;
}

/** Arguments of {@link Store.getBuckets}. */
export interface GetBucketsRequest {
  readonly keys: readonly BucketKey[];
  readonly signal: AbortSignal;
}

/**
 * Where a limit set applies. `{ entity, resource }` > `{ entity }` > `{ resource }` > `{}` (system).
 */
export interface LimitScope {
  readonly entity?: string | undefined;
  readonly resource?: string | undefined;
}

/** Arguments of {@link Store.loadConfig}. */
export interface LoadConfigRequest {
  readonly entityIds: readonly string[];
  readonly scopes: readonly LimitScope[];
  readonly signal: AbortSignal;
}

/** Answer of {@link Store.loadConfig}: limit sets keyed by `scopeKey`. */
export interface LoadedConfig {
  readonly entities: ReadonlyMap<string, EntityRecord>;
  readonly limits: ReadonlyMap<string, readonly LimitDefinition[]>;
}

/** A stored entity: an API key, a user, an organisation. */
export interface EntityRecord {
  readonly id: string;
  /** Parent entity id (e.g. the organisation of a key). */
  readonly parent?: string | undefined;
  /** When true, every acquire of this entity also charges its parent's bucket for the same resource. */
  readonly cascade: boolean;
  readonly name?: string | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  /** ISO-8601 creation time. */
  readonly createdAt: string;
}

/**
 * A change to a stored entity: each field present replaces the stored one,
 * an absent field keeps it, and `null` removes an optional one.
 */
export interface EntityChanges {
  /** The new parent (it must exist); `null` makes the entity a root. */
  readonly parent?: string | null | undefined;
  /** The new cascade flag. */
  readonly cascade?: boolean | undefined;
  /** The new name; `null` removes it. */
  readonly name?: string | null | undefined;
  /** The new metadata, replacing the old whole; `null` removes it. */
  readonly metadata?: Readonly<Record<string, unknown>> | null | undefined;
}

/** The buckets {@link Store.resetBuckets} and `RateLimiter.reset` empty: one entity's, on one resource or all. */
export interface ResetScope {
  /** The entity whose buckets are reset. */
  readonly entity: string;
  /** Only this resource's bucket; every bucket of the entity when absent. */
  readonly resource?: string | undefined;
}

/**
 * The record `changes` make of `record` (for stores that keep records whole).
 * `createdAt` and `id` never change.
 */
export function changedEntity(record: EntityRecord, changes: EntityChanges): EntityRecord {
  const { parent, cascade, name, metadata } = changes;
  const next: { -readonly [K in keyof EntityRecord]: EntityRecord[K] } = { ...record };
  if (parent === null) delete next.parent;
  else if (parent !== undefined) next.parent = parent;
  if (cascade !== undefined) next.cascade = cascade;
  if (name === null) delete next.name;
  else if (name !== undefined) next.name = name;
  if (metadata === null) delete next.metadata;
  else if (metadata !== undefined) next.metadata = metadata;
  return next;
}

/** Width of a usage snapshot. */
export type UsageWindow = 'hour' | 'day';

/** Arguments of {@link Store.getUsage}. */
export interface UsageQuery {
  readonly entity: string;
  /** Only this resource; all resources when absent. */
  readonly resource?: string | undefined;
  readonly window: UsageWindow;
  /** Inclusive window start, ms since the epoch. */
  readonly from?: number | undefined;
  /** Exclusive end, ms since the epoch. */
  readonly to?: number | undefined;
  /** Page size. */
  readonly pageSize?: number | undefined;
  /** Opaque cursor from the previous page. */
  readonly cursor?: string | undefined;
}

/** Tokens consumed by one entity on one resource in one window, per limit. */
export interface UsageSnapshot {
  readonly entity: string;
  readonly resource: string;
  readonly window: UsageWindow;
  /** Window start, ms since the epoch (UTC hour or day boundary). */
  readonly start: number;
  /** Net tokens consumed per limit name (charges + debt − refunds). */
  readonly consumed: Readonly<Record<string, number>>;
}

/** One page of usage. */
export interface UsagePage {
  readonly snapshots: UsageSnapshot[];
  readonly cursor?: string | undefined;
}

/** Counters for one kind of store call. */
export interface StoreCallStats {
  /** Store method invocations. */
  calls: number;
  /** Requests sent to the backend (0 for in-process stores). */
  roundTrips: number;
  readCapacityUnits: number;
  writeCapacityUnits: number;
}

/** Counters by kind of call (`charge`, `adjust`, `loadConfig`, ...). */
export type StoreStats = Record<string, StoreCallStats>;

/**
 * A collision-free string key for a scope: each part length-prefixed
 * (`3:abc`), `-` for an absent part.
 */
export function scopeKey(scope: LimitScope): string {
  const { entity, resource } = scope;
  return `${entity === undefined ? '-' : `${entity.length}:${entity}`}|${resource === undefined ? '-' : `${resource.length}:${resource}`}`;
}

/** A collision-free string key for a bucket (the entity is length-prefixed). */
export function bucketId(key: BucketKey): string {
  return `${key.entity.length}:${key.entity}${key.resource}`;
}

/**
 * A collision-free map key for a bucket that builds no string for the
 * default resource: the entity id itself (a string the caller already holds,
 * hashed once), else a NUL-led {@link bucketId}. An entity id that starts
 * with NUL takes the long form too, so keys never collide.
 */
export function compactBucketId(entity: string, resource: string): string {
  return resource === DEFAULT_RESOURCE && entity.charCodeAt(0) !== 0
    ? entity
    : `\u0000${bucketId({ entity, resource })}`;
}
