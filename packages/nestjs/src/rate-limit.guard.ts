import type { IncomingMessage } from 'node:http';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { HttpRejection, RateLimitState } from '@tollgate/core';
import { SKIP_RATE_LIMIT_METADATA } from './decorators.js';
import { RateLimitRejectedException } from './exceptions.js';
import { graphqlExchange, type RateLimitExchange, resolutionKey } from './graphql-exchange.js';
import type { RateLimitRequest } from './options.js';
import { RateLimitRoutes } from './rate-limit-routes.js';
import { exposeResolverState, exposeState, resolverStateOf } from './request-state.js';
import { RouteCache, type RouteHandler } from './route-cache.js';

/** The platform request as the guard touches it (Express `Request` or `FastifyRequest`). */
interface PlatformRequest extends RateLimitRequest {
  /** Fastify: the Node request. */
  readonly raw?: IncomingMessage;
}

/**
 * Limits the routes it guards: maps the request to (entity, resource, cost)
 * with the merged module, controller and handler options, sets the
 * `RateLimit` headers, and either lets the request through with an open lease
 * (`@RateLimitState()`, `request.rateLimit` or the module's
 * `requestPropertyName`) or throws a {@link RateLimitRejectedException}
 * (429 or `statusCode`, 503 or 400).
 *
 * The lease commits when the response finishes, and rolls back when the
 * response is a 5xx (an unhandled handler error becomes a 500) or the client
 * disconnects first (and, with `skipSuccessfulRequests` / `skipFailedRequests`,
 * when the request counts as skipped). Streams (`@Sse()`, a raw response stream) keep it open
 * until they end, so adjustments made while streaming are charged. A client
 * that disconnects while the limiter is deciding is refunded at once and the
 * handler does not run (the guard denies the request; there is no one to answer).
 *
 * GraphQL resolvers (context type `'graphql'`) are limited per resolver call,
 * on the HTTP request and response of their GraphQL context (see
 * {@link getRequestResponse}): a query selecting two limited fields is
 * charged twice, each call with its own lease (`@RateLimitState()` in the
 * resolver), all settled when the HTTP response ends. Nest runs guards for
 * `@Query()`, `@Mutation()` and `@Subscription()` resolvers, and for
 * `@ResolveField()` ones only with GraphQLModule's `fieldResolverEnhancers:
 * ['guards']`. A refused call throws the same exception, which the GraphQL
 * response reports in `errors` (see `RateLimitRejectedException.extensions`).
 * Other contexts (`'ws'` gateways, `'rpc'` microservices) pass unlimited.
 *
 * Registered globally by `RateLimitModule.forRoot({ global: true })`;
 * otherwise use `@UseGuards(RateLimitGuard)`. Like `@nestjs/throttler`'s
 * guard, it is meant to be extended: override {@link getTracker},
 * {@link shouldSkip}, {@link throwRateLimitException} or
 * {@link getRequestResponse} and register the
 * subclass instead (with `global: false` and `APP_GUARD`, or `@UseGuards`).
 *
 * @example
 * @Injectable()
 * export class ApiKeyRateLimitGuard extends RateLimitGuard {
 *   // Key by API key, falling back to the route's `entity` option (default: client address).
 *   protected override getTracker(req: RateLimitRequest, context: ExecutionContext) {
 *     const key = req.headers['x-api-key'];
 *     return typeof key === 'string' ? key : super.getTracker(req, context);
 *   }
 *   // Internal health checks are never limited.
 *   protected override shouldSkip(context: ExecutionContext) {
 *     const { req } = this.getRequestResponse(context);
 *     return req.headers['x-internal'] === '1' || super.shouldSkip(context);
 *   }
 *   // Answer in the API's own error format.
 *   protected override throwRateLimitException(context: ExecutionContext, rejection: HttpRejection): never {
 *     throw new HttpException({ code: 'SLOW_DOWN', retryAfter: rejection.headers['Retry-After'] }, rejection.status);
 *   }
 * }
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  /** True when a subclass keys requests itself, so the route's `entity` option is not used. */
  private readonly tracks: boolean;

  /** `@SkipRateLimit()` per route, read once. */
  private readonly skipped = new RouteCache(
    (controller, handler) =>
      this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT_METADATA, [
        handler,
        controller,
      ]) === true,
  );

  constructor(
    @Inject(RateLimitRoutes) protected readonly routes: RateLimitRoutes,
    @Inject(Reflector) protected readonly reflector: Reflector,
  ) {
    this.tracks = this.getTracker !== RateLimitGuard.prototype.getTracker;
  }

  /** Decides the request or resolver call; throws the rejection, or returns true with the lease attached. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const type = context.getType<'http' | 'graphql'>();
    if (type !== 'http' && type !== 'graphql') return true;
    const skip = this.shouldSkip(context);
    if (skip === true || (skip !== false && (await skip))) return true;
    const { flow } = this.routes.forRoute(context.getClass(), context.getHandler() as RouteHandler);
    const property = flow.requestPropertyName;
    const { req, res }: { req: PlatformRequest; res: RateLimitExchange['res'] } =
      this.getRequestResponse(context);
    // Already limited by another RateLimitGuard (global + @UseGuards): charge once. A GraphQL
    // request is charged per resolver call, so its calls are told apart by their resolve info.
    const resolution = type === 'graphql' ? resolutionKey(context) : undefined;
    if (
      resolution === undefined
        ? (req as unknown as Record<string, RateLimitState | undefined>)[property] !== undefined
        : resolverStateOf(resolution) !== undefined
    )
      return true;
    const pending = flow.admit(
      req,
      req.raw ?? (req as unknown as IncomingMessage),
      // Headers go on the Node response, so they reach the client on every platform, also from
      // exception filters and `@Sse()` streams (Fastify merges them on send).
      'raw' in res ? res.raw : res,
      this.tracks ? (request) => this.getTracker(request, context) : undefined,
    );
    const admission = pending instanceof Promise ? await pending : pending;
    if (admission.action === 'skip') return true;
    if (admission.action === 'gone') {
      await admission.settled; // refunded; spare the handler the work
      return false;
    }
    if (admission.action === 'proceed') {
      if (resolution === undefined) exposeState(req, property, admission.state);
      else exposeResolverState(resolution, admission.state);
      return true;
    }
    await this.throwRateLimitException(context, admission);
    throw RateLimitRejectedException.of(admission);
  }

  /**
   * The platform request and response of a route or resolver call. Default:
   * the HTTP context's; for a GraphQL resolver, those its GraphQL context
   * carries (`req` and `res`, Mercurius' `reply`; on Express `req.res`
   * does). A resolver whose context carries neither (a subscription over
   * WebSocket, Apollo on Fastify without a `context` function) gets a
   * `ValidationError` (`ERR_TOLLGATE_INVALID_OPTION`) that says what to
   * change, rather than passing unlimited. Override it for a custom
   * GraphQL context, as with `@nestjs/throttler`'s guard.
   *
   * @example
   * protected override getRequestResponse(context: ExecutionContext) {
   *   if (context.getType<'graphql'>() !== 'graphql') return super.getRequestResponse(context);
   *   const { request, reply } = context.getArgByIndex<{ request: FastifyRequest; reply: FastifyReply }>(2);
   *   return { req: request, res: reply };
   * }
   */
  protected getRequestResponse(context: ExecutionContext): RateLimitExchange {
    if (context.getType<'graphql'>() === 'graphql') return graphqlExchange(context);
    const http = context.switchToHttp();
    return { req: http.getRequest<RateLimitRequest>(), res: http.getResponse<RateLimitExchange['res']>() };
  }

  /**
   * The key a request is charged to. Default: the route's `entity` option
   * (module, controller and handler options merged), else `ipKey(req.ip)`.
   * Overriding it also turns off the proxy check, which only concerns keys
   * taken from the client address.
   */
  protected getTracker(req: RateLimitRequest, context: ExecutionContext): string | Promise<string> {
    const { flow } = this.routes.forRoute(context.getClass(), context.getHandler() as RouteHandler);
    const key = flow.entityFor(req);
    return typeof key === 'string' ? key : Promise.resolve(key);
  }

  /**
   * True when the request is not limited (and not charged). Default: the
   * handler's or the controller's `@SkipRateLimit()`, the handler's winning.
   */
  protected shouldSkip(context: ExecutionContext): boolean | Promise<boolean> {
    return this.skipped.get(context.getClass(), context.getHandler() as RouteHandler);
  }

  /**
   * Throws for a refused request: `rejection.reason` is `'limited'` (429, or
   * the `statusCode` option), `'unavailable'` (503) or `'invalid'` (400:
   * unusable key or cost). The rejection's headers (`Retry-After`,
   * `RateLimit`, ...) are already on the response. Default:
   * {@link RateLimitRejectedException} (a `RateLimitExceededException` when limited).
   * An override that returns instead of throwing gets the default exception.
   */
  protected throwRateLimitException(
    _context: ExecutionContext,
    rejection: HttpRejection,
  ): void | Promise<void> {
    throw RateLimitRejectedException.of(rejection);
  }
}
