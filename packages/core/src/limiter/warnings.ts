import type { Logger } from '../types.js';

/** More limiters than this in one process usually means one is built per request. */
const LIMITER_COUNT_WARNING = 1000;
let limitersConstructed = 0;
let warned = false;

/**
 * Counts limiter constructions and warns once (`WARN_TOLLGATE_LIMITER_PER_REQUEST`)
 * when a process builds so many that one is probably created per request,
 * which gives every request a fresh cache and defeats the deny cache.
 */
export function noteLimiterConstructed(logger: Logger): void {
  limitersConstructed += 1;
  if (limitersConstructed > LIMITER_COUNT_WARNING && !warned) {
    warned = true;
    logger.warn(
      `WARN_TOLLGATE_LIMITER_PER_REQUEST: ${limitersConstructed} RateLimiter instances were created in this process; build one at startup and share it`,
      { code: 'WARN_TOLLGATE_LIMITER_PER_REQUEST' },
    );
  }
}
