import { decisionsObserved, storeCallsObserved, traceDecision, traceStoreCallSync } from '../diagnostics.js';
import { isRateLimiterUnavailable } from '../errors.js';
import { entityIdOf, hashedEntityId, MAX_ID_LENGTH } from '../ids.js';
import type { Limit } from '../limit.js';
import { availableTokens, waitNs } from '../math/gcra.js';
import { nsToMsCeil } from '../math/time.js';
import type {
  BucketAdjustment,
  BucketCharge,
  BucketState,
  ChargeResult,
  EntityRecord,
  LimitScope,
  LoadedConfig,
  ResetScope,
  Store,
  SyncChargeRequest,
  SyncLoadConfigRequest,
  UsageSnapshot,
} from '../store/store.js';
import type { Consumption } from '../types.js';
import { Administration } from './administration.js';
import { MonotonicClock } from './clock.js';
import { AdmittedDecision, type Decision, degradedDecision, rejectedDecision } from './decision.js';
import { DenyCache } from './deny-cache.js';
import { Lease } from './lease.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { chargesFor, defaultCharges, type PlannedBucket } from './plan.js';
import { Planner } from './planner.js';
import { sleep } from './sleep.js';
import { allAdmissible, rejectionWaitNs } from './statuses.js';
import { asStoreFailure, callStore, NEVER_ABORTED } from './store-call.js';
import type {
  AcquireOptions,
  AcquireRequest,
  BucketQuery,
  CreateEntityInput,
  RateLimiterOptions,
  UpdateEntityInput,
  UsageRequest,
  WaitOptions,
} from './types.js';
import {
  validateOverride,
  validateRequest,
  validateSignal,
  validateTarget,
  validateWait,
} from './validation.js';
import { noteLimiterConstructed } from './warnings.js';

/** True when some bucket has something to take (a `consume` of all zeros takes nothing). */
function hasCharges(charges: readonly BucketCharge[]): boolean {
  for (const bucket of charges) if (bucket.charges.length > 0) return true;
  return false;
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
  /** The limiter's time: never goes backwards. */
  private readonly time: MonotonicClock;
  /** Which buckets and limits an acquire touches, with the config and plan caches behind it. */
  private readonly planner: Planner;
  private readonly admin: Administration;
  private readonly denied: DenyCache | undefined;
  /** The store, when it answers charges and config reads synchronously in process (MemoryStore). */
  /** The store's synchronous charge, when it is in process and has one (MemoryStore). */
  private readonly chargeNow: ((request: SyncChargeRequest) => ChargeResult) | undefined;
  /** Lease writes and late refunds under way, awaited by `close()` so a shutdown loses no refund. */
  private readonly settling = new Set<Promise<unknown>>();
  private unavailableWarned = false;

  constructor(options: RateLimiterOptions) {
    this.options = resolveOptions(options);
    const { clock, configCacheTtlMs, configCacheMaxEntries, store } = this.options;
    this.time = new MonotonicClock(clock);
    this.denied = this.options.denyCache ? new DenyCache(this.options.denyCacheMaxEntries) : undefined;
    // Read once: a store offers its synchronous calls only while they stand for its async ones.
    const { chargeSync, loadConfigSync } = store;
    const synchronous = store.inProcess === true && chargeSync !== undefined && loadConfigSync !== undefined;
    this.chargeNow = synchronous ? (request) => chargeSync.call(store, request) : undefined;
    const loadConfigNow = synchronous
      ? (request: SyncLoadConfigRequest) => loadConfigSync.call(store, request)
      : undefined;
    this.planner = new Planner({
      defaults: this.options.limits,
      ttlMs: configCacheTtlMs,
      maxPlans: configCacheMaxEntries,
      clock,
      time: this.time,
      load: (entityIds, scopes, signal) =>
        this.call(
          'loadConfig',
          (storeSignal) => store.loadConfig({ entityIds, scopes, signal: storeSignal }),
          signal,
        ),
      loadSync:
        loadConfigNow === undefined ? undefined : (request) => this.readConfigNow(loadConfigNow, request),
      hasStoredConfig: this.options.hasStoredConfig,
    });
    this.admin = new Administration({
      store,
      call: (operation, run) => this.call(operation, run),
      clock,
      planner: this.planner,
      forgetDenials: () => this.denied?.clear(),
      forgetEntityDenials: (scope) => this.denied?.forgetEntity(scope),
      longKeys: this.options.longKeys,
    });
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
    validateRequest(options);
    if (options.wait !== undefined) return this.acquireWaiting(options, options.wait);
    const decision = await this.tryAcquire(options);
    if (decision.allowed) return decision.lease;
    throw decision.error;
  }

  /** Like {@link acquire}, but answers a limit with `{ allowed: false, retryAfterMs }` instead of throwing. */
  tryAcquire(request: AcquireRequest): Promise<Decision> {
    // A long key is replaced before anything sees it, tracing included.
    const keyed = this.withHashedKey(request);
    if (decisionsObserved()) return traceDecision(keyed, async () => this.decide(keyed));
    // No closure, timing or async frame on the hot path unless someone listens.
    try {
      const decided = this.decide(keyed);
      return decided instanceof Promise ? decided : Promise.resolve(decided);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Decides a request whose long key is already replaced: on an in-process
   * store's synchronous calls when it has them, unless there is a signal to
   * honour or store calls are being traced. Throws what `tryAcquire` rejects with.
   */
  private decide(request: AcquireRequest): Decision | Promise<Decision> {
    validateRequest(request);
    const { chargeNow } = this;
    if (chargeNow === undefined || request.signal !== undefined || storeCallsObserved()) {
      return this.decideAwaiting(request);
    }
    return this.decideInProcess(request, chargeNow);
  }

  /** A decision over the store's async calls, under the deadline and the caller's signal. */
  private async decideAwaiting(request: AcquireRequest): Promise<Decision> {
    const { entity, signal } = request;
    const resource = validateTarget(entity, request.resource);
    const override = validateOverride(request.limits);
    validateSignal(signal, 'signal');
    // Read before the plan cache, whose entries expire against this reading.
    let nowNs = this.time.nowNs();
    let buckets = override === undefined ? this.planner.cached(entity, resource) : undefined;
    if (buckets === undefined) {
      try {
        buckets = await this.planner.plan(entity, resource, override, signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        return this.degradeOrThrow(error, entity, resource);
      }
      nowNs = this.time.nowNs(); // planning awaited the store: decide at the time of the charge
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
      if (!hasCharges(charges)) {
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
    return this.concluded(result, buckets, charges, nowNs, entity, resource);
  }

  /**
   * @internal For the HTTP adapters: {@link tryAcquire}, except that a decision
   * an in-process store answers at once comes back as a plain value, so a
   * request pays no promise hop. Throws what `tryAcquire` would reject with.
   */
  decideNow(request: AcquireRequest): Decision | Promise<Decision> {
    if (decisionsObserved()) return this.tryAcquire(request);
    return this.decide(this.withHashedKey(request));
  }

  /**
   * A decision on an in-process store's synchronous calls: no await, and one
   * clock read (it costs more than the rest of the decision). The caller
   * passed no signal and nobody traces store calls.
   */
  private decideInProcess(
    request: AcquireRequest,
    chargeNow: (request: SyncChargeRequest) => ChargeResult,
  ): Decision | Promise<Decision> {
    const { entity } = request;
    const resource = validateTarget(entity, request.resource);
    const override = validateOverride(request.limits);
    const nowNs = this.time.nowNs();
    let buckets: PlannedBucket[];
    try {
      buckets = this.planner.planSync(entity, resource, override);
    } catch (error) {
      return this.degradeOrThrow(error, entity, resource);
    }
    const charges =
      request.consume === undefined ? defaultCharges(buckets) : chargesFor(buckets, request.consume);
    // Nothing to take is answered from a read, which has no synchronous form.
    if (!hasCharges(charges)) return this.decideAwaiting(request);
    const remembered = this.denied?.lookup(charges, nowNs);
    if (remembered && !allAdmissible(charges, remembered, nowNs)) {
      return this.rejection(buckets, charges, remembered, nowNs);
    }
    let result: ChargeResult;
    try {
      result = chargeNow({ nowNs, buckets: charges });
    } catch (error) {
      return this.degradeOrThrow(asStoreFailure('charge', error), entity, resource);
    }
    return this.concluded(result, buckets, charges, nowNs, entity, resource);
  }

  /** The decision a store's answer makes: a rejection with its wait, or a lease on what was taken. */
  private concluded(
    result: ChargeResult,
    buckets: readonly PlannedBucket[],
    charges: readonly BucketCharge[],
    nowNs: bigint,
    entity: string,
    resource: string,
  ): Decision {
    this.unavailableWarned = false;
    // A store that batches concurrent calls decides at the instant its write is sent.
    const decidedNs = result.nowNs ?? nowNs;
    if (!result.admitted) return this.rejection(buckets, charges, result.buckets, decidedNs);
    this.denied?.forget(charges);
    return new AdmittedDecision(entity, resource, this, buckets, charges, result, decidedNs);
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
    validateRequest(query);
    const entity = this.entityId(query.entity);
    const resource = validateTarget(entity, query.resource);
    const buckets = await this.planner.plan(entity, resource, validateOverride(query.limits));
    const nowNs = this.time.nowNs();
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
    validateRequest(query);
    const entity = this.entityId(query.entity);
    const resource = validateTarget(entity, query.resource);
    const buckets = await this.planner.plan(entity, resource, validateOverride(query.limits));
    const charges = chargesFor(buckets, query.consume);
    const nowNs = this.time.nowNs();
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

  /**
   * Starts a key over: forgets the state of its buckets, on `resource` or on
   * every resource when it is absent, so every limit of the key is full
   * again. Its stored limits, entity record and usage stay as they were, and
   * so do its ancestors' buckets (a cascade parent keeps what the key spent).
   * Also forgets this limiter's remembered rejections of those buckets; other
   * limiters' deny caches hold theirs until the computed wait ends. Returns
   * how many buckets held state.
   *
   * @example
   * await limiter.reset({ entity: 'key-123' });                      // every resource
   * await limiter.reset({ entity: 'key-123', resource: 'gpt-4o' });  // one bucket
   */
  reset(scope: ResetScope): Promise<number> {
    return this.admin.reset(scope);
  }

  /** Creates an entity. Its parent must exist; ids are unique. */
  createEntity(input: CreateEntityInput): Promise<EntityRecord> {
    return this.admin.createEntity(input);
  }

  /**
   * Changes an entity in place: re-parents it (`parent: null` makes it a
   * root), turns `cascade` on or off, renames it or replaces its metadata.
   * Its buckets, limit sets and usage stay. Fields not given are kept;
   * `null` removes `parent`, `name` or `metadata`. Returns the stored record.
   *
   * Throws `EntityError`: `ERR_TOLLGATE_ENTITY_NOT_FOUND` when the entity or
   * the new parent does not exist, `ERR_TOLLGATE_ENTITY_CYCLE` when the new
   * parent is the entity or one of its descendants,
   * `ERR_TOLLGATE_ENTITY_TOO_DEEP` when the entity would be more than
   * `MAX_CASCADE_DEPTH` levels deep. Takes effect on this limiter at once and
   * on others when their config cache expires.
   *
   * @example
   * await limiter.updateEntity('key-123', { parent: 'org-10' });   // move a key to another organisation
   * await limiter.updateEntity('key-123', { parent: null });       // detach it
   * await limiter.updateEntity('org-9', { name: 'Acme Ltd', metadata: { plan: 'enterprise' } });
   */
  updateEntity(id: string, changes: UpdateEntityInput): Promise<EntityRecord> {
    return this.admin.updateEntity(id, changes);
  }

  /** The stored entity, or null. Always read from the store. */
  getEntity(id: string): Promise<EntityRecord | null> {
    return this.admin.getEntity(id);
  }

  /** Direct children of an entity. */
  getChildren(id: string): Promise<EntityRecord[]> {
    return this.admin.getChildren(id);
  }

  /**
   * Deletes an entity with its limit sets, buckets and usage. Refuses while it
   * has children. Returns false if it did not exist.
   */
  deleteEntity(id: string): Promise<boolean> {
    return this.admin.deleteEntity(id);
  }

  /**
   * Stores the limit set of a scope: `{ entity, resource }`, `{ entity }`,
   * `{ resource }` or `{}` (system). Takes effect on this limiter at once and
   * on others when their config cache expires.
   */
  setLimits(scope: LimitScope, limits: readonly Limit[]): Promise<void> {
    return this.admin.setLimits(scope, limits);
  }

  /** The limit set stored at exactly this scope (empty if none). Always read from the store. */
  getLimits(scope: LimitScope): Promise<Limit[]> {
    return this.admin.getLimits(scope);
  }

  /** Removes the limit set of a scope; false if there was none. */
  deleteLimits(scope: LimitScope): Promise<boolean> {
    return this.admin.deleteLimits(scope);
  }

  /** Usage snapshots (hourly or daily), oldest first, following every page. */
  async getUsage(request: UsageRequest): Promise<UsageSnapshot[]> {
    const snapshots: UsageSnapshot[] = [];
    for await (const page of this.usagePages(request)) snapshots.push(...page);
    return snapshots;
  }

  /** Usage snapshots page by page, for large ranges. */
  usagePages(request: UsageRequest): AsyncGenerator<UsageSnapshot[]> {
    return this.admin.usagePages(request);
  }

  /**
   * Waits for lease commits and refunds under way, then releases the store's
   * resources. Call it on shutdown so no refund is lost.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.settling]);
    await this.options.store.close?.();
  }

  /**
   * The request with its entity id replaced by {@link hashedEntityId} when it
   * is too long and `longKeys` is `'hash'`. Never throws: an unusable id is
   * left for validation to refuse (and tracing to count as invalid).
   */
  private withHashedKey(request: AcquireRequest): AcquireRequest {
    const entity: unknown = (request as Partial<AcquireRequest> | null | undefined)?.entity;
    if (
      typeof entity !== 'string' ||
      entity.length <= MAX_ID_LENGTH ||
      this.options.longKeys !== 'hash' ||
      !entity.isWellFormed()
    ) {
      return request;
    }
    return { ...request, entity: hashedEntityId(entity) };
  }

  /** The id `entity` is stored under (see the `longKeys` option), or `ERR_TOLLGATE_INVALID_KEY`. */
  private entityId(entity: unknown): string {
    return entityIdOf(entity, 'entity', this.options.longKeys);
  }

  /** @internal Writes a lease's adjustments (used by `Lease`). */
  settle(adjustments: BucketAdjustment[]): Promise<void> {
    const nowNs = this.time.nowNs();
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
    return rejectedDecision(buckets, charges, states, nowNs, waitNsValue);
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
    return degradedDecision(new Lease(entity, resource, [], [], this, true));
  }

  /** An in-process store's config read: traced when observed, and a failure is "unavailable". */
  private readConfigNow(
    load: (request: SyncLoadConfigRequest) => LoadedConfig,
    request: SyncLoadConfigRequest,
  ): LoadedConfig {
    try {
      // No closure on the hot path unless someone listens.
      return storeCallsObserved() ? traceStoreCallSync('loadConfig', () => load(request)) : load(request);
    } catch (error) {
      throw asStoreFailure('loadConfig', error);
    }
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
    const { store, timeoutMs } = this.options;
    return callStore(operation, timeoutMs, run, store.inProcess === true, {
      signal,
      onAbandoned,
      reportsRoundTrips: store.reportsRoundTrips,
    });
  }
}
