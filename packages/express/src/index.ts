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
 * `validate`, `exposeEntities`, `statusCode`, `message`,
 * `requestPropertyName`, `skipSuccessfulRequests`, `skipFailedRequests`,
 * `requestWasSuccessful`) with Express's `req` and `res`, plus a custom
 * limited response. Any other option name is refused when the middleware is built.
 */
export interface RateLimitOptions extends Omit<HttpRateLimitOptions<Request>, 'requestWasSuccessful'> {
  /**
   * Answers a limited request instead of the default JSON 429 (and instead
   * of `message`). The status, `Retry-After` and rate-limit headers are
   * already set on `res`.
   */
  onLimited?: (req: Request, res: Response, next: NextFunction, error: RateLimitExceeded) => void;
  /**
   * Whether a finished request counts as successful, for
   * `skipSuccessfulRequests` / `skipFailedRequests`. Default: `res.statusCode < 400`.
   */
  requestWasSuccessful?: (req: Request, res: Response) => boolean | Promise<boolean>;
}

const EXPRESS: HttpFramework<Request> = {
  // With `trust proxy` off (Express's default) `req.ip` is the socket's address: read it without
  // the X-Forwarded-For parsing that `req.ip` does on every access.
  clientAddress: (req) => (req.app?.get('trust proxy') === false ? req.socket.remoteAddress : req.ip),
  proxy: { name: "Express's `trust proxy`", trusts: (req) => Boolean(req.app.get('trust proxy')) },
  options: ['onLimited'],
};

/**
 * Express middleware (Express 4 and 5) that charges each request to its
 * entity and answers `429` with `Retry-After` once the budget is spent. The
 * core decides, sets the headers and settles the lease; this maps the answer
 * to Express. Options are validated here, once. Admitted requests get
 * `req.rateLimit` (or `req[requestPropertyName]`); the lease commits when
 * the response finishes and is refunded when the handler fails (5xx) or the
 * client disconnects first (and, with `skipSuccessfulRequests` /
 * `skipFailedRequests`, when the request counts as skipped).
 *
 * @example
 * app.set('trust proxy', 1);
 * app.use(rateLimit({ limiter, entity: (req) => req.get('x-api-key') ?? ipKey(req.ip) }));
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  // The core hands `requestWasSuccessful` the response given to `admit`, which is Express's `res`.
  const flow = new HttpRateLimit<Request>(options as HttpRateLimitOptions<Request>, EXPRESS);
  const { onLimited } = options;
  const property = flow.requestPropertyName;

  function respond(req: Request, res: Response, next: NextFunction, admission: HttpAdmission): void {
    if (admission.action === 'gone') return;
    if (admission.action !== 'reject') {
      if (admission.action === 'proceed')
        (req as unknown as Record<string, unknown>)[property] = admission.state;
      next();
      return;
    }
    res.status(admission.status);
    if (admission.reason !== 'limited' || onLimited === undefined) {
      // A string `message` goes out as text: never let Express guess HTML for it.
      if (typeof admission.body === 'string') res.type('text/plain').send(admission.body);
      else res.json(admission.body);
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
