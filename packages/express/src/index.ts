import {
  type HttpAdmission,
  type HttpFramework,
  HttpRateLimit,
  type HttpRateLimitOptions,
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
 * `validate`, `exposeEntities`) with Express's `req`, plus a custom 429.
 */
export interface RateLimitOptions extends HttpRateLimitOptions<Request> {
  /**
   * Answers a limited request instead of the default JSON 429. The status,
   * `Retry-After` and rate-limit headers are already set on `res`.
   */
  onLimited?: (req: Request, res: Response, next: NextFunction, error: RateLimitExceeded) => void;
}

const EXPRESS: HttpFramework<Request> = {
  clientAddress: (req) => req.ip,
  proxy: { name: "Express's `trust proxy`", trusts: (req) => Boolean(req.app.get('trust proxy')) },
};

/**
 * Express middleware (Express 4 and 5) that charges each request to its
 * entity and answers `429` with `Retry-After` once the budget is spent. The
 * core decides, sets the headers and settles the lease; this maps the answer
 * to Express. Options are validated here, once. Admitted requests get
 * `req.rateLimit`; the lease commits when the response finishes and is
 * refunded when the handler fails (5xx) or the client disconnects first.
 *
 * @example
 * app.set('trust proxy', 1);
 * app.use(rateLimit({ limiter, entity: (req) => req.get('x-api-key') ?? ipKey(req.ip) }));
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  const flow = new HttpRateLimit<Request>(options, EXPRESS);
  const { onLimited } = options;

  function respond(req: Request, res: Response, next: NextFunction, admission: HttpAdmission): void {
    if (admission.action === 'gone') return;
    if (admission.action !== 'reject') {
      if (admission.action === 'proceed') req.rateLimit = admission.state;
      next();
      return;
    }
    res.status(admission.status);
    if (admission.status !== 429 || onLimited === undefined) {
      res.json(admission.body);
      return;
    }
    try {
      onLimited(req, res, next, admission.error);
    } catch (error) {
      next(error);
    }
  }

  return (req, res, next) => {
    let admission: HttpAdmission | Promise<HttpAdmission>;
    try {
      admission = flow.admit(req, req, res);
    } catch (error) {
      return next(error);
    }
    if (admission instanceof Promise) admission.then((answer) => respond(req, res, next, answer), next);
    else respond(req, res, next, admission);
  };
}
