import { describeValue, ValidationError } from '../errors.js';
import { DEFAULT_RESOURCE, validateId } from '../ids.js';
import { assertUniqueLimitNames, LIMIT_NAME_PATTERN, type Limit } from '../limit.js';
import type { BucketCharge, LimitScope } from '../store/store.js';
import type { ConfigView } from './config-cache.js';
import type { Consumption } from './types.js';

/** One bucket an acquire touches: the entity's own (depth 0) or an ancestor's. */
export interface PlannedBucket {
  readonly entity: string;
  readonly resource: string;
  readonly depth: number;
  readonly limits: readonly Limit[];
}

/** Longest parent chain followed; deeper hierarchies are a configuration error. */
export const MAX_CASCADE_DEPTH = 16;

/** Validates the entity and resource of a call; returns the resource with its default. */
export function validateTarget(entity: unknown, resource: unknown): string {
  validateId(entity, 'entity');
  const chosen = resource ?? DEFAULT_RESOURCE;
  validateId(chosen, 'resource');
  return chosen;
}

/** The four stored scopes of (entity, resource), most specific first. */
export function scopesOf(entity: string, resource: string): LimitScope[] {
  return [{ entity, resource }, { entity }, { resource }, {}];
}

/**
 * The limits of one bucket: the first stored set in precedence order
 * (entity+resource > entity > resource > system), else the defaults.
 */
export function limitsFor(
  view: ConfigView,
  entity: string,
  resource: string,
  defaults: readonly Limit[],
): readonly Limit[] {
  for (const scope of scopesOf(entity, resource)) {
    const stored = view.limits(scope);
    if (stored && stored.length > 0) return stored;
  }
  return defaults;
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

const defaultChargesByPlan = new WeakMap<readonly PlannedBucket[], BucketCharge[]>();

/** 1 of every limit of every bucket, computed once per (cached) plan. */
export function defaultCharges(buckets: readonly PlannedBucket[]): BucketCharge[] {
  let charges = defaultChargesByPlan.get(buckets);
  if (charges === undefined) {
    charges = chargesFor(buckets, undefined);
    defaultChargesByPlan.set(buckets, charges);
  }
  return charges;
}

/**
 * Turns `consume` into per-bucket charges, validating every entry. Absent
 * `consume` means 1 of every limit of every bucket. A name no bucket has, a
 * cost that is not a non-negative safe integer, or a cost above a limit's
 * capacity is a `ValidationError`.
 */
export function chargesFor(
  buckets: readonly PlannedBucket[],
  consume: Consumption | undefined,
): BucketCharge[] {
  if (consume === undefined) {
    return buckets.map((bucket) => ({
      entity: bucket.entity,
      resource: bucket.resource,
      charges: bucket.limits.map((limit) => ({ limit, cost: 1 })),
    }));
  }
  const costs = validateConsumption(consume, 'consume');
  for (const name of costs.keys()) {
    if (!buckets.some((bucket) => bucket.limits.some((limit) => limit.name === name))) {
      const known = [...new Set(buckets.flatMap((bucket) => bucket.limits.map((limit) => limit.name)))];
      throw new ValidationError(
        'ERR_TOLLGATE_UNKNOWN_LIMIT',
        `\`consume\` names limit \`${name}\`, but the limits that apply are: ${known.map((n) => `\`${n}\``).join(', ') || 'none'}`,
        `consume.${name}`,
      );
    }
  }
  return buckets.map((bucket) => ({
    entity: bucket.entity,
    resource: bucket.resource,
    charges: bucket.limits.flatMap((limit) => {
      const cost = costs.get(limit.name) ?? 0;
      if (cost > limit.capacity) {
        throw new ValidationError(
          'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY',
          `\`consume.${limit.name}\` is ${cost}, above the capacity ${limit.capacity} of \`${bucket.entity}\`; it could never be admitted`,
          `consume.${limit.name}`,
        );
      }
      return cost > 0 ? [{ limit, cost }] : [];
    }),
  }));
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
