import { EntityError, ValidationError } from '../errors.js';
import { entityIdOf, type LongKeyPolicy } from '../ids.js';
import { Limit } from '../limit.js';
import type {
  EntityRecord,
  LimitScope,
  ResetScope,
  Store,
  UsageQuery,
  UsageSnapshot,
} from '../store/store.js';
import { MAX_CASCADE_DEPTH } from './plan.js';
import type { Planner } from './planner.js';
import type { CreateEntityInput, UpdateEntityInput, UsageRequest } from './types.js';
import {
  toMs,
  validateEntityChanges,
  validateEntityFields,
  validateEntityIds,
  validateLimitSet,
  validateResetScope,
  validateScope,
  validateUsageRequest,
} from './validation.js';

/** One store call under the limiter's deadline, failures mapped to `RateLimiterUnavailable`. */
export type StoreCaller = <T>(operation: string, run: (signal: AbortSignal) => Promise<T>) => Promise<T>;

/** What administration is built from. */
export interface AdministrationOptions {
  readonly store: Store;
  readonly call: StoreCaller;
  readonly clock: () => number;
  /** Told of every config write, so cached config and plans never outlive it. */
  readonly planner: Planner;
  /** Drops every remembered rejection (an entity was deleted). */
  readonly forgetDenials: () => void;
  /** Drops the remembered rejections of one entity's buckets (of one resource, or all). */
  readonly forgetEntityDenials: (scope: ResetScope) => void;
  /** What entity ids longer than `MAX_ID_LENGTH` become. */
  readonly longKeys: LongKeyPolicy;
}

/**
 * Entities, stored limit sets, usage snapshots and resets: the calls that
 * change or read what decisions are made from, or start a key over. Every
 * write invalidates this limiter's caches at once; other processes see
 * config changes within the config TTL.
 */
export class Administration {
  constructor(private readonly options: AdministrationOptions) {}

  async createEntity(input: CreateEntityInput): Promise<EntityRecord> {
    const { id, parent } = validateEntityIds(input, this.options.longKeys);
    this.assertReadable(id);
    if (parent !== undefined) await this.existingParent(parent);
    validateEntityFields(input);
    const record: EntityRecord = {
      id,
      cascade: input.cascade ?? false,
      createdAt: new Date(this.options.clock()).toISOString(),
      ...(parent === undefined ? {} : { parent }),
      ...(input.name === undefined ? {} : { name: String(input.name) }),
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
    };
    await this.options.call('createEntity', (signal) => this.options.store.createEntity(record, signal));
    this.options.planner.entityWritten(record.id);
    return record;
  }

  async getEntity(id: string): Promise<EntityRecord | null> {
    return this.readEntity(this.entityId(id, 'id'));
  }

  /**
   * Changes the parent, cascade flag, name or metadata of an entity in one
   * store write. A new parent must exist, and the walk up from it must
   * neither meet the entity (a cycle) nor leave it deeper than
   * {@link MAX_CASCADE_DEPTH} levels, where a cascade stops (and a cycle
   * could hide).
   */
  async updateEntity(id: string, input: UpdateEntityInput): Promise<EntityRecord> {
    const entityId = this.entityId(id, 'id');
    this.assertReadable(entityId);
    const changes = validateEntityChanges(entityId, input, this.options.longKeys);
    const { parent } = changes;
    if (parent !== undefined && parent !== null) await this.assertAcyclic(entityId, parent);
    if (Object.keys(changes).length === 0) {
      const record = await this.readEntity(entityId);
      if (record === null) throw notFound(entityId, `Entity \`${entityId}\` does not exist`);
      return record;
    }
    const record = await this.options.call('updateEntity', (signal) =>
      this.options.store.updateEntity(entityId, changes, signal),
    );
    this.options.planner.entityWritten(entityId);
    return record;
  }

  async getChildren(id: string): Promise<EntityRecord[]> {
    const entityId = this.entityId(id, 'id');
    return this.options.call('getChildren', (signal) => this.options.store.getChildren(entityId, signal));
  }

  async deleteEntity(value: string): Promise<boolean> {
    const id = this.entityId(value, 'id');
    const children = await this.getChildren(id);
    if (children.length > 0) {
      throw new EntityError(
        'ERR_TOLLGATE_ENTITY_HAS_CHILDREN',
        id,
        `Entity \`${id}\` has ${children.length} child entities; delete or re-parent them first`,
      );
    }
    const existed = await this.options.call('deleteEntity', (signal) =>
      this.options.store.deleteEntity(id, signal),
    );
    this.options.forgetDenials();
    this.options.planner.entityDeleted(id);
    return existed;
  }

  /**
   * Empties the buckets of one entity (one resource, or all), so the key is
   * full again; returns how many held state. Limits, the entity record and
   * usage stay; so do the buckets of its ancestors.
   */
  async reset(scope: ResetScope): Promise<number> {
    const checked = validateResetScope(scope, this.options.longKeys);
    try {
      return await this.options.call('resetBuckets', (signal) =>
        this.options.store.resetBuckets(checked, signal),
      );
    } finally {
      // Also after a failure: the reset may have landed, and a forgotten denial costs one store call.
      this.options.forgetEntityDenials(checked);
    }
  }

  async setLimits(scope: LimitScope, limits: readonly Limit[]): Promise<void> {
    const checked = validateScope(scope, this.options.longKeys);
    if (checked.entity !== undefined) this.assertReadable(checked.entity);
    validateLimitSet(limits);
    await this.options.call('putLimits', (signal) =>
      this.options.store.putLimits(
        checked,
        limits.map((limit) => limit.toJSON()),
        signal,
      ),
    );
    this.options.planner.limitsWritten(checked);
  }

  async getLimits(scope: LimitScope): Promise<Limit[]> {
    const checked = validateScope(scope, this.options.longKeys);
    const loaded = await this.options.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [], scopes: [checked], signal }),
    );
    const [definitions] = [...loaded.limits.values()];
    return (definitions ?? []).map((definition) => Limit.fromDefinition(definition));
  }

  async deleteLimits(scope: LimitScope): Promise<boolean> {
    const checked = validateScope(scope, this.options.longKeys);
    const existed = await this.options.call('deleteLimits', (signal) =>
      this.options.store.deleteLimits(checked, signal),
    );
    this.options.planner.limitsWritten(checked);
    return existed;
  }

  async *usagePages(request: UsageRequest): AsyncGenerator<UsageSnapshot[]> {
    const entity = validateUsageRequest(request, this.options.longKeys);
    let cursor: string | undefined;
    do {
      const query: UsageQuery = {
        entity,
        resource: request.resource,
        window: request.window,
        from: toMs(request.from, 'from'),
        to: toMs(request.to, 'to'),
        cursor,
      };
      const page = await this.options.call('getUsage', (signal) =>
        this.options.store.getUsage(query, signal),
      );
      yield page.snapshots;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** The id an entity is stored under (see `longKeys`), or `ERR_TOLLGATE_INVALID_KEY`. */
  private entityId(value: unknown, field: string): string {
    return entityIdOf(value, field, this.options.longKeys);
  }

  /** Refuses to store config for an entity whose config this limiter never reads (`hasStoredConfig`). */
  private assertReadable(entity: string): void {
    if (!this.options.planner.configless(entity)) return;
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_KEY',
      `This limiter's \`hasStoredConfig\` returns false for the entity, so it would never read a record or limit set stored for it; nothing was written`,
      'entity',
    );
  }

  private async readEntity(id: string): Promise<EntityRecord | null> {
    const loaded = await this.options.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [id], scopes: [], signal }),
    );
    return loaded.entities.get(id) ?? null;
  }

  /** The parent's record; `ERR_TOLLGATE_ENTITY_NOT_FOUND` if it does not exist. */
  private async existingParent(parent: string): Promise<EntityRecord> {
    const record = await this.readEntity(parent);
    if (record === null) throw notFound(parent, `Parent entity \`${parent}\` does not exist`);
    return record;
  }

  /**
   * Walks up from the new parent of `id`, reading each ancestor from the
   * store: `ERR_TOLLGATE_ENTITY_CYCLE` if the walk meets `id`,
   * `ERR_TOLLGATE_ENTITY_TOO_DEEP` if `id` and its ancestors would be more
   * than {@link MAX_CASCADE_DEPTH} levels. A cycle already in the data above
   * the parent (not through `id`) ends the walk: the planner cuts it.
   */
  private async assertAcyclic(id: string, parent: string): Promise<void> {
    const seen = new Set<string>();
    let record = await this.existingParent(parent);
    for (;;) {
      seen.add(record.id);
      const next = record.parent;
      if (next === undefined || seen.has(next)) return;
      if (next === id) {
        throw new EntityError(
          'ERR_TOLLGATE_ENTITY_CYCLE',
          id,
          `Entity \`${id}\` cannot be a child of \`${parent}\`: it is one of its ancestors`,
        );
      }
      // `seen` holds the ancestors `id` would have so far; with itself, one level more.
      if (seen.size + 1 >= MAX_CASCADE_DEPTH) {
        throw new EntityError(
          'ERR_TOLLGATE_ENTITY_TOO_DEEP',
          id,
          `Entity \`${id}\` under \`${parent}\` would be more than ${MAX_CASCADE_DEPTH} levels deep, where a cascade stops`,
        );
      }
      const above = await this.readEntity(next);
      // A parent id with no record (deleted out of order) ends the chain.
      if (above === null) return;
      record = above;
    }
  }
}

function notFound(id: string, message: string): EntityError {
  return new EntityError('ERR_TOLLGATE_ENTITY_NOT_FOUND', id, message);
}
