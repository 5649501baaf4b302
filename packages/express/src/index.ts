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
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type { RateLimitState } from '@tollgate/core';

declare global {
  namespace Express {
    interface Request {
      /** Set by Tollgate's `rateLimit()` on admitted requests: the open lease, limit statuses, degraded flag. */
      rateLimit?: RateLimitState;
    }
  }
}

/**
 * Options of {@link rateLimit}: the shared adapter options (`limiter`,
 * `entity`, `resource`, `consume`, `limits`, `skip`, `headers`,
 * `legacyHeaders`, `rollbackOnError`, `rollbackOnAbort`, `logger`,
 * `exposeEntities`) with Express's `req`, plus a custom 429.
 */
export interface RateLimitOptions extends HttpRateLimitOptions<Request> {
  /**
   * Answers a limited request instead of the default JSON 429. The status,
   * `Retry-After` and rate-limit headers are already set on `res`.
   */
  onLimited?: (req: Request, res: Response, next: NextFunction, error: RateLimitExceeded) => void;
}

/**
 * Express middleware (Express 4 and 5) that charges each request to its
 * entity and answers `429` with `Retry-After` once the budget is spent. The
 * core decides; this maps `req` in and the decision out. Options are validated
 * here, once. Admitted requests get `req.rateLimit`; the lease commits when the
 * response finishes and is refunded when the handler fails (5xx) or the client
 * disconnects first.
 *
 * @example
 * app.set('trust proxy', 1);
 * app.use(rateLimit({ limiter, entity: (req) => req.get('x-api-key') ?? ipKey(req.ip) }));
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  const flow = new HttpRateLimit<Request>(options, (req) => req.ip);
  const onLimited = optionalFunction(options.onLimited, 'onLimited');
  let proxyChecked = false;

  return (req, res, next) => {
    if (!proxyChecked) {
      const trusted = Boolean(req.app.get('trust proxy'));
      const warning = proxyMisconfiguration(
        req.headers['x-forwarded-for'],
        trusted,
        "Express's `trust proxy`",
      );
      if (warning !== undefined) flow.warnOnce(PROXY_WARNING_CODE, warning);
      proxyChecked = warning !== undefined || trusted;
    }
    void respond(req, res, next);
  };

  async function respond(req: Request, res: Response, next: NextFunction): Promise<void> {
    let decision: HttpDecision;
    try {
      decision = await flow.decide(req);
    } catch (error) {
      return next(error);
    }
    if (decision.action === 'skip') return next();
    res.set(decision.headers);
    if (decision.action === 'proceed') {
      if (res.closed) {
        // The client left while the limiter was deciding: nobody to answer, nothing to run.
        void flow.finish(decision.state, { statusCode: res.statusCode, aborted: true });
        return;
      }
      req.rateLimit = decision.state;
      settleWhenDone(flow, decision.state, res);
      return next();
    }
    res.status(decision.status);
    if (decision.status !== 429 || onLimited === undefined) {
      res.json(decision.body);
      return;
    }
    try {
      onLimited(req, res, next, decision.error as RateLimitExceeded);
    } catch (error) {
      next(error);
    }
  }
}

/** Settles the lease exactly once: `finish` = complete, `close` before `finish` = client gone. */
function settleWhenDone(flow: HttpRateLimit<Request>, state: RateLimitState, res: Response): void {
  let settled = false;
  const settle = (aborted: boolean): void => {
    if (settled) return;
    settled = true;
    res.off('finish', onFinish);
    res.off('close', onClose);
    void flow.finish(state, { statusCode: res.statusCode, aborted });
  };
  const onFinish = (): void => settle(false);
  const onClose = (): void => settle(!res.writableFinished);
  res.on('finish', onFinish);
  res.on('close', onClose);
}
