import type { LimitStatus } from './limiter/types.js';

/** Every stable error code Tollgate throws. Each one is explained in docs/errors.md. */
export type TollgateErrorCode =
  | 'ERR_TOLLGATE_RATE_LIMITED'
  | 'ERR_TOLLGATE_UNAVAILABLE'
  | 'ERR_TOLLGATE_INVALID_OPTION'
  | 'ERR_TOLLGATE_INVALID_LIMIT'
  | 'ERR_TOLLGATE_INVALID_KEY'
  | 'ERR_TOLLGATE_INVALID_COST'
  | 'ERR_TOLLGATE_UNKNOWN_LIMIT'
  | 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY'
  | 'ERR_TOLLGATE_NO_LIMITS'
  | 'ERR_TOLLGATE_ENTITY_NOT_FOUND'
  | 'ERR_TOLLGATE_ENTITY_EXISTS'
  | 'ERR_TOLLGATE_ENTITY_HAS_CHILDREN'
  | 'ERR_TOLLGATE_ENTITY_CYCLE'
  | 'ERR_TOLLGATE_LEASE_CLOSED';

/**
 * Base class of every error Tollgate throws. `code` is stable across releases.
 *
 * Use {@link isTollgateError} rather than `instanceof` when two copies of the
 * package may be installed.
 */
export class TollgateError extends Error {
  /** Stable machine-readable code, documented in docs/errors.md. */
  readonly code: TollgateErrorCode;

  constructor(code: TollgateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'TollgateError';
  }
}

/** Thrown by `acquire` when any limit is short; nothing was charged. */
export class RateLimitExceeded extends TollgateError {
  /** The state of every limit checked by the call, violated or not. */
  readonly statuses: readonly LimitStatus[];
  /** Milliseconds until the request could be admitted: the maximum over violated limits. */
  readonly retryAfterMs: number;

  constructor(statuses: readonly LimitStatus[], retryAfterMs: number) {
    const violated = statuses.filter((status) => status.exceeded);
    const names = violated.map((status) => `${status.entity}/${status.resource}/${status.limit}`).join(', ');
    super('ERR_TOLLGATE_RATE_LIMITED', `Rate limit exceeded (${names}); retry in ${retryAfterMs} ms`);
    this.name = 'RateLimitExceeded';
    this.statuses = statuses;
    this.retryAfterMs = retryAfterMs;
  }

  /** The JSON body the HTTP adapters send with a 429. */
  toJSON(): RateLimitExceededBody {
    return {
      error: 'rate_limit_exceeded',
      message: this.message,
      retryAfterMs: this.retryAfterMs,
      limits: this.statuses.map((status) => ({ ...status })),
    };
  }
}

/** The JSON shape of {@link RateLimitExceeded.toJSON}. */
export interface RateLimitExceededBody {
  error: 'rate_limit_exceeded';
  message: string;
  retryAfterMs: number;
  limits: LimitStatus[];
}

/**
 * The store could not answer in time or failed. Never a limit decision: the
 * limiter applies `onUnavailable` ('block' throws this, 'allow' admits degraded).
 */
export class RateLimiterUnavailable extends TollgateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TOLLGATE_UNAVAILABLE', message, options);
    this.name = 'RateLimiterUnavailable';
  }
}

/** Input that cannot be used: a bad option, key, cost or limit. Nothing was charged or written. */
export class ValidationError extends TollgateError {
  /** The option or argument that was rejected, e.g. `consume.tpm` or `timeoutMs`. */
  readonly field: string | undefined;

  constructor(code: TollgateErrorCode, message: string, field?: string) {
    super(code, message);
    this.name = 'ValidationError';
    this.field = field;
  }

  /** A JSON body for a 400 response. */
  toJSON(): { error: 'invalid_request'; code: TollgateErrorCode; message: string; field?: string } {
    return {
      error: 'invalid_request',
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
    };
  }
}

/** An entity operation failed: missing entity, duplicate id, children present. */
export class EntityError extends TollgateError {
  /** The entity id the operation was about. */
  readonly entity: string;

  constructor(code: TollgateErrorCode, entity: string, message: string) {
    super(code, message);
    this.name = 'EntityError';
    this.entity = entity;
  }
}

/** A lease was used after `commit`, `rollback` or `release`. */
export class LeaseClosedError extends TollgateError {
  /**
   * @param operation what was attempted (`commit`, `rollback`, `adjust`)
   * @param settledBy how the lease was settled, when known
   */
  constructor(operation: string, settledBy?: 'commit' | 'rollback') {
    super(
      'ERR_TOLLGATE_LEASE_CLOSED',
      settledBy === undefined
        ? `Cannot ${operation}: the lease is already closed`
        : `Cannot ${operation}: the lease is already ${settledBy === 'commit' ? 'committed' : 'rolled back'} (a lease is settled exactly once)`,
    );
    this.name = 'LeaseClosedError';
  }
}

/**
 * True for any Tollgate error, including one thrown by another installed copy
 * of the package (checks `code`, not only the prototype chain).
 *
 * @example
 * if (isTollgateError(err) && err.code === 'ERR_TOLLGATE_RATE_LIMITED') { ... }
 */
export function isTollgateError(error: unknown): error is TollgateError {
  if (error instanceof TollgateError) return true;
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_TOLLGATE_');
}

/** True for a limit rejection, across duplicate installs. */
export function isRateLimitExceeded(error: unknown): error is RateLimitExceeded {
  return isTollgateError(error) && error.code === 'ERR_TOLLGATE_RATE_LIMITED';
}

/** True for a store failure, across duplicate installs. */
export function isRateLimiterUnavailable(error: unknown): error is RateLimiterUnavailable {
  return isTollgateError(error) && error.code === 'ERR_TOLLGATE_UNAVAILABLE';
}

/** Describes a value for error messages: "`-1` (number)". */
export function describeValue(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function') shown = 'function';
  else {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
  }
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}
