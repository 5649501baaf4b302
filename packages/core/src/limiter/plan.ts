import { ValidationError } from '../errors.js';
import type { Limit } from '../limit.js';
import type { BucketCharge, LimitCharge, LimitScope } from '../store/store.js';
import type { Consumption } from '../types.js';
import type { ConfigView } from './config-cache.js';
import { validateConsumption } from './validation.js';

/**
 * One bucket an acquire touches: the entity's own (depth 0) or an ancestor's.
 * It is also the default charge of that bucket (1 of every limit), so an
 * acquire without `consume` hands the plan itself to the store.
 */
export interface PlannedBucket extends BucketCharge {
  readonly depth: number;
  readonly limits: readonly Limit[];
}

const unitCharges = new WeakMap<Limit, LimitCharge>();

/** 1 of every limit in `limits` (one shared, frozen charge object per limit). */
export function unitChargesOf(limits: readonly Limit[]): readonly LimitCharge[] {
  return limits.map((limit) => {
    let charge = unitCharges.get(limit);
    if (charge === undefined) {
      charge = Object.freeze({ limit, cost: 1 });
      unitCharges.set(limit, charge);
    }
    return charge;
  });
}

/** A planned bucket of `limits`, whose default charge is 1 of each (`charges`, when already built). */
export function plannedBucket(
  entity: string,
  resource: string,
  depth: number,
  limits: readonly Limit[],
  charges: readonly LimitCharge[] = unitChargesOf(limits),
): PlannedBucket {
  return { entity, resource, depth, limits, charges };
}

/** Longest parent chain followed; deeper hierarchies are a configuration error. */
export const MAX_CASCADE_DEPTH = 16;

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

/** 1 of every limit of every bucket: the plan is its own default charge. */
export function defaultCharges(buckets: readonly PlannedBucket[]): readonly BucketCharge[] {
  return buckets;
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
): readonly BucketCharge[] {
  if (consume === undefined) return buckets;
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
