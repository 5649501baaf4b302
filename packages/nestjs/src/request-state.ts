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

/**
 * States of GraphQL resolver calls, by the call's key (its resolve info):
 * one HTTP request may run several limited resolvers, each with its own
 * lease, so none is put on the shared request.
 */
const resolved = new WeakMap<object, RateLimitState>();

/** Records the state of one resolver call, for `@RateLimitState()` in that resolver. */
export function exposeResolverState(resolution: object, state: RateLimitState): void {
  resolved.set(resolution, state);
}

/** The state the guard recorded for a resolver call; undefined when the call is not limited. */
export function resolverStateOf(resolution: object): RateLimitState | undefined {
  return resolved.get(resolution);
}
