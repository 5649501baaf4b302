import type { LimitStatus } from './types.js';

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
  | 'ERR_TOLLGATE_ENTITY_TOO_DEEP'
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

/** Options of the client-facing bodies, {@link RateLimitExceeded.toBody} and {@link ValidationError.toBody}. */
export interface ErrorBodyOptions {
  /**
   * Name entity ids in the body: the caller's own key and its ancestors' ids,
   * and the full `message`. Default false: a body names limits by scope only,
   * so a client learns neither its organisation's internal id nor has its own
   * key echoed back.
   */
  exposeEntities?: boolean;
}

/**
 * Whose limit a status is, relative to the entity that asked: its own
 * (`'self'`, depth 0), its parent's (depth 1) or a further ancestor's (depth 2
 * and up; `depth` says which).
 */
export type LimitOwner = 'self' | 'parent' | 'ancestor';

/** The {@link LimitOwner} of a status at `depth` in the cascade. */
export function limitOwner(depth: number): LimitOwner {
  return depth === 0 ? 'self' : depth === 1 ? 'parent' : 'ancestor';
}

const ANCESTOR_LABELS = ['', 'parent', 'grandparent'];

/**
 * A limit's name as clients see it, with no entity id: `rpm` for the caller's
 * own limit, `parent.rpm`, `grandparent.rpm`, `ancestor3.rpm`, ... for its
 * ancestors'. The draft-8 policy names and the 429 message use it.
 */
export function publicLimitName(status: Pick<LimitStatus, 'limit' | 'depth'>): string {
  if (status.depth === 0) return status.limit;
  return `${ANCESTOR_LABELS[status.depth] ?? `ancestor${status.depth}`}.${status.limit}`;
}

/** One limit of a 429 body: a {@link LimitStatus} whose `entity` is replaced by its `scope`. */
export interface LimitStatusBody extends Omit<LimitStatus, 'entity'> {
  /** Whose limit this is; `depth` tells ancestors apart. */
  scope: LimitOwner;
  /** The entity id: only with `exposeEntities: true`. */
  entity?: string;
}

/**
 * Thrown by `acquire` when any limit is short; nothing was charged.
 *
 * `statuses` and `message` name every entity involved (for logs and
 * server-side code); {@link RateLimitExceeded.toJSON} and
 * {@link RateLimitExceeded.toBody}, which build what is sent to clients, do
 * not unless asked to.
 */
export class RateLimitExceeded extends TollgateError {
  /** The state of every limit checked by the call, violated or not, with entity ids. */
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

  /**
   * The JSON body of a 429. By default it names no entity: each limit carries
   * its `scope` (`'self'`, `'parent'`, `'ancestor'`) and `depth` instead of
   * the entity id, and the message names limits as clients see them in the
   * `RateLimit` headers (`rpm`, `parent.rpm`). With `exposeEntities: true`
   * each limit also has its `entity` and the message is the error's own.
   *
   * @example
   * res.status(429).json(error.toBody());                          // what adapters send by default
   * res.status(429).json(error.toBody({ exposeEntities: true }));  // internal APIs: name the entities
   */
  toBody(options: ErrorBodyOptions = {}): RateLimitExceededBody {
    return rateLimitExceededBody(this, options);
  }

  /** The default 429 body, {@link RateLimitExceeded.toBody} with no entity ids; `JSON.stringify` uses it. */
  toJSON(): RateLimitExceededBody {
    return this.toBody();
  }
}

/** The JSON shape of {@link RateLimitExceeded.toBody}. */
export interface RateLimitExceededBody {
  error: 'rate_limit_exceeded';
  message: string;
  retryAfterMs: number;
  limits: LimitStatusBody[];
}

/**
 * {@link RateLimitExceeded.toBody} from the error's fields alone, so that the
 * HTTP layer can build the body of a rejection thrown by another installed
 * copy of the package, whose class may lack `toBody`.
 */
export function rateLimitExceededBody(
  error: Pick<RateLimitExceeded, 'statuses' | 'retryAfterMs' | 'message'>,
  options: ErrorBodyOptions = {},
): RateLimitExceededBody {
  const expose = options.exposeEntities === true;
  const violated = error.statuses.filter((status) => status.exceeded).map(publicLimitName);
  return {
    error: 'rate_limit_exceeded',
    message: expose
      ? error.message
      : `Rate limit exceeded (${violated.join(', ')}); retry in ${error.retryAfterMs} ms`,
    retryAfterMs: error.retryAfterMs,
    limits: error.statuses.map(({ entity, ...rest }) => ({
      scope: limitOwner(rest.depth),
      ...(expose ? { entity } : {}),
      ...rest,
    })),
  };
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

  /**
   * The client-facing 503 body. It never carries `message`: that names the
   * store's failure (table, endpoint, SDK error), which is for logs only.
   */
  toJSON(): RateLimiterUnavailableBody {
    return rateLimiterUnavailableBody(this);
  }
}

/**
 * {@link RateLimiterUnavailable.toJSON} from the error alone, so that the HTTP
 * layer can answer for an error thrown by another installed copy of the
 * package, whose class may lack `toJSON`.
 */
export function rateLimiterUnavailableBody(_error: RateLimiterUnavailable): RateLimiterUnavailableBody {
  return {
    error: 'rate_limiter_unavailable',
    code: 'ERR_TOLLGATE_UNAVAILABLE',
    message: 'The rate limiter is unavailable; retry shortly',
  };
}

/** The JSON body of a 503 from {@link RateLimiterUnavailable.toJSON}. */
export interface RateLimiterUnavailableBody {
  error: 'rate_limiter_unavailable';
  code: 'ERR_TOLLGATE_UNAVAILABLE';
  message: string;
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

  /**
   * The JSON body of a 400. By default its `message` is a fixed sentence per
   * `code` built from `field` alone, since the error's own message may name
   * the caller's key or an ancestor's id (a cost above a parent's capacity
   * names the parent). With `exposeEntities: true` it is the error's message.
   */
  toBody(options: ErrorBodyOptions = {}): ValidationErrorBody {
    return {
      error: 'invalid_request',
      code: this.code,
      message:
        options.exposeEntities === true ? this.message : publicValidationMessage(this.code, this.field),
      ...(this.field === undefined ? {} : { field: this.field }),
    };
  }

  /** The default 400 body, {@link ValidationError.toBody} with no entity ids; `JSON.stringify` uses it. */
  toJSON(): ValidationErrorBody {
    return this.toBody();
  }
}

/** The JSON shape of {@link ValidationError.toBody}. */
export interface ValidationErrorBody {
  error: 'invalid_request';
  code: TollgateErrorCode;
  message: string;
  field?: string;
}

/** A 400 message that names the rejected field and nothing the client or another entity sent. */
function publicValidationMessage(code: TollgateErrorCode, field: string | undefined): string {
  const name = `\`${field ?? 'request'}\``;
  const entry = field?.includes('.') === true;
  switch (code) {
    case 'ERR_TOLLGATE_INVALID_KEY':
      return `The ${name} key is missing, empty, too long or malformed`;
    case 'ERR_TOLLGATE_INVALID_COST':
      return entry
        ? `${name} is not a valid token count`
        : `${name} is not an object of limit name → token count`;
    case 'ERR_TOLLGATE_UNKNOWN_LIMIT':
      return entry ? `${name} names a limit that does not apply` : `${name} names an invalid limit`;
    case 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY':
      return `${name} is above the capacity of a limit that applies; it could never be admitted`;
    case 'ERR_TOLLGATE_NO_LIMITS':
      return 'No rate limits apply to this request';
    default:
      return field === undefined ? 'Invalid request' : `Invalid ${name}`;
  }
}

/** An entity operation failed: missing entity, duplicate id, children present, a cycle or too deep a chain. */
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
