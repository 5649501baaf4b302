import type { RateLimitState } from '@tollgate/core';

/** The default `requestPropertyName`, which `@RateLimitState()` reads directly. */
const DEFAULT_PROPERTY = 'rateLimit';

/**
 * States of requests exposed under another `requestPropertyName`, so
 * `@RateLimitState()` finds them without knowing the name (a parameter
 * decorator cannot inject the module options). Weak: nothing outlives its request.
 */
const renamed = new WeakMap<object, RateLimitState>();
/** Set once some module renames the property, so the default path never touches the map. */
let renaming = false;

/** Sets `req[property]` to the request's state (what the guard exposes). */
export function exposeState(req: object, property: string, state: RateLimitState): void {
  (req as Record<string, unknown>)[property] = state;
  if (property === DEFAULT_PROPERTY) return;
  renaming = true;
  renamed.set(req, state);
}

/** The state the guard exposed on `req`, whatever its property name; undefined when the route is not limited. */
export function stateOf(req: object): RateLimitState | undefined {
  if (renaming) {
    const state = renamed.get(req);
    if (state !== undefined) return state;
  }
  return (req as { rateLimit?: RateLimitState }).rateLimit;
}
