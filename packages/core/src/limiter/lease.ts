import { LeaseClosedError, ValidationError } from '../errors.js';
import type { Limit } from '../limit.js';
import type { BucketAdjustment, BucketCharge } from '../store/store.js';
import { validateConsumption } from './plan.js';
import type { Consumption } from './types.js';

/** A bucket the lease charged, with every limit it has (an adjust may touch a limit charged 0). */
export interface LeaseBucket extends BucketCharge {
  readonly limits: readonly Limit[];
}

/** What a lease is made of: the planned buckets (with their limits) and what was charged on each. */
export interface LeaseInit {
  entity: string;
  resource: string;
  buckets: readonly { readonly limits: readonly Limit[] }[];
  charges: readonly BucketCharge[];
  settler: LeaseSettler;
  degraded: boolean;
}

/** How a lease writes its adjustments; provided by the limiter. */
export interface LeaseSettler {
  settle(adjustments: BucketAdjustment[]): Promise<void>;
}

/**
 * The tokens one admitted request holds. Adjustments are collected locally and
 * written once, at {@link Lease.commit}; {@link Lease.rollback} refunds what the
 * lease took. After either, the lease is closed.
 *
 * @example
 * const lease = await limiter.acquire({ entity: 'key-1', consume: { rpm: 1, tpm: 500 } });
 * await lease.adjust({ tpm: 242 });   // the model used 742 tokens
 * await lease.commit();
 */
export class Lease implements AsyncDisposable {
  /** The entity that was charged (ancestors are charged the same, with cascade). */
  readonly entity: string;
  readonly resource: string;
  /** True when the store was unavailable and the request was admitted without a charge. */
  readonly degraded: boolean;
  private readonly init: LeaseInit;
  private zipped: readonly LeaseBucket[] | undefined;
  private readonly pending = new Map<string, number>();
  private readonly settler: LeaseSettler;
  private closed = false;

  /** @internal Created by `RateLimiter`. */
  constructor(init: LeaseInit) {
    this.entity = init.entity;
    this.resource = init.resource;
    this.degraded = init.degraded;
    this.settler = init.settler;
    this.init = init;
  }

  /** Each charged bucket with all of its limits, built on first use (plain commits never need it). */
  private get charged(): readonly LeaseBucket[] {
    this.zipped ??= this.init.charges.map((charge, index) => ({
      entity: charge.entity,
      resource: charge.resource,
      charges: charge.charges,
      limits: this.init.buckets[index]?.limits ?? [],
    }));
    return this.zipped;
  }

  /** Tokens held per limit name (the charge plus pending adjustments) on the entity's own bucket. */
  get consumed(): Consumption {
    const totals: Record<string, number> = {};
    for (const { limit, cost } of this.charged[0]?.charges ?? []) totals[limit.name] = cost;
    for (const [name, delta] of this.pending) totals[name] = (totals[name] ?? 0) + delta;
    return totals;
  }

  /** True once committed, rolled back or released. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Changes what the request costs: positive = more (may go into debt; never
   * refused), negative = less (a refund). Applied once, at commit, to the
   * entity and every ancestor the lease charged.
   */
  async adjust(delta: Consumption): Promise<void> {
    if (this.closed) throw new LeaseClosedError('adjust');
    const changes = validateConsumption(delta, 'adjust', true);
    const known = new Set(this.charged.flatMap((bucket) => bucket.limits.map((limit) => limit.name)));
    const consumed = this.consumed;
    for (const [name, change] of changes) {
      if (!known.has(name) && !this.degraded) {
        throw new ValidationError(
          'ERR_TOLLGATE_UNKNOWN_LIMIT',
          `Cannot adjust \`${name}\`: the limits of this lease are ${[...known].map((n) => `\`${n}\``).join(', ')}`,
          `adjust.${name}`,
        );
      }
      if ((consumed[name] ?? 0) + change < 0) {
        throw new ValidationError(
          'ERR_TOLLGATE_INVALID_COST',
          `Cannot adjust \`${name}\` by ${change}: the lease holds only ${consumed[name] ?? 0}`,
          `adjust.${name}`,
        );
      }
    }
    for (const [name, change] of changes) this.pending.set(name, (this.pending.get(name) ?? 0) + change);
  }

  /** Writes pending adjustments (nothing to write costs no round trip) and closes the lease. */
  async commit(): Promise<void> {
    if (this.closed) throw new LeaseClosedError('commit');
    if (this.pending.size === 0) {
      this.closed = true;
      return;
    }
    await this.write(this.adjustments((name) => this.pending.get(name) ?? 0));
    this.closed = true;
  }

  /** Refunds everything the lease took and closes it. Pending adjustments are dropped. */
  async rollback(): Promise<void> {
    if (this.closed) throw new LeaseClosedError('rollback');
    await this.write(
      this.charged.map((bucket) => ({
        entity: bucket.entity,
        resource: bucket.resource,
        adjustments: bucket.charges.map(({ limit, cost }) => ({ limit, delta: -cost })),
      })),
    );
    this.closed = true;
  }

  /** Commits if still open; does nothing if already closed. For `await using`. */
  async release(): Promise<void> {
    if (!this.closed) await this.commit();
  }

  /** `await using lease = await limiter.acquire(...)` commits at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private adjustments(deltaOf: (name: string) => number): BucketAdjustment[] {
    return this.charged.flatMap((bucket) => {
      const adjustments = bucket.limits.flatMap((limit) => {
        const delta = deltaOf(limit.name);
        return delta === 0 ? [] : [{ limit, delta }];
      });
      return adjustments.length > 0
        ? [{ entity: bucket.entity, resource: bucket.resource, adjustments }]
        : [];
    });
  }

  private async write(adjustments: BucketAdjustment[]): Promise<void> {
    if (this.degraded || adjustments.length === 0) return;
    await this.settler.settle(adjustments);
  }
}
