export {
  describeValue,
  EntityError,
  type ErrorBodyOptions,
  isRateLimitExceeded,
  isRateLimiterUnavailable,
  isTollgateError,
  LeaseClosedError,
  type LimitOwner,
  type LimitStatusBody,
  RateLimitExceeded,
  type RateLimitExceededBody,
  RateLimiterUnavailable,
  type RateLimiterUnavailableBody,
  TollgateError,
  type TollgateErrorCode,
  ValidationError,
  type ValidationErrorBody,
} from './errors.js';
export {
  type HeaderOptions,
  type HeaderSink,
  type HeaderStandard,
  RateLimitHeaderWriter,
  rateLimitHeaders,
  retryAfterSeconds,
  tightestStatus,
} from './http/headers.js';
export {
  type HttpAdmission,
  type HttpDecision,
  type HttpFramework,
  HttpRateLimit,
  type HttpRateLimitOptions,
  type HttpRejection,
  type RateLimitState,
  type RequestOutcome,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from './http/http-rate-limit.js';
export { type IpKeyOptions, ipKey } from './http/ip-key.js';
export { type MaybePromise, optionalFunction } from './http/options.js';
export {
  HTTP_WARNINGS,
  type HttpWarning,
  PROXY_WARNING_CODE,
  type ProxySetting,
  proxyMisconfiguration,
  type ValidateOption,
  warnOnce,
} from './http/warnings.js';
export { DEFAULT_RESOURCE, MAX_ID_LENGTH, validateId } from './ids.js';
export {
  assertUniqueLimitNames,
  LIMIT_NAME_PATTERN,
  Limit,
  type LimitDefinition,
  type RateOptions,
  validateLimitName,
} from './limit.js';
export { Lease, type LeaseBucket, type LeaseSettler } from './limiter/lease.js';
export { MAX_CASCADE_DEPTH } from './limiter/plan.js';
export { type CreateEntityInput, RateLimiter, type UsageRequest } from './limiter/rate-limiter.js';
export type * from './limiter/types.js';
export * as gcra from './math/gcra.js';
export { msToNs, nsToMsCeil, nsToSecondsCeil } from './math/time.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export { type ReservationOptions, ReservingStore } from './store/reserving-store.js';
export * from './store/store.js';
export { usageWindowMs, usageWindowStart } from './store/usage-windows.js';
