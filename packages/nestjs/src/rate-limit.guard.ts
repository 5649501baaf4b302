import type { ServerResponse } from 'node:http';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  type HttpRateLimit,
  PROXY_WARNING_CODE,
  proxyMisconfiguration,
  type RateLimitState,
} from '@tollgate/core';
import { SKIP_RATE_LIMIT_METADATA } from './decorators.js';
import { RateLimitRejectedException } from './exceptions.js';
import type { RateLimitRequest } from './options.js';
import { RateLimitRoutes, type RouteHandler } from './rate-limit-routes.js';

/** The platform request as the guard touches it (Express `Request` or `FastifyRequest`). */
interface PlatformRequest extends RateLimitRequest {
  rateLimit?: RateLimitState;
  /** Express: the application, for `trust proxy`. */
  readonly app?: { get(setting: string): unknown };
  /** Fastify: the Node request. */
  readonly raw?: { readonly socket?: { readonly remoteAddress?: string | undefined } };
  readonly socket?: { readonly remoteAddress?: string | undefined };
}

/**
 * Limits the routes it guards: maps the request to (entity, resource, cost)
 * with the merged module, controller and handler options, sets the
 * `RateLimit` headers, and either lets the request through with an open lease
 * (`@RateLimitState()`, `request.rateLimit`) or throws a
 * {@link RateLimitRejectedException} (429, 503 or 400).
 *
 * The lease commits when the response finishes, and rolls back when the
 * response is a 5xx (an unhandled handler error becomes a 500) or the client
 * disconnects first. Streams (`@Sse()`, a raw response stream) keep it open
 * until they end, so adjustments made while streaming are charged. A client
 * that disconnects while the limiter is deciding is refunded at once and the
 * handler does not run (the guard denies the request; there is no one to answer).
 *
 * Registered globally by `RateLimitModule.forRoot({ global: true })`;
 * otherwise use `@UseGuards(RateLimitGuard)`.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    @Inject(RateLimitRoutes) private readonly routes: RateLimitRoutes,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  /** Decides the request; throws the rejection, or returns true with the lease attached. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT_METADATA, targets)) return true;
    const { flow, keysByAddress } = this.routes.forRoute(
      context.getClass(),
      context.getHandler() as RouteHandler,
    );
    const http = context.switchToHttp();
    const req = http.getRequest<PlatformRequest>();
    if (req.rateLimit !== undefined) return true; // already limited by another RateLimitGuard (global + @UseGuards)
    const reply = http.getResponse<ServerResponse | { raw: ServerResponse }>();
    const res = 'raw' in reply ? reply.raw : reply;
    if (keysByAddress) warnOnMisconfiguredProxy(flow, req);

    const decision = await flow.decide(req);
    if (decision.action === 'skip') return true;
    // On the Node response, so they reach the client on every platform, also from
    // exception filters and `@Sse()` streams (Fastify merges them on send).
    for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
    if (decision.action === 'reject') throw RateLimitRejectedException.of(decision);
    if (res.closed) {
      // The client left while the limiter was deciding: refund, and spare the handler the work.
      await flow.finish(decision.state, { statusCode: res.statusCode, aborted: true });
      return false;
    }
    req.rateLimit = decision.state;
    settleWhenDone(flow, decision.state, res);
    return true;
  }
}

/** Settles the lease exactly once: at 'finish' from the status code, or at an early 'close' as aborted. */
function settleWhenDone(
  flow: HttpRateLimit<RateLimitRequest>,
  state: RateLimitState,
  res: ServerResponse,
): void {
  let settled = false;
  const settle = (aborted: boolean): void => {
    if (settled) return;
    settled = true;
    res.off('finish', onFinish).off('close', onClose);
    void flow.finish(state, { statusCode: res.statusCode, aborted });
  };
  const onFinish = (): void => settle(false);
  const onClose = (): void => settle(!res.writableFinished);
  res.once('finish', onFinish).once('close', onClose);
}

function warnOnMisconfiguredProxy(flow: HttpRateLimit<RateLimitRequest>, req: PlatformRequest): void {
  const forwardedFor = req.headers['x-forwarded-for'];
  if (forwardedFor === undefined) return;
  // Express exposes its setting; Fastify only its effect: without trustProxy, `ip` is the peer address.
  const express = typeof req.app?.get === 'function';
  const trusted = express
    ? Boolean(req.app?.get('trust proxy'))
    : req.ip !== (req.raw ?? req).socket?.remoteAddress;
  const problem = proxyMisconfiguration(
    forwardedFor,
    trusted,
    express ? "Express's `trust proxy`" : 'Fastify `trustProxy`',
  );
  if (problem) flow.warnOnce(PROXY_WARNING_CODE, problem);
}
