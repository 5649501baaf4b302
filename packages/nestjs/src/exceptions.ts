import { HttpException } from '@nestjs/common';
import type {
  HttpRejection,
  LimitStatus,
  RateLimitExceeded,
  RateLimiterUnavailable,
  TollgateErrorCode,
  ValidationError,
} from '@tollgate/core';

type Rejection = HttpRejection;

/**
 * What a GraphQL response says of a refused resolver call, in its
 * `errors[].extensions`: graphql-js copies the `extensions` of an error a
 * resolver (or its guard) throws.
 *
 * @example
 * // { "message": "Rate limit exceeded (rpm); retry in 60000 ms", "path": ["chat"],
 * //   "extensions": { "code": "ERR_TOLLGATE_RATE_LIMITED", "status": 429, "retryAfterMs": 60000,
 * //                   "body": { "error": "rate_limit_exceeded", ... } } }
 */
export interface RateLimitErrorExtensions {
  /** The Tollgate error code: `ERR_TOLLGATE_RATE_LIMITED`, `ERR_TOLLGATE_UNAVAILABLE` or the `ValidationError`'s. */
  readonly code: TollgateErrorCode;
  /** The status a plain HTTP route would answer: 429 (or the `statusCode` option), 503 or 400. */
  readonly status: number;
  /** Milliseconds until the call could be admitted; only when limited. */
  readonly retryAfterMs?: number;
  /** The body a plain HTTP route would answer (for a limited call, the `message` option's if given). */
  readonly body: HttpRejection['body'];
}

/**
 * Thrown by `RateLimitGuard` when a request is refused: 429 (limited; or the
 * `statusCode` option), 503 (store unavailable under `onUnavailable:
 * 'block'`) or 400 (unusable key or cost; nothing charged). The response
 * body is the Tollgate JSON body (or the `message` option's, for a limited
 * request); the guard has already set `headers` (`Retry-After`,
 * `RateLimit`, ...) on the response, and a custom exception filter can read
 * them here too. Thrown by a GraphQL resolver's guard, it becomes an entry
 * of the GraphQL response's `errors`, with {@link extensions}.
 */
export class RateLimitRejectedException extends HttpException {
  /** Response headers of the rejection, already set on the platform response. */
  readonly headers: Readonly<Record<string, string>>;
  /** The Tollgate error behind the rejection (also `cause`). */
  readonly error: RateLimitExceeded | RateLimiterUnavailable | ValidationError;
  /** The error's `extensions` in a GraphQL response, when a resolver call is refused. */
  readonly extensions: RateLimitErrorExtensions;

  /** @param rejection the core's rejection decision */
  constructor(rejection: Rejection) {
    super(rejection.body, rejection.status, { cause: rejection.error });
    this.headers = rejection.headers;
    this.error = rejection.error;
    this.extensions =
      rejection.reason === 'limited'
        ? {
            code: rejection.error.code,
            status: rejection.status,
            retryAfterMs: rejection.error.retryAfterMs,
            body: rejection.body,
          }
        : { code: rejection.error.code, status: rejection.status, body: rejection.body };
  }

  /** The exception for a rejection: {@link RateLimitExceededException} for a limited request. */
  static of(rejection: Rejection): RateLimitRejectedException {
    return rejection.reason === 'limited'
      ? new RateLimitExceededException(rejection)
      : new RateLimitRejectedException(rejection);
  }
}

/**
 * The limited response (429, or the `statusCode` option): some limit is
 * short. Body: the `message` option's, else `RateLimitExceeded.toBody()`
 * (`{ error: 'rate_limit_exceeded', message, retryAfterMs, limits }`, with no
 * entity ids unless the module option `exposeEntities` is true); `statuses`
 * here still names every entity.
 */
export class RateLimitExceededException extends RateLimitRejectedException {
  declare readonly error: RateLimitExceeded;

  /** Milliseconds until the request could be admitted. */
  get retryAfterMs(): number {
    return this.error.retryAfterMs;
  }

  /** Every limit checked, violated or not. */
  get statuses(): readonly LimitStatus[] {
    return this.error.statuses;
  }
}
