import { LRUCache } from 'lru-cache';
import { Limit, type LimitDefinition } from '../limit.js';
import { type EntityRecord, type LimitScope, type LoadedConfig, scopeKey } from '../store/store.js';

/** What the limiter needs to plan one acquire: entity records and limit sets, missing ones as null. */
export interface ConfigView {
  entity(id: string): EntityRecord | null;
  limits(scope: LimitScope): readonly Limit[] | null;
  /** When the oldest entry of this view was read from the store (clock ms): its age bounds staleness. */
  readonly loadedAt: number;
}

/** A cached value with the instant its fetch started (conservative: the store read it no earlier). */
interface Entry {
  readonly value: Cached;
  readonly loadedAt: number;
}

type Cached = EntityRecord | readonly Limit[] | null;
type Fetch = (entityIds: string[], scopes: LimitScope[]) => Promise<LoadedConfig>;
type Clock = () => number;

/**
 * TTL cache of entity records and stored limit sets, negative entries
 * included. Misses of one call are fetched together (one store round trip);
 * concurrent misses of the same key share one fetch (single flight). The
 * limiter's own writes invalidate; other processes' writes show within the
 * TTL, counted from when the fetch started (not when its answer arrived).
 */
export class ConfigCache {
  private readonly cache: LRUCache<string, Entry> | undefined;
  private readonly inFlight = new Map<string, Promise<Entry>>();
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    maxEntries: number,
    private readonly clock: Clock = Date.now,
  ) {
    // Expiry is checked by hand (`loadedAt + ttlMs`): lru-cache's own TTL bookkeeping costs more
    // than the lookup on this path.
    this.cache = ttlMs > 0 ? new LRUCache({ max: maxEntries }) : undefined;
  }

  /** Returns the records for `entityIds` and `scopes`, fetching every miss in one call. */
  async view(entityIds: readonly string[], scopes: readonly LimitScope[], fetch: Fetch): Promise<ConfigView> {
    const found = new Map<string, Entry>();
    const oldestFresh = this.clock() - this.ttlMs;
    const pending: Array<Promise<void>> = [];
    const missingEntities: string[] = [];
    const missingScopes: LimitScope[] = [];
    const consider = (key: string, onMiss: () => void): void => {
      const hit = this.cache?.get(key);
      if (hit !== undefined && hit.loadedAt > oldestFresh) {
        found.set(key, hit);
        return;
      }
      const flying = this.inFlight.get(key);
      if (flying !== undefined) {
        pending.push(flying.then((entry) => void found.set(key, entry)));
        return;
      }
      onMiss();
    };
    for (const id of new Set(entityIds)) consider(entityKey(id), () => missingEntities.push(id));
    for (const scope of uniqueScopes(scopes)) consider(limitsKey(scope), () => missingScopes.push(scope));
    if (missingEntities.length > 0 || missingScopes.length > 0) {
      pending.push(this.fetchMisses(missingEntities, missingScopes, fetch, found));
    }
    await Promise.all(pending);
    let loadedAt = Number.POSITIVE_INFINITY;
    for (const entry of found.values()) loadedAt = Math.min(loadedAt, entry.loadedAt);
    return {
      entity: (id) => (found.get(entityKey(id))?.value as EntityRecord | null | undefined) ?? null,
      limits: (scope) => (found.get(limitsKey(scope))?.value as readonly Limit[] | null | undefined) ?? null,
      loadedAt,
    };
  }

  /** Drops a cached entity record (after the limiter wrote it). */
  invalidateEntity(id: string): void {
    this.invalidate(entityKey(id));
  }

  /** Drops a cached limit set (after the limiter wrote it). */
  invalidateLimits(scope: LimitScope): void {
    this.invalidate(limitsKey(scope));
  }

  /** Drops every cached limit set of an entity, at any resource. */
  invalidateEntityLimits(id: string): void {
    this.generation += 1;
    if (!this.cache) return;
    for (const key of [...this.cache.keys()]) {
      if (key.startsWith(`L${id.length}:${id}|`)) this.cache.delete(key);
    }
  }

  private invalidate(key: string): void {
    this.generation += 1;
    this.cache?.delete(key);
  }

  private async fetchMisses(
    entityIds: string[],
    scopes: LimitScope[],
    fetch: Fetch,
    found: Map<string, Entry>,
  ): Promise<void> {
    const startedAt = this.generation;
    const loadedAt = this.clock();
    const batch = fetch(entityIds, scopes).then((loaded) => {
      const values = new Map<string, Entry>();
      for (const id of entityIds)
        values.set(entityKey(id), { value: loaded.entities.get(id) ?? null, loadedAt });
      for (const scope of scopes) {
        const definitions = loaded.limits.get(scopeKey(scope));
        values.set(limitsKey(scope), { value: definitions ? toLimits(definitions) : null, loadedAt });
      }
      // The TTL runs from the start of the fetch: the answer may already be that old.
      // A write by this limiter during the fetch may have made the answer stale: do not cache it.
      if (this.cache && this.generation === startedAt && loadedAt + this.ttlMs > this.clock()) {
        for (const [key, entry] of values) this.cache.set(key, entry);
      }
      return values;
    });
    const keys = [...entityIds.map(entityKey), ...scopes.map(limitsKey)];
    for (const key of keys) {
      const single = batch.then((values) => values.get(key) ?? { value: null, loadedAt });
      single.catch(() => undefined);
      this.inFlight.set(key, single);
    }
    try {
      const values = await batch;
      for (const [key, value] of values) found.set(key, value);
    } finally {
      for (const key of keys) this.inFlight.delete(key);
    }
  }
}

function entityKey(id: string): string {
  return `E${id}`;
}

function limitsKey(scope: LimitScope): string {
  return `L${scopeKey(scope)}`;
}

function uniqueScopes(scopes: readonly LimitScope[]): LimitScope[] {
  const seen = new Map<string, LimitScope>();
  for (const scope of scopes) seen.set(scopeKey(scope), scope);
  return [...seen.values()];
}

function toLimits(definitions: readonly LimitDefinition[]): readonly Limit[] {
  return Object.freeze(definitions.map((definition) => Limit.fromDefinition(definition)));
}
