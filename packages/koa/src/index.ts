import {
  type HttpDecision,
  HttpRateLimit,
  type HttpRateLimitOptions,
  optionalFunction,
  PROXY_WARNING_CODE,
  proxyMisconfiguration,
  type RateLimitExceeded,
  type RateLimitState,
} from '@tollgate/core';
import type { Context, Middleware, Next } from 'koa';

export type { RateLimitState } from '@tollgate/core';

/** `ctx.state` as set by {@link rateLimit}: `ctx.state.rateLimit` on admitted requests. */
export interface RateLimitKoaState {
  /** The open lease, limit statuses and degraded flag; absent when the request was skipped. */
  rateLimit?: RateLimitState;
}

declare module 'koa' {
  interface DefaultState extends RateLimitKoaState {}
}

/**
 * Options of {@link rateLimit}: the shared adapter options (`limiter`,
 * `entity`, `resource`, `consume`, `limits`, `skip`, `headers`,
 * `legacyHeaders`, `rollbackOnError`, `rollbackOnAbort`, `logger`,
 * `exposeEntities`) with Koa's `ctx`, plus a custom 429.
 */
export interface RateLimitOptions extends HttpRateLimitOptions<Context> {
  /**
   * Answers a limited request instead of the default JSON 429. `ctx.status`
   * (429), `Retry-After` and the rate-limit headers are already set.
   */
  onLimited?: (ctx: Context, next: Next, error: RateLimitExceeded) => unknown;
}

/**
 * Koa middleware (Koa 2 and 3) that charges each request to its entity and
 * answers `429` with `Retry-After` once the budget is spent. The core decides;
 * this maps `ctx` in and the decision out. Options are validated here, once.
 * Admitted requests get `ctx.state.rateLimit`; the lease commits when the
 * response has been sent (Koa streams bodies after the middleware returns)
 * and is refunded when the downstream throws, answers 5xx, or the client
 * disconnects first.
 *
 * @example
 * const app = new Koa({ proxy: true });
 * app.use(rateLimit({ limiter, entity: (ctx) => ctx.get('x-api-key') || ipKey(ctx.ip) }));
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  const flow = new HttpRateLimit<Context>(options, (ctx) => ctx.ip);
  const onLimited = optionalFunction(options.onLimited, 'onLimited');
  let proxyChecked = false;

  return async (ctx, next) => {
    if (!proxyChecked) {
      const trusted = ctx.app.proxy;
      const warning = proxyMisconfiguration(ctx.get('x-forwarded-for'), trusted, "Koa's `app.proxy`");
      if (warning !== undefined) flow.warnOnce(PROXY_WARNING_CODE, warning);
      proxyChecked = warning !== undefined || trusted;
    }
    const decision: HttpDecision = await flow.decide(ctx);
    if (decision.action === 'skip') return next();
    ctx.set(decision.headers);
    if (decision.action === 'reject') {
      ctx.status = decision.status;
      if (decision.status === 429 && onLimited)
        return onLimited(ctx, next, decision.error as RateLimitExceeded);
      ctx.body = decision.body;
      return undefined;
    }
    if (ctx.res.closed) {
      // The client left while the limiter was deciding: nobody to answer, nothing to run.
      await flow.finish(decision.state, { statusCode: ctx.res.statusCode, aborted: true });
      return undefined;
    }
    (ctx.state as RateLimitKoaState).rateLimit = decision.state;
    const settle = settleOnce(flow, decision.state, ctx);
    try {
      await next();
    } catch (error) {
      const status = thrownStatus(error);
      settle({ statusCode: status, ...(status >= 500 ? { error } : {}) });
      throw error;
    }
    return undefined;
  };
}

/**
 * Settles the lease exactly once: when the downstream throws, else when the
 * response stream finishes (`finish`) or the connection closes first (`close`).
 */
function settleOnce(
  flow: HttpRateLimit<Context>,
  state: RateLimitState,
  ctx: Context,
): (outcome: { statusCode: number; error?: unknown }) => void {
  const res = ctx.res;
  let settled = false;
  const settle = (outcome: { statusCode: number; aborted?: boolean; error?: unknown }): void => {
    if (settled) return;
    settled = true;
    res.off('finish', onFinish);
    res.off('close', onClose);
    void flow.finish(state, outcome);
  };
  const onFinish = (): void => settle({ statusCode: res.statusCode });
  const onClose = (): void => settle({ statusCode: res.statusCode, aborted: !res.writableFinished });
  res.on('finish', onFinish);
  res.on('close', onClose);
  return settle;
}

/** The status Koa answers a thrown error with: its `status`/`statusCode` (http-errors), else 500. */
function thrownStatus(error: unknown): number {
  const candidate =
    (error as { status?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof candidate === 'number' && candidate >= 400 && candidate <= 599 ? candidate : 500;
}
