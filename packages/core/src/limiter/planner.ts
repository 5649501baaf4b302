import { LRUCache } from 'lru-cache';
import { ValidationError } from '../errors.js';
import { Limit, type LimitDefinition } from '../limit.js';
import {
  compactBucketId,
  type LimitCharge,
  type LimitScope,
  type LoadedConfig,
  type SyncLoadConfigRequest,
  scopeKey,
} from '../store/store.js';
import type { MonotonicClock } from './clock.js';
import { ConfigCache, type ConfigView } from './config-cache.js';
import {
  limitsFor,
  MAX_CASCADE_DEPTH,
  type PlannedBucket,
  plannedBucket,
  scopesOf,
  unitChargesOf,
} from './plan.js';

/** Reads entity records and limit sets from the store (through the limiter's deadline). */
export type ConfigLoader = (
  entityIds: string[],
  scopes: LimitScope[],
  signal: AbortSignal | undefined,
) => Promise<LoadedConfig>;

/** What a planner is built from. */
export interface PlannerOptions {
  /** Limits of a bucket when no stored set applies. */
  readonly defaults: readonly Limit[];
  /** How long config (and the plans built from it) may be used, in ms; 0 disables both caches. */
  readonly ttlMs: number;
  /** Most plans cached; the config cache holds {@link CONFIG_ENTRIES_PER_PLAN} entries per plan. */
  readonly maxPlans: number;
  /** The raw clock in ms (cache ages). */
  readonly clock: () => number;
  /** The limiter's monotonic time (plan expiry against the `now` a decision reads). */
  readonly time: MonotonicClock;
  readonly load: ConfigLoader;
  /**
   * An in-process store's synchronous read, when it has one. Planning then
   * needs no await and caches nothing: the store's own maps are as cheap as
   * a cache and never stale.
   */
  readonly loadSync?: ((request: SyncLoadConfigRequest) => LoadedConfig) | undefined;
  /** `RateLimiterOptions.hasStoredConfig`: false for an entity whose own config is never read. */
  readonly hasStoredConfig?: ((entity: string) => boolean) | undefined;
}

/**
 * The config a plan reads for the acquiring entity's own bucket, its first
 * read: the entity's record and its four scopes; no scopes with per-call
 * `limits`; the shared scopes alone for a `configless` entity
 * (`hasStoredConfig`). Arrays are built only if the store reads them: a
 * store with nothing stored answers without looking, so the common decision
 * allocates this one object.
 */
class EntityConfigRequest implements SyncLoadConfigRequest {
  constructor(
    private readonly entity: string,
    private readonly resource: string,
    private readonly configless: boolean,
    private readonly overridden: boolean,
  ) {}

  get entityIds(): string[] {
    return this.configless ? [] : [this.entity];
  }

  get scopes(): LimitScope[] {
    if (this.overridden) return [];
    return scopesOf(this.entity, this.resource).slice(this.configless ? 2 : 0);
  }
}

/** The config one planning step asks for: one entity and its scopes. */
interface ConfigRequest {
  readonly entityIds: string[];
  readonly scopes: LimitScope[];
}

/** A plan as resolved from config, with the clock reading its oldest config was read at. */
interface ResolvedPlan {
  readonly buckets: PlannedBucket[];
  readonly loadedAt: number;
}

/** Config cache entries per plan: the entity record, its two own scopes, and a share of the shared ones. */
const CONFIG_ENTRIES_PER_PLAN = 4;

/** A resolved plan and the clock reading at which the oldest config behind it is too old. */
interface CachedPlan {
  readonly buckets: PlannedBucket[];
  readonly expiresAt: number;
}

/**
 * Decides which buckets an acquire touches and which limits each has: the
 * entity's own, then each cascading ancestor's. Owns both caches behind that
 * answer: stored config (entity records, limit sets) and the resolved plans
 * per (entity, resource), so the hot path skips config lookups.
 */
export class Planner {
  private readonly config: ConfigCache;
  /**
   * Resolved buckets and limits per (entity, resource). Each plan expires when
   * the oldest config entry it was built from does, so no process enforces
   * config older than the TTL.
   */
  private readonly plans: LRUCache<string, CachedPlan> | undefined;
  private configGeneration = 0;
  /** 1 of every default limit, shared by every plan made of the defaults alone. */
  private readonly defaultCharges: readonly LimitCharge[];

  constructor(private readonly options: PlannerOptions) {
    const { ttlMs, maxPlans, clock } = options;
    this.defaultCharges = unitChargesOf(options.defaults);
    // An in-process store's config is as cheap to read as a cache and never stale: no caches
    // (an LRU allocates its arrays up front, 40 000 config entries by default).
    const cachedMs = options.loadSync === undefined ? ttlMs : 0;
    // A plan is built from up to four config entries (entity record, entity scopes, shared scopes).
    this.config = new ConfigCache(cachedMs, maxPlans * CONFIG_ENTRIES_PER_PLAN, clock);
    // No lru-cache TTL here: expiry is checked against the `now` each decision reads anyway.
    this.plans = cachedMs > 0 ? new LRUCache({ max: maxPlans }) : undefined;
  }

  /** The cached plan of (entity, resource), if any: the hot path needs no await for it. */
  cached(entity: string, resource: string): PlannedBucket[] | undefined {
    // Empty when every plan so far was defaults on an in-process store: skip the lookup.
    if (this.plans === undefined || this.plans.size === 0) return undefined;
    const cached = this.plans.get(compactBucketId(entity, resource));
    return cached !== undefined && cached.expiresAt > this.options.time.latestMs ? cached.buckets : undefined;
  }

  /** The buckets an acquire touches, from the plan cache when possible. */
  async plan(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    signal?: AbortSignal,
  ): Promise<PlannedBucket[]> {
    if (this.options.loadSync !== undefined) return this.planSync(entity, resource, override);
    if (override !== undefined || this.plans === undefined)
      return (await this.resolve(entity, resource, override, signal)).buckets;
    this.options.time.nowNs();
    const cached = this.cached(entity, resource);
    if (cached) return cached;
    const generation = this.configGeneration;
    return this.remember(
      entity,
      resource,
      generation,
      await this.resolve(entity, resource, undefined, signal),
    );
  }

  /**
   * {@link plan} without an await, for an in-process store with a synchronous
   * read (`loadSync` given). Its config is read on every call,
   * never cached: a map lookup in the store costs no more than a cache's, and
   * is never stale. Most keys have nothing stored, and their plan is built
   * from the defaults without a walk.
   */
  planSync(entity: string, resource: string, override: readonly Limit[] | undefined): PlannedBucket[] {
    const loadSync = this.options.loadSync;
    if (loadSync === undefined) throw new TypeError('planSync needs a store with loadConfigSync');
    let first: LoadedConfig | undefined;
    const configless = this.configless(entity);
    if (override === undefined && this.options.defaults.length > 0) {
      // The same config the walk's first step asks for, which then reuses this answer.
      first = loadSync(new EntityConfigRequest(entity, resource, configless, false));
      // Most keys have nothing stored: their plan is the defaults, and the walk ends here.
      if (isEmpty(first)) {
        return [plannedBucket(entity, resource, 0, this.options.defaults, this.defaultCharges)];
      }
    }
    const steps = this.steps(entity, resource, override, configless);
    let step = steps.next();
    while (step.done !== true) {
      const loaded = first ?? loadSync(step.value);
      first = undefined;
      step = steps.next(storeView(loaded));
    }
    return step.value.buckets;
  }

  /** True when `hasStoredConfig` says the entity's own record and limit sets are never read. */
  configless(entity: string): boolean {
    const { hasStoredConfig } = this.options;
    return hasStoredConfig !== undefined && hasStoredConfig(entity) === false;
  }

  /** This limiter stored an entity: drop its cached record and every plan. */
  entityWritten(id: string): void {
    this.config.invalidateEntity(id);
    this.configChanged();
  }

  /** This limiter deleted an entity with its limit sets: drop what was cached of it and every plan. */
  entityDeleted(id: string): void {
    this.config.invalidateEntity(id);
    this.config.invalidateEntityLimits(id);
    this.configChanged();
  }

  /** This limiter wrote or deleted the limit set of `scope`: drop it and every plan. */
  limitsWritten(scope: LimitScope): void {
    this.config.invalidateLimits(scope);
    this.configChanged();
  }

  /** Config of this limiter changed: cached plans may be stale. */
  private configChanged(): void {
    this.configGeneration += 1;
    this.plans?.clear();
  }

  /** Caches a freshly resolved plan, unless config changed while it was read or it is already too old. */
  private remember(
    entity: string,
    resource: string,
    generation: number,
    planned: ResolvedPlan,
  ): PlannedBucket[] {
    // A plan lives no longer than the oldest config entry it was built from.
    const expiresAt = planned.loadedAt + this.options.ttlMs;
    if (generation === this.configGeneration && expiresAt > this.options.clock()) {
      this.plans?.set(compactBucketId(entity, resource), { buckets: planned.buckets, expiresAt });
    }
    return planned.buckets;
  }

  /** Resolves a plan through the config cache, awaiting the store for what it misses. */
  private async resolve(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    signal?: AbortSignal,
  ): Promise<ResolvedPlan> {
    const steps = this.steps(entity, resource, override, this.configless(entity));
    let step = steps.next();
    while (step.done !== true) {
      const { entityIds, scopes } = step.value;
      step = steps.next(
        await this.config.view(entityIds, scopes, (ids, missing) => this.options.load(ids, missing, signal)),
      );
    }
    return step.value;
  }

  /**
   * The buckets an acquire touches: the entity's, then each cascading
   * ancestor's. Yields the config each level needs and is handed its view, so
   * the same walk serves the awaiting and the synchronous planners. A
   * `configless` entity asks for the shared limit sets alone: no record (so
   * no parent) and no set of its own.
   */
  private *steps(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    configless: boolean,
  ): Generator<ConfigRequest, ResolvedPlan, ConfigView> {
    const buckets: PlannedBucket[] = [];
    let loadedAt = Number.POSITIVE_INFINITY;
    const seen = new Set<string>();
    let current: string | undefined = entity;
    for (let depth = 0; current !== undefined; depth += 1) {
      seen.add(current);
      const own = depth === 0;
      // Ancestors are charged only for limits stored on them: a default or
      // resource-wide limit meant for one key must not cap a whole organisation.
      const view: ConfigView = yield own
        ? new EntityConfigRequest(current, resource, configless, override !== undefined)
        : { entityIds: [current], scopes: scopesOf(current, resource).slice(0, 2) };
      loadedAt = Math.min(loadedAt, view.loadedAt);
      const limits = own
        ? (override ?? limitsFor(view, current, resource, this.options.defaults))
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
      if (limits.length > 0) buckets.push(plannedBucket(current, resource, depth, limits));
      const record = view.entity(current);
      const parent: string | undefined = record?.cascade ? record.parent : undefined;
      current =
        parent !== undefined && !seen.has(parent) && depth + 1 < MAX_CASCADE_DEPTH ? parent : undefined;
    }
    return { buckets, loadedAt };
  }
}

/**
 * Limits built from a stored set, once per set: an in-process store hands out
 * the same array until the set is replaced, so planning converts nothing twice.
 */
const limitsBySet = new WeakMap<readonly LimitDefinition[], readonly Limit[]>();

function limitsOf(definitions: readonly LimitDefinition[]): readonly Limit[] {
  let limits = limitsBySet.get(definitions);
  if (limits === undefined) {
    limits = Object.freeze(definitions.map((definition) => Limit.fromDefinition(definition)));
    limitsBySet.set(definitions, limits);
  }
  return limits;
}

/** True when the store holds nothing for the entity and scopes asked about. */
function isEmpty(loaded: LoadedConfig): boolean {
  return loaded.entities.size === 0 && loaded.limits.size === 0;
}

const NO_LIMITS = new Map<string, readonly Limit[]>();

/** A config view straight over a store's answer (the in-process path, no cache: never stale). */
function storeView(loaded: LoadedConfig): ConfigView {
  const { entities, limits } = loaded;
  const converted = limits.size === 0 ? NO_LIMITS : new Map<string, readonly Limit[]>();
  return {
    entity: (id) => entities.get(id) ?? null,
    limits: (scope) => {
      if (limits.size === 0) return null;
      const key = scopeKey(scope);
      let set = converted.get(key);
      if (set === undefined) {
        const definitions = limits.get(key);
        if (definitions === undefined) return null;
        set = limitsOf(definitions);
        converted.set(key, set);
      }
      return set;
    },
    loadedAt: Number.POSITIVE_INFINITY,
  };
}
