export {
  DECISION_CHANNEL,
  type DecisionMessage,
  type DecisionOutcome,
  type DiagnosticsHandlers,
  LEASE_CHANNEL,
  type LeaseSettlementMessage,
  recordRoundTrips,
  STORE_CHANNEL,
  type StoreCallMessage,
  subscribeDiagnostics,
} from './diagnostics.js';
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
// optionalFunction, proxyMisconfiguration and warnOnce belong to '@tollgate/core/internal'; they
// stay here until the adapters import them from there.
export {
  type HttpAdmission,
  type HttpDecision,
  type HttpFramework,
  HttpRateLimit,
  type HttpRateLimitOptions,
  type HttpRejection,
  type LimitedBody,
  type LimitedMessage,
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
export { DEFAULT_RESOURCE, hashedEntityId, type LongKeyPolicy, MAX_ID_LENGTH } from './ids.js';
export {
  LIMIT_NAME_PATTERN,
  Limit,
  type LimitDefinition,
  type RateOptions,
  validateLimitName,
} from './limit.js';
export type { Decision } from './limiter/decision.js';
export { Lease, type LeaseBucket } from './limiter/lease.js';
export { MAX_CASCADE_DEPTH } from './limiter/plan.js';
export { RateLimiter } from './limiter/rate-limiter.js';
export type * from './limiter/types.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export { type ReservationOptions, ReservingStore } from './store/reserving-store.js';
export type {
  AdjustRequest,
  BucketAdjustment,
  BucketCharge,
  BucketKey,
  BucketState,
  ChargeRequest,
  ChargeResult,
  EntityChanges,
  EntityRecord,
  GetBucketsRequest,
  LimitAdjustment,
  LimitCharge,
  LimitScope,
  LoadConfigRequest,
  LoadedConfig,
  ResetScope,
  Store,
  StoreCallStats,
  StoreStats,
  SyncChargeRequest,
  SyncLoadConfigRequest,
  UsagePage,
  UsageQuery,
  UsageSnapshot,
  UsageWindow,
} from './store/store.js';
export type * from './types.js';
