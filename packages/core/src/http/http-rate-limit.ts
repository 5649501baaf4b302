import {
  describeValue,
  type ErrorBodyOptions,
  isRateLimitExceeded,
  isRateLimiterUnavailable,
  isTollgateError,
  type RateLimitExceeded,
  type RateLimiterUnavailable,
  rateLimitExceededBody,
  ValidationError,
} from '../errors.js';
import type { Limit } from '../limit.js';
import type { Lease } from '../limiter/lease.js';
import { RateLimiter } from '../limiter/rate-limiter.js';
import type { Consumption, LimitStatus, Logger } from '../types.js';
import { type HeaderStandard, rateLimitHeaders, retryAfterSeconds } from './headers.js';
import { ipKey } from './ip-key.js';
import { warnOnce } from './warn-once.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * Options shared by every HTTP adapter (`rateLimit()` for Express and Koa,
 * `RateLimitModule` for Nest). `Req` is the framework's request (Express
 * `req`, Koa `ctx`, the Nest platform request).
 */
export interface HttpRateLimitOptions<Req> {
  /** The limiter to acquire from; build it once at startup and share it. */
  limiter: RateLimiter;
  /** Who is charged. Default: `ipKey(client address)`. */
  entity?: (req: Req) => MaybePromise<string>;
  /** What is used: a name or a function of the request. Default `'default'`. */
  resource?: string | ((req: Req) => MaybePromise<string>);
  /** Tokens per limit, or a function of the request. Default: 1 of every limit that applies. */
  consume?: Consumption | ((req: Req) => MaybePromise<Consumption>);
  /** Limits for these requests only, overriding stored and default limits. */
  limits?: readonly Limit[];
  /** Requests for which this returns true are not limited (and not charged). */
  skip?: (req: Req) => MaybePromise<boolean>;
  /** Standard headers: `'draft-8'` (default), `'draft-6'` or `false`. */
  headers?: HeaderStandard;
  /** Also send `X-RateLimit-*` headers. Default false. */
  legacyHeaders?: boolean;
  /** Refund the lease when the handler fails (throws or answers 5xx). Default true. */
  rollbackOnError?: boolean;
  /** Refund the lease when the client disconnects before the response is complete. Default true. */
  rollbackOnAbort?: boolean;
  /** Receives coded warnings (degraded mode, proxy and setup mistakes). Default `console`. */
  logger?: Logger;
  /**
   * Name entity ids in 429 and 400 bodies: the caller's key and its
   * ancestors' ids, and the full error message. Default false: bodies name
   * limits by scope (`self`, `parent`, `ancestor` with `depth`) and never echo
   * the key, so a client cannot learn its organisation's internal id. Headers
   * never carry entity ids either way. Turn on for internal callers only.
   */
  exposeEntities?: boolean;
}

/** What an adapter exposes to handlers: `req.rateLimit`, `ctx.state.rateLimit`, `@RateLimitState()`. */
export interface RateLimitState {
  /** The open lease: `adjust` it with the real cost; it commits when the response finishes. */
  lease: Lease;
  /** Every limit checked, with what is left. */
  statuses: readonly LimitStatus[];
  /** True when the store was unavailable and `onUnavailable: 'allow'` let the request through. */
  degraded: boolean;
}

/** The answer for one request, ready to translate into a framework response. */
export type HttpDecision =
  | { readonly action: 'skip' }
  | { readonly action: 'proceed'; readonly headers: Record<string, string>; readonly state: RateLimitState }
  | {
      readonly action: 'reject';
      readonly status: 400 | 429 | 503;
      readonly headers: Record<string, string>;
      readonly body: Record<string, unknown>;
      /** `RateLimitExceeded` (429), `ValidationError` (400) or `RateLimiterUnavailable` (503). */
      readonly error: RateLimitExceeded | ValidationError | RateLimiterUnavailable;
    };

/** How the request ended, for {@link HttpRateLimit.finish}. */
export interface RequestOutcome {
  /** Final status code sent (or about to be sent). */
  statusCode: number;
  /** The client went away before the response was complete. */
  aborted?: boolean;
  /** The handler threw. */
  error?: unknown;
}

/** More flows than this built for one limiter after it served a request means one is built per request. */
const LATE_CONSTRUCTION_WARNING = 100;
const lateConstructions = new WeakMap<RateLimiter, number>();
const servedLimiters = new WeakSet<RateLimiter>();

/** Seconds a 503 asks clients to wait while the store is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * The framework-agnostic HTTP flow behind every adapter: map the request to
 * (entity, resource, cost), acquire, and describe the response (status,
 * headers, body); later settle the lease from how the request ended.
 * Options are validated once, here.
 */
export class HttpRateLimit<Req> {
  private readonly limiter: RateLimiter;
  private readonly entityOf: (req: Req) => MaybePromise<string>;
  private readonly resourceOf: (req: Req) => MaybePromise<string | undefined>;
  private readonly consumeOf: (req: Req) => MaybePromise<Consumption | undefined>;
  private readonly skip: ((req: Req) => MaybePromise<boolean>) | undefined;
  private readonly limits: readonly Limit[] | undefined;
  private readonly standard: HeaderStandard;
  private readonly legacy: boolean;
  private readonly rollbackOnError: boolean;
  private readonly rollbackOnAbort: boolean;
  private readonly bodyOptions: ErrorBodyOptions;
  /** Where coded warnings go. */
  readonly logger: Logger;
  /** Set on the first request, so the per-request path does not touch the shared WeakSet again. */
  private served = false;

  /**
   * @param options the user's options
   * @param clientAddress how this framework finds the client address (for the default entity)
   */
  constructor(options: HttpRateLimitOptions<Req>, clientAddress: (req: Req) => string | undefined) {
    if (typeof options !== 'object' || options === null) {
      throw invalid('options', `Expected an options object, got ${describeValue(options)}`);
    }
    if (!(options.limiter instanceof RateLimiter)) {
      const looksLikeLimiter =
        typeof (options.limiter as { tryAcquire?: unknown } | undefined)?.tryAcquire === 'function';
      if (!looksLikeLimiter) {
        throw invalid(
          'limiter',
          `Expected \`limiter\` to be a RateLimiter, got ${describeValue(options.limiter)}`,
        );
      }
    }
    this.limiter = options.limiter;
    this.logger = options.logger ?? console;
    this.entityOf = optionalFunction(options.entity, 'entity') ?? ((req) => ipKey(clientAddress(req)));
    this.resourceOf = stringOrFunction(options.resource, 'resource');
    this.consumeOf = objectOrFunction(options.consume, 'consume');
    this.skip = optionalFunction(options.skip, 'skip');
    this.limits = options.limits;
    this.standard = options.headers ?? 'draft-8';
    if (this.standard !== 'draft-8' && this.standard !== 'draft-6' && this.standard !== false) {
      throw invalid(
        'headers',
        `Expected \`headers\` to be 'draft-8', 'draft-6' or false, got ${describeValue(this.standard)}`,
      );
    }
    this.legacy = booleanOption(options.legacyHeaders, 'legacyHeaders', false);
    this.rollbackOnError = booleanOption(options.rollbackOnError, 'rollbackOnError', true);
    this.rollbackOnAbort = booleanOption(options.rollbackOnAbort, 'rollbackOnAbort', true);
    this.bodyOptions = { exposeEntities: booleanOption(options.exposeEntities, 'exposeEntities', false) };
    this.checkConsumeNames(options.consume);
    this.noteConstruction();
  }

  /** Decides one request. Errors thrown by the user's mapping functions propagate. */
  async decide(req: Req): Promise<HttpDecision> {
    if (!this.served) {
      this.served = true;
      servedLimiters.add(this.limiter);
    }
    if (this.skip && (await this.skip(req))) return { action: 'skip' };
    try {
      const entity = await this.entityOf(req);
      const resource = await this.resourceOf(req);
      const consume = await this.consumeOf(req);
      const decision = await this.limiter.tryAcquire({
        entity,
        ...(resource === undefined ? {} : { resource }),
        ...(consume === undefined ? {} : { consume }),
        ...(this.limits === undefined ? {} : { limits: this.limits }),
      });
      const headers = this.headersFor(decision.statuses);
      if (decision.allowed) {
        return {
          action: 'proceed',
          headers,
          state: { lease: decision.lease, statuses: decision.statuses, degraded: decision.degraded },
        };
      }
      headers['Retry-After'] = String(retryAfterSeconds(decision.retryAfterMs));
      return {
        action: 'reject',
        status: 429,
        headers,
        body: { ...rateLimitExceededBody(decision.error, this.bodyOptions) },
        error: decision.error,
      };
    } catch (error) {
      return this.rejectionFor(error);
    }
  }

  /**
   * Commits or rolls back the lease from how the request ended: rollback when
   * the handler threw or answered 5xx (`rollbackOnError`) or the client went
   * away first (`rollbackOnAbort`), commit otherwise. Never throws: a store
   * failure here is logged, since the response is already gone.
   */
  async finish(state: RateLimitState, outcome: RequestOutcome): Promise<void> {
    const { lease } = state;
    if (lease.isClosed) return;
    const failed = outcome.error !== undefined || outcome.statusCode >= 500;
    const refund = (failed && this.rollbackOnError) || (outcome.aborted === true && this.rollbackOnAbort);
    try {
      if (refund) await lease.rollback();
      else await lease.commit();
    } catch (error) {
      this.logger.warn(
        `WARN_TOLLGATE_SETTLE_FAILED: could not ${refund ? 'refund' : 'commit'} the lease of \`${lease.entity}\`: ${error instanceof Error ? error.message : String(error)}`,
        { code: 'WARN_TOLLGATE_SETTLE_FAILED', entity: lease.entity, resource: lease.resource },
      );
    }
  }

  /** Logs a coded warning once per logger and code (once per process with the default `console`). */
  warnOnce(code: string, message: string): void {
    warnOnce(this.logger, code, message);
  }

  private headersFor(statuses: readonly LimitStatus[]): Record<string, string> {
    return rateLimitHeaders(statuses, { standard: this.standard, legacy: this.legacy, nowMs: Date.now() });
  }

  private rejectionFor(error: unknown): HttpDecision {
    if (isRateLimitExceeded(error)) {
      const headers = this.headersFor(error.statuses);
      headers['Retry-After'] = String(retryAfterSeconds(error.retryAfterMs));
      return {
        action: 'reject',
        status: 429,
        headers,
        body: { ...rateLimitExceededBody(error, this.bodyOptions) },
        error,
      };
    }
    if (isRateLimiterUnavailable(error)) {
      return {
        action: 'reject',
        status: 503,
        headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
        body: {
          error: 'rate_limiter_unavailable',
          code: error.code,
          message: 'The rate limiter is unavailable; retry shortly',
        },
        error,
      };
    }
    if (isTollgateError(error) && error instanceof ValidationError) {
      return {
        action: 'reject',
        status: 400,
        headers: {},
        body: { ...error.toBody(this.bodyOptions) },
        error,
      };
    }
    throw error;
  }

  /**
   * Warns (`WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST`) when middleware keeps being
   * built for a limiter that already serves requests: the koa-ratelimit mistake
   * of building it inside a handler. Routes built at startup do not count.
   */
  private noteConstruction(): void {
    if (!servedLimiters.has(this.limiter)) return;
    const count = (lateConstructions.get(this.limiter) ?? 0) + 1;
    lateConstructions.set(this.limiter, count);
    if (count > LATE_CONSTRUCTION_WARNING) {
      this.warnOnce(
        'WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST',
        `rate-limit middleware was built ${count} times for one limiter after it started serving requests; build it once at startup (not inside a request handler) and reuse it`,
      );
    }
  }

  /** Warns at startup when a static `consume` names a limit that no default limit has. */
  private checkConsumeNames(consume: HttpRateLimitOptions<Req>['consume']): void {
    if (typeof consume !== 'object' || consume === null) return;
    const known = new Set((this.limits ?? this.limiter.defaultLimits).map((limit) => limit.name));
    if (known.size === 0) return;
    const unknown = Object.keys(consume).filter((name) => !known.has(name));
    if (unknown.length > 0) {
      this.logger.warn(
        `WARN_TOLLGATE_UNKNOWN_LIMIT: \`consume\` names ${unknown.map((n) => `\`${n}\``).join(', ')}, which no default limit has (${[...known].join(', ')}); requests will get 400 unless stored limits define it`,
        { code: 'WARN_TOLLGATE_UNKNOWN_LIMIT', names: unknown },
      );
    }
  }
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}

/**
 * Validates an optional callback option of an adapter (e.g. `onLimited`):
 * `ERR_TOLLGATE_INVALID_OPTION` unless it is absent or a function.
 */
export function optionalFunction<F>(value: F | undefined, field: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw invalid(field, `Expected \`${field}\` to be a function, got ${describeValue(value)}`);
  }
  return value;
}

function stringOrFunction<Req>(
  value: string | ((req: Req) => MaybePromise<string>) | undefined,
  field: string,
): (req: Req) => MaybePromise<string | undefined> {
  if (value === undefined) return () => undefined;
  if (typeof value === 'function') return value;
  if (typeof value === 'string') return () => value;
  throw invalid(field, `Expected \`${field}\` to be a string or a function, got ${describeValue(value)}`);
}

function objectOrFunction<Req>(
  value: Consumption | ((req: Req) => MaybePromise<Consumption>) | undefined,
  field: string,
): (req: Req) => MaybePromise<Consumption | undefined> {
  if (value === undefined) return () => undefined;
  if (typeof value === 'function') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return () => value;
  throw invalid(
    field,
    `Expected \`${field}\` to be an object of limit name → tokens or a function, got ${describeValue(value)}`,
  );
}

function booleanOption(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw invalid(field, `Expected \`${field}\` to be a boolean, got ${describeValue(value)}`);
  return value;
}
