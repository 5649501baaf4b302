import { describeValue, EntityError, ValidationError } from '../errors.js';
import { DEFAULT_RESOURCE, validateId } from '../ids.js';
import { assertUniqueLimitNames, LIMIT_NAME_PATTERN, type Limit } from '../limit.js';
import type { LimitScope } from '../store/store.js';
import type { CreateEntityInput, UsageRequest, WaitOptions } from './types.js';

/*
 * Every check of the limiter's per-call input, each with the exact message a
 * caller needs: ids, scopes, limit sets, costs, waits, signals, entities and
 * usage queries. Nothing here touches the store.
 */

/** Validates the entity and resource of a call; returns the resource with its default. */
export function validateTarget(entity: unknown, resource: unknown): string {
  validateId(entity, 'entity');
  const chosen = resource ?? DEFAULT_RESOURCE;
  validateId(chosen, 'resource');
  return chosen;
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

export function validateScope(scope: unknown): LimitScope {
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

/** Validates the shape, id and parent id of a `createEntity` input (before its parent is looked up). */
export function validateEntityIds(input: unknown): asserts input is CreateEntityInput {
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected an entity object, got ${describeValue(input)}`,
    );
  }
  const { id, parent } = input as CreateEntityInput;
  validateId(id, 'id');
  if (parent !== undefined) {
    validateId(parent, 'parent');
    if (parent === id) {
      throw new EntityError('ERR_TOLLGATE_ENTITY_CYCLE', id, `Entity \`${id}\` cannot be its own parent`);
    }
  }
}

/** Validates the `cascade` flag and `metadata` of a `createEntity` input. */
export function validateEntityFields(input: CreateEntityInput): void {
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

/** Validates the entity, resource and window of a usage query. */
export function validateUsageRequest(request: UsageRequest): void {
  validateId(request.entity, 'entity');
  if (request.resource !== undefined) validateId(request.resource, 'resource');
  if (request.window !== 'hour' && request.window !== 'day') {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`window\` to be 'hour' or 'day', got ${describeValue(request.window)}`,
      'window',
    );
  }
}
