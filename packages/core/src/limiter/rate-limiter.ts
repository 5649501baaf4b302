import { LRUCache } from 'lru-cache';
import { storeCallsObserved, traceDecision } from '../diagnostics.js';
import {
  describeValue,
  EntityError,
  isRateLimiterUnavailable,
  RateLimitExceeded,
  ValidationError,
} from '../errors.js';
import { validateId } from '../ids.js';
import { assertUniqueLimitNames, Limit } from '../limit.js';
import { availableTokens, waitNs } from '../math/gcra.js';
import { msToNs, nsToMsCeil } from '../math/time.js';
import {
  type BucketAdjustment,
  type BucketCharge,
  type BucketState,
  bucketId,
  type ChargeResult,
  type EntityRecord,
  type LimitScope,
  type Store,
  type UsageQuery,
  type UsageSnapshot,
} from '../store/store.js';
import { ConfigCache, type ConfigView } from './config-cache.js';
import { DenyCache } from './deny-cache.js';
import { Lease } from './lease.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import {
  chargesFor,
  defaultCharges,
  limitsFor,
  MAX_CASCADE_DEPTH,
  type PlannedBucket,
  scopesOf,
  validateOverride,
  validateTarget,
} from './plan.js';
import { sleep } from './sleep.js';
import { allAdmissible, rejectionWaitNs, statusesOf } from './statuses.js';
import { asStoreFailure, callStore, NEVER_ABORTED } from './store-call.js';
import type {
  AcquireOptions,
  AcquireRequest,
  BucketQuery,
  Consumption,
  Decision,
  LimitStatus,
  RateLimiterOptions,
  WaitOptions,
} from './types.js';
import { noteLimiterConstructed } from './warnings.js';

/** Input of {@link RateLimiter.createEntity}. */
export interface CreateEntityInput {
  id: string;
  /** Parent entity (e.g. the organisation of an API key); it must exist. */
  parent?: string;
  /** Charge the parent (and its cascading ancestors) on every acquire of this entity. Default false. */
  cascade?: boolean;
  name?: string;
  metadata?: Record<string, unknown>;
}

/** Input of {@link RateLimiter.getUsage}. */
export interface UsageRequest {
  entity: string;
  resource?: string;
  window: 'hour' | 'day';
  /** Inclusive start, ms since the epoch or a Date. */
  from?: number | Date;
  /** Exclusive end, ms since the epoch or a Date. */
  to?: number | Date;
}

/**
 * Decides whether an entity may spend tokens now, for every limit that applies
 * to it (and to its ancestors, with cascade), atomically.
 *
 * @example
 * const limiter = new RateLimiter({
 *   store: new MemoryStore(),
 *   limits: [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000, { burst: 20_000 })],
 * });
 * const lease = await limiter.acquire({ entity: 'key-123', resource: 'gpt-4o', consume: { rpm: 1, tpm: 500 } });
 * await lease.adjust({ tpm: 242 });
 * await lease.commit();
 */
export class RateLimiter {
  private readonly options: ResolvedOptions;
  private readonly config: ConfigCache;
  private readonly denied: DenyCache | undefined;
  /**
   * Resolved buckets and limits per (entity, resource): the hot path skips
   * config lookups. Each plan expires when the oldest config entry it was
   * built from does, so no process enforces config older than the TTL.
   */
  private readonly plans: LRUCache<string, CachedPlan> | undefined;
  /** The latest `now` used (ns and ms): the limiter's time never goes backwards. */
  private lastNowNs = 0n;
  private lastNowMs = Number.NEGATIVE_INFINITY;
  private configGeneration = 0;
  /** Lease writes and late refunds under way, awaited by `close()` so a shutdown loses no refund. */
  private readonly settling = new Set<Promise<unknown>>();
  private unavailableWarned = false;

  constructor(options: RateLimiterOptions) {
    this.options = resolveOptions(options);
    const { clock, configCacheTtlMs, configCacheMaxEntries } = this.options;
    // A plan is built from up to four config entries (entity record, entity scopes, shared scopes).
    this.config = new ConfigCache(configCacheTtlMs, configCacheMaxEntries * CONFIG_ENTRIES_PER_PLAN, clock);
    this.denied = this.options.denyCache ? new DenyCache(this.options.denyCacheMaxEntries) : undefined;
    // No lru-cache TTL here: expiry is checked against the `now` each decision reads anyway.
    this.plans = configCacheTtlMs > 0 ? new LRUCache({ max: configCacheMaxEntries }) : undefined;
    noteLimiterConstructed(this.options.logger);
  }

  /** The store this limiter reads and writes. */
  get store(): Store {
    return this.options.store;
  }

  /** The limits used when no stored limit set applies. */
  get defaultLimits(): readonly Limit[] {
    return this.options.limits;
  }

  /** `'block'` or `'allow'`: what happens while the store is unavailable. */
  get onUnavailable(): 'block' | 'allow' {
    return this.options.onUnavailable;
  }

  /**
   * Takes `consume` from every limit that applies, or nothing if any is short.
   * Throws `RateLimitExceeded` when limited (or waits, with `wait`),
   * `ValidationError` for unusable input, `RateLimiterUnavailable` when the
   * store fails under `onUnavailable: 'block'`.
   */
  async acquire(options: AcquireOptions): Promise<Lease> {
    if (options.wait !== undefined) return this.acquireWaiting(options, options.wait);
    const decision = await this.tryAcquire(options);
    if (decision.allowed) return decision.lease;
    throw decision.error;
  }

  /** Like {@link acquire}, but answers a limit with `{ allowed: false, retryAfterMs }` instead of throwing. */
  tryAcquire(request: AcquireRequest): Promise<Decision> {
    return traceDecision(request, () => this.decide(request));
  }

  private async decide(request: AcquireRequest): Promise<Decision> {
    const { entity, signal } = request;
    const resource = validateTarget(entity, request.resource);
    const override = validateOverride(request.limits);
    validateSignal(signal, 'signal');
    let nowNs = this.nowNs();
    let buckets = override === undefined ? this.cachedPlan(entity, resource) : undefined;
    if (buckets === undefined) {
      try {
        buckets = await this.plan(entity, resource, override, signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        return this.degradeOrThrow(error, entity, resource);
      }
      nowNs = this.nowNs(); // planning awaited the store: decide at the time of the charge
    }
    const charges =
      request.consume === undefined ? defaultCharges(buckets) : chargesFor(buckets, request.consume);

    const remembered = this.denied?.lookup(charges, nowNs);
    if (remembered && !allAdmissible(charges, remembered, nowNs)) {
      return this.rejection(buckets, charges, remembered, nowNs);
    }

    let result: ChargeResult;
    try {
      const { store } = this.options;
      if (!charges.some((bucket) => bucket.charges.length > 0)) {
        result = { admitted: true, buckets: await this.readBuckets(charges, signal) };
      } else if (store.inProcess === true && signal === undefined && !storeCallsObserved()) {
        // No I/O to time out: skip the deadline timer on the hot path (errors are still mapped).
        result = await store.charge({ nowNs, buckets: charges, signal: NEVER_ABORTED });
      } else {
        result = await this.call(
          'charge',
          (storeSignal) => store.charge({ nowNs, buckets: charges, signal: storeSignal }),
          signal,
          // The caller got an error (deadline or abort), so a charge that lands after it is refunded.
          (running) => this.refundIfAdmitted(running, charges),
        );
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return this.degradeOrThrow(asStoreFailure('charge', error), entity, resource);
    }
    this.unavailableWarned = false;
    // A store that batches concurrent calls decides at the instant its write is sent.
    const decidedNs = result.nowNs ?? nowNs;
    if (!result.admitted) return this.rejection(buckets, charges, result.buckets, decidedNs);
    this.denied?.forget(charges);
    return new AdmittedDecision(
      new Lease({ entity, resource, buckets, charges, settler: this, degraded: false }),
      buckets,
      charges,
      result.buckets,
      decidedNs,
    );
  }

  /**
   * Acquires, runs `work`, then commits (on success) or rolls back (on throw).
   *
   * @example
   * const answer = await limiter.withLease({ entity, consume: { rpm: 1 } }, async (lease) => callModel());
   */
  async withLease<T>(options: AcquireOptions, work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = await this.acquire(options);
    let result: T;
    try {
      result = await work(lease);
    } catch (error) {
      if (!lease.isClosed) await lease.rollback();
      throw error;
    }
    await lease.release();
    return result;
  }

  /** Whole tokens available now per limit name (the smallest along the cascade chain). */
  async available(query: BucketQuery): Promise<Record<string, number>> {
    const resource = validateTarget(query.entity, query.resource);
    const buckets = await this.plan(query.entity, resource, validateOverride(query.limits));
    const nowNs = this.nowNs();
    const states = await this.readBuckets(buckets);
    // Keyed by limit name: null prototype, so `constructor` is just another name.
    const result: Record<string, number> = Object.create(null);
    buckets.forEach((bucket, index) => {
      for (const limit of bucket.limits) {
        const tokens = availableTokens(states[index]?.tats.get(limit.name), nowNs, limit);
        result[limit.name] = Object.hasOwn(result, limit.name)
          ? Math.min(result[limit.name] ?? tokens, tokens)
          : tokens;
      }
    });
    return result;
  }

  /** Milliseconds until `consume` would be admitted (0 if now), from the store's current state. */
  async timeUntilAvailable(query: BucketQuery & { consume?: Consumption }): Promise<number> {
    const resource = validateTarget(query.entity, query.resource);
    const buckets = await this.plan(query.entity, resource, validateOverride(query.limits));
    const charges = chargesFor(buckets, query.consume);
    const nowNs = this.nowNs();
    const states = await this.readBuckets(charges);
    let longest = 0n;
    charges.forEach((bucket, index) => {
      for (const { limit, cost } of bucket.charges) {
        const wait = waitNs(states[index]?.tats.get(limit.name), nowNs, limit, cost);
        if (wait > longest) longest = wait;
      }
    });
    return nsToMsCeil(longest);
  }

  /** Creates an entity. Its parent must exist; ids are unique. */
  async createEntity(input: CreateEntityInput): Promise<EntityRecord> {
    if (typeof input !== 'object' || input === null) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected an entity object, got ${describeValue(input)}`,
      );
    }
    validateId(input.id, 'id');
    if (input.parent !== undefined) {
      validateId(input.parent, 'parent');
      if (input.parent === input.id) {
        throw new EntityError(
          'ERR_TOLLGATE_ENTITY_CYCLE',
          input.id,
          `Entity \`${input.id}\` cannot be its own parent`,
        );
      }
      if (!(await this.getEntity(input.parent))) {
        throw new EntityError(
          'ERR_TOLLGATE_ENTITY_NOT_FOUND',
          input.parent,
          `Parent entity \`${input.parent}\` does not exist`,
        );
      }
    }
    if (input.cascade !== undefined && typeof input.cascade !== 'boolean') {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`cascade\` to be a boolean, got ${describeValue(input.cascade)}`,
        'cascade',
      );
    }
    if (
      input.metadata !== undefined &&
      (typeof input.metadata !== 'object' || input.metadata === null || Array.isArray(input.metadata))
    ) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`metadata\` to be an object, got ${describeValue(input.metadata)}`,
        'metadata',
      );
    }
    const record: EntityRecord = {
      id: input.id,
      cascade: input.cascade ?? false,
      createdAt: new Date(this.options.clock()).toISOString(),
      ...(input.parent === undefined ? {} : { parent: input.parent }),
      ...(input.name === undefined ? {} : { name: String(input.name) }),
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
    };
    await this.call('createEntity', (signal) => this.options.store.createEntity(record, signal));
    this.config.invalidateEntity(record.id);
    this.configChanged();
    return record;
  }

  /** The stored entity, or null. Always read from the store. */
  async getEntity(id: string): Promise<EntityRecord | null> {
    validateId(id, 'id');
    const loaded = await this.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [id], scopes: [], signal }),
    );
    return loaded.entities.get(id) ?? null;
  }

  /** Direct children of an entity. */
  async getChildren(id: string): Promise<EntityRecord[]> {
    validateId(id, 'id');
    return this.call('getChildren', (signal) => this.options.store.getChildren(id, signal));
  }

  /**
   * Deletes an entity with its limit sets, buckets and usage. Refuses while it
   * has children. Returns false if it did not exist.
   */
  async deleteEntity(id: string): Promise<boolean> {
    validateId(id, 'id');
    const children = await this.getChildren(id);
    if (children.length > 0) {
      throw new EntityError(
        'ERR_TOLLGATE_ENTITY_HAS_CHILDREN',
        id,
        `Entity \`${id}\` has ${children.length} child entities; delete or re-parent them first`,
      );
    }
    const existed = await this.call('deleteEntity', (signal) => this.options.store.deleteEntity(id, signal));
    this.config.invalidateEntity(id);
    this.config.invalidateEntityLimits(id);
    this.denied?.clear();
    this.configChanged();
    return existed;
  }

  /**
   * Stores the limit set of a scope: `{ entity, resource }`, `{ entity }`,
   * `{ resource }` or `{}` (system). Takes effect on this limiter at once and
   * on others when their config cache expires.
   */
  async setLimits(scope: LimitScope, limits: readonly Limit[]): Promise<void> {
    const checked = validateScope(scope);
    if (!Array.isArray(limits) || limits.length === 0) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_LIMIT',
        `Expected a non-empty array of Limit (use deleteLimits to remove a set), got ${describeValue(limits)}`,
        'limits',
      );
    }
    assertUniqueLimitNames(limits);
    await this.call('putLimits', (signal) =>
      this.options.store.putLimits(
        checked,
        limits.map((limit) => limit.toJSON()),
        signal,
      ),
    );
    this.config.invalidateLimits(checked);
    this.configChanged();
  }

  /** The limit set stored at exactly this scope (empty if none). Always read from the store. */
  async getLimits(scope: LimitScope): Promise<Limit[]> {
    const checked = validateScope(scope);
    const loaded = await this.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [], scopes: [checked], signal }),
    );
    const [definitions] = [...loaded.limits.values()];
    return (definitions ?? []).map((definition) => Limit.fromDefinition(definition));
  }

  /** Removes the limit set of a scope; false if there was none. */
  async deleteLimits(scope: LimitScope): Promise<boolean> {
    const checked = validateScope(scope);
    const existed = await this.call('deleteLimits', (signal) =>
      this.options.store.deleteLimits(checked, signal),
    );
    this.config.invalidateLimits(checked);
    this.configChanged();
    return existed;
  }

  /** Usage snapshots (hourly or daily), oldest first, following every page. */
  async getUsage(request: UsageRequest): Promise<UsageSnapshot[]> {
    const snapshots: UsageSnapshot[] = [];
    for await (const page of this.usagePages(request)) snapshots.push(...page);
    return snapshots;
  }

  /** Usage snapshots page by page, for large ranges. */
  async *usagePages(request: UsageRequest): AsyncGenerator<UsageSnapshot[]> {
    validateId(request.entity, 'entity');
    if (request.resource !== undefined) validateId(request.resource, 'resource');
    if (request.window !== 'hour' && request.window !== 'day') {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`window\` to be 'hour' or 'day', got ${describeValue(request.window)}`,
        'window',
      );
    }
    let cursor: string | undefined;
    do {
      const query: UsageQuery = {
        entity: request.entity,
        resource: request.resource,
        window: request.window,
        from: toMs(request.from, 'from'),
        to: toMs(request.to, 'to'),
        cursor,
      };
      const page = await this.call('getUsage', (signal) => this.options.store.getUsage(query, signal));
      yield page.snapshots;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /**
   * Waits for lease commits and refunds under way, then releases the store's
   * resources. Call it on shutdown so no refund is lost.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.settling]);
    await this.options.store.close?.();
  }

  /** @internal Writes a lease's adjustments (used by `Lease`). */
  settle(adjustments: BucketAdjustment[]): Promise<void> {
    const nowNs = this.nowNs();
    const write = this.call('adjust', (signal) =>
      this.options.store.adjust({ nowNs, buckets: adjustments, signal }),
    ).finally(() => {
      this.denied?.forget(adjustments);
      this.settling.delete(write);
    });
    this.settling.add(write);
    return write;
  }

  /**
   * Refunds a charge still on the wire when its caller was answered with an
   * error (deadline or abort), if it lands admitted. `close()` waits for it.
   */
  private refundIfAdmitted(running: Promise<ChargeResult>, charges: readonly BucketCharge[]): void {
    const refund = running.then(
      (late) => {
        if (!late.admitted) return undefined;
        const refunds = charges.map(({ entity, resource, charges: taken }) => ({
          entity,
          resource,
          adjustments: taken.map(({ limit, cost }) => ({ limit, delta: -cost })),
        }));
        return this.settle(refunds).catch((error: unknown) => {
          this.options.logger.warn(
            `WARN_TOLLGATE_SETTLE_FAILED: could not refund a charge that landed after its caller gave up: ${error instanceof Error ? error.message : String(error)}`,
            {
              code: 'WARN_TOLLGATE_SETTLE_FAILED',
              entity: charges[0]?.entity,
              resource: charges[0]?.resource,
            },
          );
        });
      },
      () => undefined,
    );
    this.settling.add(refund);
    void refund.finally(() => this.settling.delete(refund));
  }

  private async acquireWaiting(request: AcquireRequest, wait: WaitOptions): Promise<Lease> {
    validateWait(wait);
    const startedAt = this.options.clock();
    // The wait's signal also reaches each store call: an abort mid-charge refunds it.
    const attempt: AcquireRequest = wait.signal === undefined ? request : { ...request, signal: wait.signal };
    for (;;) {
      wait.signal?.throwIfAborted();
      const decision = await this.tryAcquire(attempt);
      if (decision.allowed) return decision.lease;
      const waited = this.options.clock() - startedAt;
      if (waited + decision.retryAfterMs > wait.maxMs) throw decision.error;
      await sleep(decision.retryAfterMs, wait.signal);
    }
  }

  /** The cached plan of (entity, resource), if any: the hot path needs no await for it. */
  private cachedPlan(entity: string, resource: string): PlannedBucket[] | undefined {
    const cached = this.plans?.get(bucketId({ entity, resource }));
    return cached !== undefined && cached.expiresAt > this.lastNowMs ? cached.buckets : undefined;
  }

  /** The buckets an acquire touches, from the plan cache when possible. */
  private async plan(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    signal?: AbortSignal,
  ): Promise<PlannedBucket[]> {
    if (override !== undefined || this.plans === undefined)
      return (await this.resolvePlan(entity, resource, override, signal)).buckets;
    const key = bucketId({ entity, resource });
    this.nowNs();
    const cached = this.cachedPlan(entity, resource);
    if (cached) return cached;
    const generation = this.configGeneration;
    const planned = await this.resolvePlan(entity, resource, undefined, signal);
    // A plan lives no longer than the oldest config entry it was built from.
    const expiresAt = planned.loadedAt + this.options.configCacheTtlMs;
    if (generation === this.configGeneration && expiresAt > this.options.clock()) {
      this.plans.set(key, { buckets: planned.buckets, expiresAt });
    }
    return planned.buckets;
  }

  /** Config of this limiter changed: cached plans may be stale. */
  private configChanged(): void {
    this.configGeneration += 1;
    this.plans?.clear();
  }

  /** The buckets an acquire touches: the entity's, then each cascading ancestor's. */
  private async resolvePlan(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    signal?: AbortSignal,
  ): Promise<{ buckets: PlannedBucket[]; loadedAt: number }> {
    const buckets: PlannedBucket[] = [];
    let loadedAt = Number.POSITIVE_INFINITY;
    const seen = new Set<string>();
    let current: string | undefined = entity;
    for (let depth = 0; current !== undefined; depth += 1) {
      seen.add(current);
      const own = depth === 0;
      // Ancestors are charged only for limits stored on them: a default or
      // resource-wide limit meant for one key must not cap a whole organisation.
      const scopes = own
        ? override
          ? []
          : scopesOf(current, resource)
        : scopesOf(current, resource).slice(0, 2);
      const view: ConfigView = await this.config.view([current], scopes, (ids, missing) =>
        this.call(
          'loadConfig',
          (storeSignal) =>
            this.options.store.loadConfig({ entityIds: ids, scopes: missing, signal: storeSignal }),
          signal,
        ),
      );
      loadedAt = Math.min(loadedAt, view.loadedAt);
      const limits = own
        ? (override ?? limitsFor(view, current, resource, this.options.limits))
        : limitsFor(
            {
              entity: view.entity,
              limits: (s) => (s.entity === undefined ? null : view.limits(s)),
              loadedAt: view.loadedAt,
            },
            current,
            resource,
            [],
          );
      if (own && limits.length === 0) {
        throw new ValidationError(
          'ERR_TOLLGATE_NO_LIMITS',
          `No limits apply to entity \`${entity}\` on resource \`${resource}\`: pass \`limits\` to RateLimiter or store some with setLimits()`,
          'limits',
        );
      }
      if (limits.length > 0) buckets.push({ entity: current, resource, depth, limits });
      const record = view.entity(current);
      const parent: string | undefined = record?.cascade ? record.parent : undefined;
      current =
        parent !== undefined && !seen.has(parent) && depth + 1 < MAX_CASCADE_DEPTH ? parent : undefined;
    }
    return { buckets, loadedAt };
  }

  private rejection(
    buckets: readonly PlannedBucket[],
    charges: readonly BucketCharge[],
    states: readonly BucketState[],
    nowNs: bigint,
  ): Decision {
    const waitNsValue = rejectionWaitNs(charges, states, nowNs);
    this.denied?.remember(
      states.map((state, index) => ({
        ...state,
        entity: charges[index]!.entity,
        resource: charges[index]!.resource,
      })),
      nowNs + waitNsValue,
    );
    const statuses = statusesOf(buckets, charges, states, nowNs, false);
    const retryAfterMs = Math.max(1, nsToMsCeil(waitNsValue));
    const error = new RateLimitExceeded(statuses, retryAfterMs);
    return { allowed: false, retryAfterMs, statuses, error, degraded: false };
  }

  private degradeOrThrow(error: unknown, entity: string, resource: string): Decision {
    if (!isRateLimiterUnavailable(error) || this.options.onUnavailable === 'block') throw error;
    if (!this.unavailableWarned) {
      this.unavailableWarned = true;
      this.options.logger.warn(
        'WARN_TOLLGATE_DEGRADED: the rate limit store is unavailable; admitting requests without limits (onUnavailable: allow)',
        { code: 'WARN_TOLLGATE_DEGRADED', cause: error.message },
      );
    }
    return {
      allowed: true,
      degraded: true,
      statuses: [],
      lease: new Lease({ entity, resource, buckets: [], charges: [], settler: this, degraded: true }),
    };
  }

  private readBuckets(
    keys: readonly { entity: string; resource: string }[],
    signal?: AbortSignal,
  ): Promise<BucketState[]> {
    return this.call(
      'getBuckets',
      (storeSignal) =>
        this.options.store.getBuckets({
          keys: keys.map(({ entity, resource }) => ({ entity, resource })),
          signal: storeSignal,
        }),
      signal,
    );
  }

  private call<T>(
    operation: string,
    run: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    onAbandoned?: (running: Promise<T>) => void,
  ): Promise<T> {
    return callStore(operation, this.options.timeoutMs, run, this.options.store.inProcess === true, {
      signal,
      onAbandoned,
    });
  }

  /**
   * The clock in ns, never behind a reading this limiter already used: a clock
   * stepped back then forward again would otherwise credit the same refill twice.
   */
  private nowNs(): bigint {
    const nowMs = this.options.clock();
    if (nowMs > this.lastNowMs) {
      this.lastNowMs = nowMs;
      this.lastNowNs = msToNs(nowMs);
    }
    return this.lastNowNs;
  }
}

/** Config cache entries per plan: the entity record, its two own scopes, and a share of the shared ones. */
const CONFIG_ENTRIES_PER_PLAN = 4;

/** A resolved plan and the clock reading at which the oldest config behind it is too old. */
interface CachedPlan {
  readonly buckets: PlannedBucket[];
  readonly expiresAt: number;
}

function validateScope(scope: unknown): LimitScope {
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected a scope like { entity?, resource? }, got ${describeValue(scope)}`,
      'scope',
    );
  }
  const { entity, resource } = scope as LimitScope;
  if (entity !== undefined) validateId(entity, 'entity');
  if (resource !== undefined) validateId(resource, 'resource');
  return { ...(entity === undefined ? {} : { entity }), ...(resource === undefined ? {} : { resource }) };
}

function validateSignal(signal: unknown, field: string): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`${field}\` to be an AbortSignal, got ${describeValue(signal)}`,
      field,
    );
  }
}

function validateWait(wait: WaitOptions): void {
  if (
    typeof wait !== 'object' ||
    wait === null ||
    typeof wait.maxMs !== 'number' ||
    !(wait.maxMs >= 0) ||
    !Number.isFinite(wait.maxMs)
  ) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`wait.maxMs\` to be a non-negative number, got ${describeValue((wait as WaitOptions | null)?.maxMs)}`,
      'wait.maxMs',
    );
  }
  validateSignal(wait.signal, 'wait.signal');
}

function toMs(value: number | Date | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`${field}\` to be a Date or ms since the epoch, got ${describeValue(value)}`,
      field,
    );
  }
  return ms;
}

/**
 * An admitted decision. Statuses cost BigInt math per limit and most library
 * callers never read them, so they are computed on first access (a class, so
 * the getter lives on the prototype and the hot path allocates one object).
 */
class AdmittedDecision {
  readonly allowed = true;
  readonly degraded = false;
  private computed: readonly LimitStatus[] | undefined;

  constructor(
    readonly lease: Lease,
    private readonly buckets: readonly PlannedBucket[],
    private readonly charges: readonly BucketCharge[],
    private readonly states: readonly BucketState[],
    private readonly nowNs: bigint,
  ) {}

  get statuses(): readonly LimitStatus[] {
    this.computed ??= statusesOf(this.buckets, this.charges, this.states, this.nowNs, true);
    return this.computed;
  }
}
