import { LRUCache } from 'lru-cache';
import { ValidationError } from '../errors.js';
import type { Limit } from '../limit.js';
import { bucketId, type LimitScope, type LoadedConfig } from '../store/store.js';
import type { MonotonicClock } from './clock.js';
import { ConfigCache, type ConfigView } from './config-cache.js';
import { limitsFor, MAX_CASCADE_DEPTH, type PlannedBucket, scopesOf } from './plan.js';

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

  constructor(private readonly options: PlannerOptions) {
    const { ttlMs, maxPlans, clock } = options;
    // A plan is built from up to four config entries (entity record, entity scopes, shared scopes).
    this.config = new ConfigCache(ttlMs, maxPlans * CONFIG_ENTRIES_PER_PLAN, clock);
    // No lru-cache TTL here: expiry is checked against the `now` each decision reads anyway.
    this.plans = ttlMs > 0 ? new LRUCache({ max: maxPlans }) : undefined;
  }

  /** The cached plan of (entity, resource), if any: the hot path needs no await for it. */
  cached(entity: string, resource: string): PlannedBucket[] | undefined {
    const cached = this.plans?.get(bucketId({ entity, resource }));
    return cached !== undefined && cached.expiresAt > this.options.time.latestMs ? cached.buckets : undefined;
  }

  /** The buckets an acquire touches, from the plan cache when possible. */
  async plan(
    entity: string,
    resource: string,
    override: readonly Limit[] | undefined,
    signal?: AbortSignal,
  ): Promise<PlannedBucket[]> {
    if (override !== undefined || this.plans === undefined)
      return (await this.resolve(entity, resource, override, signal)).buckets;
    const key = bucketId({ entity, resource });
    this.options.time.nowNs();
    const cached = this.cached(entity, resource);
    if (cached) return cached;
    const generation = this.configGeneration;
    const planned = await this.resolve(entity, resource, undefined, signal);
    // A plan lives no longer than the oldest config entry it was built from.
    const expiresAt = planned.loadedAt + this.options.ttlMs;
    if (generation === this.configGeneration && expiresAt > this.options.clock()) {
      this.plans.set(key, { buckets: planned.buckets, expiresAt });
    }
    return planned.buckets;
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

  /** The buckets an acquire touches: the entity's, then each cascading ancestor's. */
  private async resolve(
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
        this.options.load(ids, missing, signal),
      );
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
      if (limits.length > 0) buckets.push({ entity: current, resource, depth, limits });
      const record = view.entity(current);
      const parent: string | undefined = record?.cascade ? record.parent : undefined;
      current =
        parent !== undefined && !seen.has(parent) && depth + 1 < MAX_CASCADE_DEPTH ? parent : undefined;
    }
    return { buckets, loadedAt };
  }
}
