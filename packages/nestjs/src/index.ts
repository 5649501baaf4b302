export {
  RATE_LIMIT_METADATA,
  RateLimit,
  RateLimitState,
  SKIP_RATE_LIMIT_METADATA,
  SkipRateLimit,
} from './decorators.js';
export {
  type RateLimitErrorExtensions,
  RateLimitExceededException,
  RateLimitRejectedException,
} from './exceptions.js';
export type { RateLimitExchange } from './graphql-exchange.js';
export {
  type FromRequest,
  type LimitedMessageFunction,
  RATE_LIMIT_OPTIONS,
  type RateLimitModuleExtras,
  type RateLimitModuleOptions,
  type RateLimitOptions,
  type RateLimitRequest,
  type SuccessCheck,
} from './options.js';
export { RateLimitGuard } from './rate-limit.guard.js';
export {
  RateLimitModule,
  type RateLimitModuleAsyncOptions,
  type RateLimitModuleForRootOptions,
} from './rate-limit.module.js';
export { type RateLimitRoute, RateLimitRoutes, type RouteHandler } from './rate-limit-routes.js';
