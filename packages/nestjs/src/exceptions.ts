import { HttpException } from '@nestjs/common';
import type {
  HttpRejection,
  LimitStatus,
  RateLimitExceeded,
  RateLimiterUnavailable,
  ValidationError,
} from '@tollgate/core';

type Rejection = HttpRejection;

/**
 * Thrown by `RateLimitGuard` when a request is refused: 429 (limited; or the
 * `statusCode` option), 503 (store unavailable under `onUnavailable:
 * 'block'`) or 400 (unusable key or cost; nothing charged). The response
 * body is the Tollgate JSON body (or the `message` option's, for a limited
 * request); the guard has already set `headers` (`Retry-After`,
 * `RateLimit`, ...) on the response, and a custom exception filter can read
 * them here too.
 */
export class RateLimitRejectedException extends HttpException {
  /** Response headers of the rejection, already set on the platform response. */
  readonly headers: Readonly<Record<string, string>>;
  /** The Tollgate error behind the rejection (also `cause`). */
  readonly error: RateLimitExceeded | RateLimiterUnavailable | ValidationError;

  /** @param rejection the core's rejection decision */
  constructor(rejection: Rejection) {
    super(rejection.body, rejection.status, { cause: rejection.error });
    this.headers = rejection.headers;
    this.error = rejection.error;
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
