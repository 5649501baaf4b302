import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Consumption, HttpRateLimitOptions, LimitedBody, RateLimitExceeded } from '@tollgate/core';

/**
 * The platform request, as every Nest platform has it: the Express `Request`
 * or the `FastifyRequest`. Option functions may annotate their parameter with
 * either platform type.
 */
export interface RateLimitRequest {
  /** Request headers, lower-cased names. */
  readonly headers: IncomingHttpHeaders;
  /** Client address, after the platform's proxy handling (`trust proxy` / `trustProxy`). */
  readonly ip?: string | undefined;
}

/**
 * A function of the request. Declared with method syntax so that a function
 * typed for the Express `Request` or the `FastifyRequest` is accepted.
 */
export type FromRequest<T> = {
  bivarianceHack(req: RateLimitRequest): T | Promise<T>;
}['bivarianceHack'];

/**
 * Options of {@link RateLimitModule.forRoot}: the options every Tollgate
 * adapter takes (see `@tollgate/core` `HttpRateLimitOptions`), with functions
 * of the platform request.
 *
 * @example
 * RateLimitModule.forRoot({
 *   limiter,
 *   entity: (req) => String(req.headers['x-api-key'] ?? ipKey(req.ip)),
 *   global: true,
 * })
 */
export interface RateLimitModuleOptions
  extends Omit<
    HttpRateLimitOptions<RateLimitRequest>,
    'entity' | 'resource' | 'consume' | 'skip' | 'message' | 'requestWasSuccessful'
  > {
  /** Who is charged. Default: `ipKey(req.ip)`. */
  entity?: FromRequest<string>;
  /** What is used: a name or a function of the request. Default `'default'`. */
  resource?: string | FromRequest<string>;
  /** Tokens per limit, or a function of the request. Default: 1 of every limit that applies. */
  consume?: Consumption | FromRequest<Consumption>;
  /** Requests for which this returns true are not limited (and not charged). */
  skip?: FromRequest<boolean>;
  /**
   * Body of a limited response instead of the default JSON: a JSON object or
   * array (sent as is), a string (Nest answers `{ statusCode, message }`, as
   * for any `HttpException` with a string), or a function of the request and
   * the error returning one of those.
   */
  message?: LimitedBody | LimitedMessageFunction;
  /**
   * Whether a finished request counts as successful, for
   * `skipSuccessfulRequests` / `skipFailedRequests`, given the platform
   * request and the Node response (Express's `res`, Fastify's `reply.raw`).
   * Default: `res.statusCode < 400`.
   */
  requestWasSuccessful?: SuccessCheck;
}

/** A `message` function of the platform request (method syntax, so platform-typed functions fit). */
export type LimitedMessageFunction = {
  bivarianceHack(req: RateLimitRequest, error: RateLimitExceeded): LimitedBody | Promise<LimitedBody>;
}['bivarianceHack'];

/** A `requestWasSuccessful` function of the platform request and the Node response. */
export type SuccessCheck = {
  bivarianceHack(req: RateLimitRequest, res: ServerResponse): boolean | Promise<boolean>;
}['bivarianceHack'];

/**
 * Options of the `@RateLimit()` decorator. Given on a controller and on a
 * handler, the handler's win, merged over the controller's, over the module's.
 */
export type RateLimitOptions = Pick<
  RateLimitModuleOptions,
  | 'entity'
  | 'resource'
  | 'consume'
  | 'limits'
  | 'statusCode'
  | 'message'
  | 'skipSuccessfulRequests'
  | 'skipFailedRequests'
  | 'requestWasSuccessful'
>;

/** Options of `RateLimitModule.forRoot()` / `forRootAsync()` that shape the module itself. */
export interface RateLimitModuleExtras {
  /**
   * Register `RateLimitGuard` as a global guard (`APP_GUARD`), so every route
   * is limited unless it has `@SkipRateLimit()`. Default false: add
   * `@UseGuards(RateLimitGuard)` to the controllers to limit.
   */
  global?: boolean;
}

/** Injection token of the resolved {@link RateLimitModuleOptions}. */
export const RATE_LIMIT_OPTIONS: unique symbol = Symbol('RATE_LIMIT_OPTIONS');
