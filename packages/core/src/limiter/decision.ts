import { RateLimitExceeded } from '../errors.js';
import { nsToMsCeil } from '../math/time.js';
import type { BucketCharge, BucketState, ChargeResult } from '../store/store.js';
import type { LimitStatus } from '../types.js';
import { Lease, type LeaseSettler } from './lease.js';
import type { PlannedBucket } from './plan.js';
import { statusesOf } from './statuses.js';

/** The answer of `tryAcquire`. */
export type Decision =
  | {
      readonly allowed: true;
      readonly lease: Lease;
      readonly statuses: readonly LimitStatus[];
      /** True when the store was unavailable and `onUnavailable: 'allow'` let the request through. */
      readonly degraded: boolean;
    }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      readonly statuses: readonly LimitStatus[];
      /** The error `acquire` would have thrown. */
      readonly error: RateLimitExceeded;
      readonly degraded: false;
    };

/**
 * An admitted decision. Statuses cost BigInt math per limit and many callers
 * never read them (nor the lease, when they only check `allowed`), so both
 * are made on first access: a class, so the getters live on the prototype
 * and the hot path allocates one object.
 */
export class AdmittedDecision {
  readonly allowed = true;
  readonly degraded = false;
  private computed: readonly LimitStatus[] | undefined;
  private made: Lease | undefined;

  constructor(
    private readonly entity: string,
    private readonly resource: string,
    private readonly settler: LeaseSettler,
    private readonly buckets: readonly PlannedBucket[],
    private readonly charges: readonly BucketCharge[],
    /** The store's answer: its states are read only for the statuses. */
    private readonly charged: ChargeResult,
    private readonly nowNs: bigint,
  ) {}

  /** The lease on what was taken. Until it is settled, the charge stands as a plain commit would leave it. */
  get lease(): Lease {
    this.made ??= new Lease(this.entity, this.resource, this.buckets, this.charges, this.settler, false);
    return this.made;
  }

  get statuses(): readonly LimitStatus[] {
    this.computed ??= statusesOf(this.buckets, this.charges, this.charged.buckets, this.nowNs, true);
    return this.computed;
  }
}

/** A refusal that waits `waitNs` (at least 1 ms is reported), with every limit's status. */
export function rejectedDecision(
  buckets: readonly PlannedBucket[],
  charges: readonly BucketCharge[],
  states: readonly BucketState[],
  nowNs: bigint,
  waitNs: bigint,
): Decision {
  const statuses = statusesOf(buckets, charges, states, nowNs, false);
  const retryAfterMs = Math.max(1, nsToMsCeil(waitNs));
  const error = new RateLimitExceeded(statuses, retryAfterMs);
  return { allowed: false, retryAfterMs, statuses, error, degraded: false };
}

/** Admitted without a charge: the store was unavailable and `onUnavailable` is `'allow'`. */
export function degradedDecision(lease: Lease): Decision {
  return { allowed: true, degraded: true, statuses: [], lease };
}
