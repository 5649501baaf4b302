import {
  type HttpAdmission,
  type HttpFramework,
  HttpRateLimit,
  type HttpRateLimitOptions,
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
 * `validate`, `exposeEntities`, `statusCode`, `message`,
 * `requestPropertyName`, `skipSuccessfulRequests`, `skipFailedRequests`,
 * `requestWasSuccessful`) with Koa's `ctx`, plus a custom limited response.
 * Any other option name is refused when the middleware is built.
 */
export interface RateLimitOptions extends HttpRateLimitOptions<Context> {
  /**
   * Answers a limited request instead of the default JSON 429 (and instead
   * of `message`). `ctx.status` (429 or `statusCode`), `Retry-After` and the
   * rate-limit headers are already set.
   */
  onLimited?: (ctx: Context, next: Next, error: RateLimitExceeded) => unknown;
}

const KOA: HttpFramework<Context> = {
  clientAddress: (ctx) => ctx.ip,
  proxy: { name: "Koa's `app.proxy`", trusts: (ctx) => ctx.app.proxy },
  options: ['onLimited'],
};

/**
 * Koa middleware (Koa 2 and 3) that charges each request to its entity and
 * answers `429` with `Retry-After` once the budget is spent. The core decides,
 * sets the headers and settles the lease when the response has been sent
 * (Koa streams bodies after the middleware returns); this maps the answer to
 * Koa and refunds at once when the downstream throws a 5xx. Options are
 * validated here, once. Admitted requests get `ctx.state.rateLimit` (or
 * `ctx.state[requestPropertyName]`).
 *
 * @example
 * const app = new Koa({ proxy: true });
 * app.use(rateLimit({ limiter, entity: (ctx) => ctx.get('x-api-key') || ipKey(ctx.ip) }));
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  const flow = new HttpRateLimit<Context>(options, KOA);
  const { onLimited } = options;
  const property = flow.requestPropertyName;

  // Plain functions, not async ones: an admitted request then costs one promise (next's) and no
  // async frame.
  function proceed(ctx: Context, next: Next, admission: HttpAdmission): unknown {
    if (admission.action === 'skip') return next();
    if (admission.action === 'gone') return admission.settled;
    if (admission.action === 'reject') {
      ctx.status = admission.status;
      if (admission.reason === 'limited' && onLimited) return onLimited(ctx, next, admission.error);
      // A string `message` goes out as text: Koa would call one that starts with `<` HTML.
      if (typeof admission.body === 'string') ctx.type = 'text/plain';
      ctx.body = admission.body;
      return undefined;
    }
    (ctx.state as Record<string, unknown>)[property] = admission.state;
    // Promise.resolve returns Koa's own promise as it is: it only guards a `next` that returns none.
    return Promise.resolve(next()).then(undefined, (error: unknown) => {
      // A 5xx is refunded at once; a thrown 4xx settles when Koa has answered it, from the status sent.
      const status = thrownStatus(error);
      if (status >= 500) void flow.settle(ctx.res, { statusCode: status, error });
      throw error;
    });
  }

  return (ctx, next) => {
    try {
      const pending = flow.admit(ctx, ctx.req, ctx.res);
      return pending instanceof Promise
        ? pending.then((admission) => proceed(ctx, next, admission))
        : proceed(ctx, next, pending);
    } catch (error) {
      // Rejected, never thrown, as from an async middleware: for callers outside Koa's compose too.
      return Promise.reject(error);
    }
  };
}

/** The status Koa answers a thrown error with: its `status`/`statusCode` (http-errors), else 500. */
function thrownStatus(error: unknown): number {
  const candidate =
    (error as { status?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof candidate === 'number' && candidate >= 400 && candidate <= 599 ? candidate : 500;
}
