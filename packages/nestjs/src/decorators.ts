import {
  type CustomDecorator,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
} from '@nestjs/common';
import type { RateLimitState as State } from '@tollgate/core';
import { resolutionKey } from './graphql-exchange.js';
import type { RateLimitOptions } from './options.js';
import { resolverStateOf, stateOf } from './request-state.js';

/** Metadata key of `@RateLimit()`. */
export const RATE_LIMIT_METADATA = 'tollgate:rate-limit';
/** Metadata key of `@SkipRateLimit()`. */
export const SKIP_RATE_LIMIT_METADATA = 'tollgate:skip-rate-limit';

/**
 * Sets what requests to a controller or handler (a GraphQL resolver class or
 * method too) cost, and how they are
 * answered and refunded (`statusCode`, `message`, `skipSuccessfulRequests`,
 * `skipFailedRequests`, `requestWasSuccessful`). On both, the handler's
 * options win, merged over the controller's, over the module's. `entity`,
 * `resource`, `consume` and `message` may be functions of the request.
 *
 * @example
 * @RateLimit({ resource: 'chat', consume: (req) => ({ rpm: 1, tpm: estimateTokens(req) }) })
 * @Post('completions')
 * complete(@Body() body: ChatRequest, @RateLimitState() rateLimit: RateLimitState) { ... }
 */
export function RateLimit(options: RateLimitOptions): CustomDecorator<string> {
  return SetMetadata(RATE_LIMIT_METADATA, options);
}

/**
 * Exempts a controller or handler (a GraphQL resolver class or method too)
 * from rate limiting (nothing is charged). `@SkipRateLimit(false)` on a
 * handler limits it again inside a skipped controller.
 */
export function SkipRateLimit(skip = true): CustomDecorator<string> {
  return SetMetadata(SKIP_RATE_LIMIT_METADATA, skip);
}

/** What a limited request carries: `{ lease, statuses, degraded }` (the core `RateLimitState`). */
export type RateLimitState = State;

/**
 * Injects the request's `{ lease, statuses, degraded }` (also
 * `request.rateLimit`, or `request[requestPropertyName]` when the module
 * option names another property); undefined when the route is not limited. `adjust` the lease with the real
 * cost; it commits when the response finishes (for a stream, when it ends).
 * In a GraphQL resolver it injects that resolver call's own state (one
 * request may run several limited resolvers; none is put on the request).
 *
 * @example
 * @Post('completions')
 * async complete(@RateLimitState() rateLimit: RateLimitState) {
 *   const answer = await model.complete(...);
 *   await rateLimit.lease.adjust({ tpm: answer.usage.totalTokens - estimate });
 *   return answer;
 * }
 */
export const RateLimitState: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): State | undefined =>
    context.getType<'graphql'>() === 'graphql'
      ? resolverStateOf(resolutionKey(context))
      : stateOf(context.switchToHttp().getRequest<object>()),
);
