import { settlementsObserved, traceSettlement } from '../diagnostics.js';
import { LeaseClosedError, ValidationError } from '../errors.js';
import type { Limit } from '../limit.js';
import type { BucketAdjustment, BucketCharge } from '../store/store.js';
import type { Consumption } from '../types.js';
import { validateConsumption } from './validation.js';

/** A bucket the lease charged, with every limit it has (an adjust may touch a limit charged 0). */
export interface LeaseBucket extends BucketCharge {
  readonly limits: readonly Limit[];
}

/** A planned bucket as a lease reads it: its limits. */
interface PlannedLimits {
  readonly limits: readonly Limit[];
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
  private zipped: readonly LeaseBucket[] | undefined;
  /** Adjustments not yet written, per limit name; made on the first `adjust` (most leases have none). */
  private pending: Map<string, number> | undefined;
  private readonly settler: LeaseSettler;
  /** Set synchronously by the first settle call, so a racing one can never write again. */
  private settlement: Settlement | undefined;

  /**
   * @internal Created by `RateLimiter`, from the planned buckets (with their
   * limits) and what was charged on each. Positional, so that the hot path
   * allocates no options object.
   */
  constructor(
    entity: string,
    resource: string,
    private readonly buckets: readonly PlannedLimits[],
    private readonly charges: readonly BucketCharge[],
    settler: LeaseSettler,
    degraded: boolean,
  ) {
    this.entity = entity;
    this.resource = resource;
    this.degraded = degraded;
    this.settler = settler;
  }

  /** Each charged bucket with all of its limits, built on first use (plain commits never need it). */
  private get charged(): readonly LeaseBucket[] {
    this.zipped ??= this.charges.map((charge, index) => ({
      entity: charge.entity,
      resource: charge.resource,
      charges: charge.charges,
      limits: this.buckets[index]?.limits ?? [],
    }));
    return this.zipped;
  }

  /**
   * Tokens held per limit name (the charge plus pending adjustments) on the
   * entity's own bucket. A null-prototype object: any valid limit name,
   * `constructor` included, is an own key or absent.
   */
  get consumed(): Consumption {
    const totals: Record<string, number> = Object.create(null);
    for (const { limit, cost } of this.charged[0]?.charges ?? []) totals[limit.name] = cost;
    for (const [name, delta] of this.pending ?? []) totals[name] = (totals[name] ?? 0) + delta;
    return totals;
  }

  /** True from the moment a commit, rollback or release starts (not only once its write is done). */
  get isClosed(): boolean {
    return this.settlement !== undefined;
  }

  /** How the lease was settled (or is being settled): `'commit'`, `'rollback'`, or undefined while open. */
  get settledBy(): 'commit' | 'rollback' | undefined {
    return this.settlement?.kind;
  }

  /**
   * Changes what the request costs: positive = more (may go into debt; never
   * refused), negative = less (a refund). Applied once, at commit, to the
   * entity and every ancestor the lease charged.
   */
  async adjust(delta: Consumption): Promise<void> {
    if (this.settlement) throw new LeaseClosedError('adjust');
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
    this.pending ??= new Map();
    const pending = this.pending;
    for (const [name, change] of changes) pending.set(name, (pending.get(name) ?? 0) + change);
  }

  /**
   * Writes pending adjustments (nothing to write costs no round trip) and
   * closes the lease. A lease is settled exactly once: a concurrent `commit`
   * shares the first one's outcome; a `rollback` racing it, or any settle call
   * after it finished, throws `LeaseClosedError`.
   */
  commit(): Promise<void> {
    // Nothing adjusted and nobody tracing: the charge already stands as a
    // commit leaves it, so there is nothing to write or wait for.
    if (this.settlement === undefined && this.pending === undefined && !settlementsObserved()) {
      this.settlement = COMMITTED;
      return SETTLED;
    }
    return this.settle('commit', () =>
      this.pending === undefined || this.pending.size === 0
        ? []
        : this.adjustments((name) => this.pending?.get(name) ?? 0),
    );
  }

  /**
   * Refunds everything the lease took and closes it; pending adjustments are
   * dropped. Settled exactly once, like {@link commit}.
   */
  rollback(): Promise<void> {
    return this.settle('rollback', () =>
      this.charged.map((bucket) => ({
        entity: bucket.entity,
        resource: bucket.resource,
        adjustments: bucket.charges.map(({ limit, cost }) => ({ limit, delta: -cost })),
      })),
    );
  }

  /**
   * Commits if still open; otherwise resolves with the outcome of the settle
   * already under way or done (never a second write). For `await using`.
   */
  release(): Promise<void> {
    return this.settlement ? this.settlement.done.then(noop, noop) : this.commit();
  }

  /** `await using lease = await limiter.acquire(...)` commits at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private settle(kind: Settlement['kind'], adjustments: () => BucketAdjustment[]): Promise<void> {
    const { settlement } = this;
    if (settlement) {
      if (settlement.kind === kind && settlement.inFlight) return settlement.done;
      return Promise.reject(new LeaseClosedError(kind, settlement.kind));
    }
    // Claim the lease before any await: whoever calls second sees it taken.
    const started: Settlement = { kind, inFlight: true, done: Promise.resolve() };
    this.settlement = started;
    let done: Promise<void>;
    try {
      done = traceSettlement(this, kind, () => this.write(adjustments()));
    } catch (error) {
      done = Promise.reject(error);
    }
    started.done = done.finally(() => {
      started.inFlight = false;
    });
    return started.done;
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

/** The one settle call a lease accepts. */
interface Settlement {
  readonly kind: 'commit' | 'rollback';
  inFlight: boolean;
  done: Promise<void>;
}

function noop(): void {}

/** A settlement that needed no write: shared, since it is never changed. */
const SETTLED: Promise<void> = Promise.resolve();

/** True for what `commit` returns when it had nothing to write: already resolved, never rejects. */
export function settledWithoutWrite(settling: Promise<void>): boolean {
  return settling === SETTLED;
}
const COMMITTED: Settlement = Object.freeze({ kind: 'commit', inFlight: false, done: SETTLED });
