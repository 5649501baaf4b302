import { describeValue, EntityError, ValidationError } from '../errors.js';
import { DEFAULT_RESOURCE, entityIdOf, type LongKeyPolicy, validateId } from '../ids.js';
import { assertUniqueLimitNames, LIMIT_NAME_PATTERN, type Limit } from '../limit.js';
import type { EntityChanges, LimitScope, ResetScope } from '../store/store.js';
import type { CreateEntityInput, UpdateEntityInput, UsageRequest, WaitOptions } from './types.js';

/*
 * Every check of the limiter's per-call input, each with the exact message a
 * caller needs: ids, scopes, limit sets, costs, waits, signals, entities and
 * usage queries. Nothing here touches the store.
 */

/** Validates the request of `acquire`/`tryAcquire` itself: an object (its fields are checked where read). */
export function validateRequest(request: unknown): asserts request is object {
  if (typeof request !== 'object' || request === null) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_KEY',
      // The type only: a string here may well be the key itself.
      `Expected a request object such as \`{ entity: 'key-1' }\`, got ${request === null ? 'null' : `a ${typeof request}`}`,
      'entity',
    );
  }
}

/** Validates the entity and resource of a call; returns the resource with its default. */
export function validateTarget(entity: unknown, resource: unknown): string {
  validateId(entity, 'entity');
  if (resource === undefined) return DEFAULT_RESOURCE;
  validateId(resource, 'resource');
  return resource;
}

/** Validates a per-call `limits` override. */
export function validateOverride(limits: unknown): readonly Limit[] | undefined {
  if (limits === undefined) return undefined;
  if (!Array.isArray(limits) || limits.length === 0) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_LIMIT',
      `Expected \`limits\` to be a non-empty array of Limit, got ${describeValue(limits)}`,
      'limits',
    );
  }
  assertUniqueLimitNames(limits);
  return limits;
}

/**
 * Validates a map of limit name → token count (for `consume` and `adjust`).
 * `allowNegative` permits refunds in `adjust`.
 */
export function validateConsumption(
  value: unknown,
  field: string,
  allowNegative = false,
): Map<string, number> {
  if (!isPlainObject(value)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_COST',
      `Expected \`${field}\` to be a plain object of limit name → tokens, got ${describeValue(value)}`,
      field,
    );
  }
  const costs = new Map<string, number>();
  for (const name of Object.keys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, name);
    // A getter could answer differently on every read: only data properties are costs.
    const cost: unknown = descriptor && 'value' in descriptor ? descriptor.value : undefined;
    if (!LIMIT_NAME_PATTERN.test(name)) {
      throw new ValidationError(
        'ERR_TOLLGATE_UNKNOWN_LIMIT',
        `\`${field}\` names an invalid limit ${describeValue(name)}`,
        field,
      );
    }
    const valid = typeof cost === 'number' && Number.isSafeInteger(cost) && (allowNegative || cost >= 0);
    if (!valid) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_COST',
        `Expected \`${field}.${name}\` to be a ${allowNegative ? '' : 'non-negative '}integer, got ${describeValue(cost)}`,
        `${field}.${name}`,
      );
    }
    costs.set(name, cost);
  }
  return costs;
}

/**
 * True for `{ ... }` literals and `Object.create(null)`: not a Map, an array,
 * a class instance or an object that inherits its costs (which
 * `Object.entries` would not see, charging nothing).
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Validates a limit scope; returns it with the entity id as stored (see `longKeys`). */
export function validateScope(scope: unknown, longKeys: LongKeyPolicy): LimitScope {
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected a scope like { entity?, resource? }, got ${describeValue(scope)}`,
      'scope',
    );
  }
  const { entity, resource } = scope as LimitScope;
  const entityId = entity === undefined ? undefined : entityIdOf(entity, 'entity', longKeys);
  if (resource !== undefined) validateId(resource, 'resource');
  return {
    ...(entityId === undefined ? {} : { entity: entityId }),
    ...(resource === undefined ? {} : { resource }),
  };
}

/** Validates the target of `reset`; returns it with the entity id as stored. */
export function validateResetScope(scope: unknown, longKeys: LongKeyPolicy): ResetScope {
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected { entity, resource? }, got ${describeValue(scope)}`,
      'scope',
    );
  }
  const { entity, resource } = scope as ResetScope;
  const entityId = entityIdOf(entity, 'entity', longKeys);
  if (resource !== undefined) validateId(resource, 'resource');
  return resource === undefined ? { entity: entityId } : { entity: entityId, resource };
}

export function validateSignal(signal: unknown, field: string): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`${field}\` to be an AbortSignal, got ${describeValue(signal)}`,
      field,
    );
  }
}

export function validateWait(wait: WaitOptions): void {
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

export function toMs(value: number | Date | undefined, field: string): number | undefined {
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

/** Validates the limit set given to `setLimits`: a non-empty array of uniquely named limits. */
export function validateLimitSet(limits: unknown): asserts limits is readonly Limit[] {
  if (!Array.isArray(limits) || limits.length === 0) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_LIMIT',
      `Expected a non-empty array of Limit (use deleteLimits to remove a set), got ${describeValue(limits)}`,
      'limits',
    );
  }
  assertUniqueLimitNames(limits);
}

/**
 * Validates the shape, id and parent id of a `createEntity` input (before its
 * parent is looked up); returns both ids as stored (see `longKeys`).
 */
export function validateEntityIds(
  input: unknown,
  longKeys: LongKeyPolicy,
): { id: string; parent: string | undefined } {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected an entity object, got ${describeValue(input)}`,
    );
  }
  const fields = input as CreateEntityInput;
  const id = entityIdOf(fields.id, 'id', longKeys);
  const parent = fields.parent === undefined ? undefined : entityIdOf(fields.parent, 'parent', longKeys);
  if (parent === id) throw ownParent(id);
  return { id, parent };
}

function ownParent(id: string): EntityError {
  return new EntityError('ERR_TOLLGATE_ENTITY_CYCLE', id, `Entity \`${id}\` cannot be its own parent`);
}

const ENTITY_CHANGE_FIELDS = new Set(['parent', 'cascade', 'name', 'metadata']);

/**
 * Validates the changes of an `updateEntity` call (before the new parent is
 * looked up); returns them with the parent id as stored. `id` is the stored
 * id of the entity being changed.
 */
export function validateEntityChanges(id: string, changes: unknown, longKeys: LongKeyPolicy): EntityChanges {
  if (!isPlainObject(changes)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected changes like { parent?, cascade?, name?, metadata? }, got ${describeValue(changes)}`,
      'changes',
    );
  }
  for (const field of Object.keys(changes)) {
    if (!ENTITY_CHANGE_FIELDS.has(field)) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `\`${field}\` cannot be changed: updateEntity takes parent, cascade, name and metadata`,
        field,
      );
    }
  }
  const { parent, cascade, name, metadata } = changes as UpdateEntityInput;
  const parentId = parent === undefined || parent === null ? parent : entityIdOf(parent, 'parent', longKeys);
  if (parentId === id) throw ownParent(id);
  if (name !== undefined && name !== null && typeof name !== 'string') {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`name\` to be a string or null, got ${describeValue(name)}`,
      'name',
    );
  }
  validateEntityFields({ cascade, metadata: metadata ?? undefined });
  return {
    ...(parentId === undefined ? {} : { parent: parentId }),
    ...(cascade === undefined ? {} : { cascade }),
    ...(name === undefined ? {} : { name }),
    ...(metadata === undefined ? {} : { metadata }),
  };
}

/** Validates the `cascade` flag and `metadata` of a `createEntity` or `updateEntity` input. */
export function validateEntityFields(input: { cascade?: unknown; metadata?: unknown }): void {
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
}

/** Validates the entity, resource and window of a usage query; returns the entity id as stored. */
export function validateUsageRequest(request: UsageRequest, longKeys: LongKeyPolicy): string {
  if (typeof request !== 'object' || request === null) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected { entity, resource?, window, from?, to? }, got ${describeValue(request)}`,
    );
  }
  const entity = entityIdOf(request.entity, 'entity', longKeys);
  if (request.resource !== undefined) validateId(request.resource, 'resource');
  if (request.window !== 'hour' && request.window !== 'day') {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`window\` to be 'hour' or 'day', got ${describeValue(request.window)}`,
      'window',
    );
  }
  return entity;
}
