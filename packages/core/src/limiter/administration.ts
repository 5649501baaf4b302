import { EntityError } from '../errors.js';
import { validateId } from '../ids.js';
import { Limit } from '../limit.js';
import type { EntityRecord, LimitScope, Store, UsageQuery, UsageSnapshot } from '../store/store.js';
import type { Planner } from './planner.js';
import type { CreateEntityInput, UsageRequest } from './types.js';
import {
  toMs,
  validateEntityFields,
  validateEntityIds,
  validateLimitSet,
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
}

/**
 * Entities, stored limit sets and usage snapshots: the calls that change or
 * read what decisions are made from, never a bucket. Every write invalidates
 * this limiter's caches at once; other processes see it within the config TTL.
 */
export class Administration {
  constructor(private readonly options: AdministrationOptions) {}

  async createEntity(input: CreateEntityInput): Promise<EntityRecord> {
    validateEntityIds(input);
    if (input.parent !== undefined && !(await this.getEntity(input.parent))) {
      throw new EntityError(
        'ERR_TOLLGATE_ENTITY_NOT_FOUND',
        input.parent,
        `Parent entity \`${input.parent}\` does not exist`,
      );
    }
    validateEntityFields(input);
    const record: EntityRecord = {
      id: input.id,
      cascade: input.cascade ?? false,
      createdAt: new Date(this.options.clock()).toISOString(),
      ...(input.parent === undefined ? {} : { parent: input.parent }),
      ...(input.name === undefined ? {} : { name: String(input.name) }),
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
    };
    await this.options.call('createEntity', (signal) => this.options.store.createEntity(record, signal));
    this.options.planner.entityWritten(record.id);
    return record;
  }

  async getEntity(id: string): Promise<EntityRecord | null> {
    validateId(id, 'id');
    const loaded = await this.options.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [id], scopes: [], signal }),
    );
    return loaded.entities.get(id) ?? null;
  }

  async getChildren(id: string): Promise<EntityRecord[]> {
    validateId(id, 'id');
    return this.options.call('getChildren', (signal) => this.options.store.getChildren(id, signal));
  }

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
    const existed = await this.options.call('deleteEntity', (signal) =>
      this.options.store.deleteEntity(id, signal),
    );
    this.options.forgetDenials();
    this.options.planner.entityDeleted(id);
    return existed;
  }

  async setLimits(scope: LimitScope, limits: readonly Limit[]): Promise<void> {
    const checked = validateScope(scope);
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
    const checked = validateScope(scope);
    const loaded = await this.options.call('loadConfig', (signal) =>
      this.options.store.loadConfig({ entityIds: [], scopes: [checked], signal }),
    );
    const [definitions] = [...loaded.limits.values()];
    return (definitions ?? []).map((definition) => Limit.fromDefinition(definition));
  }

  async deleteLimits(scope: LimitScope): Promise<boolean> {
    const checked = validateScope(scope);
    const existed = await this.options.call('deleteLimits', (signal) =>
      this.options.store.deleteLimits(checked, signal),
    );
    this.options.planner.limitsWritten(checked);
    return existed;
  }

  async *usagePages(request: UsageRequest): AsyncGenerator<UsageSnapshot[]> {
    validateUsageRequest(request);
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
      const page = await this.options.call('getUsage', (signal) =>
        this.options.store.getUsage(query, signal),
      );
      yield page.snapshots;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }
}
