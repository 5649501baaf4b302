import { describeValue, ValidationError } from './errors.js';

/** Limit names: a letter, then letters, digits, `_`, `.` or `-`; at most 64 characters. */
export const LIMIT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const NS_PER_MS = 1_000_000n;
const MAX_TOKENS = 1e15;
const MAX_PERIOD_MS = 366 * 24 * 60 * 60 * 1000;

/** The serializable description of a limit, as stored in the database and printed by the CLI. */
export interface LimitDefinition {
  /** Name used in `consume`, statuses and headers, e.g. `rpm`. */
  name: string;
  /** Burst ceiling: the most tokens the bucket holds. A new bucket starts full. */
  capacity: number;
  /** Tokens added every `refillPeriodMs`, continuously. */
  refillAmount: number;
  /** Refill period in milliseconds. */
  refillPeriodMs: number;
}

/** Options of the `Limit.per*` constructors. */
export interface RateOptions {
  /** Capacity of the bucket (the largest burst); defaults to the rate. */
  burst?: number;
}

/**
 * A token bucket: `capacity` tokens, refilled continuously at
 * `refillAmount / refillPeriodMs`. Immutable and validated at construction.
 *
 * The GCRA form used by the math: one token every `emissionIntervalNs`
 * (rounded up to a whole nanosecond, so refill is never faster than
 * configured), and `tauNs = capacity × emissionIntervalNs`.
 *
 * @example
 * const limits = [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000, { burst: 20_000 })];
 */
export class Limit implements LimitDefinition {
  readonly name: string;
  readonly capacity: number;
  readonly refillAmount: number;
  readonly refillPeriodMs: number;
  /** Nanoseconds per token (GCRA's T), rounded up. */
  readonly emissionIntervalNs: bigint;
  /** Burst tolerance in nanoseconds (GCRA's tau): `capacity × emissionIntervalNs`. */
  readonly tauNs: bigint;

  private constructor(definition: LimitDefinition) {
    this.name = definition.name;
    this.capacity = definition.capacity;
    this.refillAmount = definition.refillAmount;
    this.refillPeriodMs = definition.refillPeriodMs;
    const periodNs = BigInt(this.refillPeriodMs) * NS_PER_MS;
    const amount = BigInt(this.refillAmount);
    this.emissionIntervalNs = (periodNs + amount - 1n) / amount;
    this.tauNs = BigInt(this.capacity) * this.emissionIntervalNs;
    Object.freeze(this);
  }

  /** `rate` tokens per second. */
  static perSecond(name: string, rate: number, options?: RateOptions): Limit {
    return Limit.perPeriod(name, rate, 1000, options);
  }

  /** `rate` tokens per minute. */
  static perMinute(name: string, rate: number, options?: RateOptions): Limit {
    return Limit.perPeriod(name, rate, 60_000, options);
  }

  /** `rate` tokens per hour. */
  static perHour(name: string, rate: number, options?: RateOptions): Limit {
    return Limit.perPeriod(name, rate, 3_600_000, options);
  }

  /** `rate` tokens per day. */
  static perDay(name: string, rate: number, options?: RateOptions): Limit {
    return Limit.perPeriod(name, rate, 86_400_000, options);
  }

  /**
   * Any bucket shape.
   *
   * @example
   * Limit.custom({ name: 'uploads', capacity: 5, refillAmount: 1, refillPeriodMs: 10_000 })
   */
  static custom(definition: LimitDefinition): Limit {
    if (typeof definition !== 'object' || definition === null) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_LIMIT',
        `Expected a limit definition object, got ${describeValue(definition)}`,
      );
    }
    const { name, capacity, refillAmount, refillPeriodMs } = definition;
    validateLimitName(name);
    validateWhole(name, 'capacity', capacity, MAX_TOKENS);
    validateWhole(name, 'refillAmount', refillAmount, MAX_TOKENS);
    validateWhole(name, 'refillPeriodMs', refillPeriodMs, MAX_PERIOD_MS);
    if (BigInt(refillPeriodMs) * NS_PER_MS < BigInt(refillAmount)) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_LIMIT',
        `Limit \`${name}\` refills faster than one token per nanosecond (${refillAmount} per ${refillPeriodMs} ms)`,
        'refillAmount',
      );
    }
    return new Limit({ name, capacity, refillAmount, refillPeriodMs });
  }

  /** Rebuilds a limit from its stored definition (validating it again). */
  static fromDefinition(definition: LimitDefinition): Limit {
    return Limit.custom(definition);
  }

  private static perPeriod(name: string, rate: number, periodMs: number, options?: RateOptions): Limit {
    validateLimitName(name);
    validateWhole(name, 'rate', rate, MAX_TOKENS);
    const burst = options?.burst ?? rate;
    validateWhole(name, 'burst', burst, MAX_TOKENS);
    return Limit.custom({ name, capacity: burst, refillAmount: rate, refillPeriodMs: periodMs });
  }

  /** The plain definition (what is stored and serialized). */
  toJSON(): LimitDefinition {
    return {
      name: this.name,
      capacity: this.capacity,
      refillAmount: this.refillAmount,
      refillPeriodMs: this.refillPeriodMs,
    };
  }

  /** Human-readable form, e.g. `rpm: 100/60s, burst 100`. */
  toString(): string {
    return `${this.name}: ${this.refillAmount}/${this.refillPeriodMs / 1000}s, burst ${this.capacity}`;
  }
}

/** Throws `ERR_TOLLGATE_INVALID_LIMIT` unless `name` is a valid limit name. */
export function validateLimitName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !LIMIT_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_LIMIT',
      `Expected a limit name matching ${LIMIT_NAME_PATTERN}, got ${describeValue(name)}`,
      'name',
    );
  }
}

function validateWhole(
  limitName: string,
  field: string,
  value: unknown,
  max: number,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > max) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_LIMIT',
      `Expected \`${field}\` of limit \`${limitName}\` to be a positive integer up to ${max}, got ${describeValue(value)}`,
      field,
    );
  }
}

/** Throws `ERR_TOLLGATE_INVALID_LIMIT` unless every entry is a `Limit` and no two share a name. */
export function assertUniqueLimitNames(limits: readonly Limit[]): void {
  checkLimitSet(limits, true);
}

/**
 * Throws `ERR_TOLLGATE_INVALID_LIMIT` when two limits in one set share a name.
 * Checks names only, not the class: a store may receive limits built by
 * another installed copy of this package.
 */
export function assertDistinctLimitNames(limits: readonly { readonly name: string }[]): void {
  checkLimitSet(limits, false);
}

function checkLimitSet(limits: readonly { readonly name: string }[], requireLimit: boolean): void {
  const seen = new Set<string>();
  for (const limit of limits) {
    if (requireLimit && !(limit instanceof Limit)) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_LIMIT',
        `Expected a Limit (from Limit.perMinute(...) etc.), got ${describeValue(limit)}`,
      );
    }
    if (seen.has(limit.name)) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_LIMIT',
        `Duplicate limit name \`${limit.name}\``,
        'name',
      );
    }
    seen.add(limit.name);
  }
}
