/**
 * `@tollgate/core/internal`: what Tollgate's own packages (stores, adapters,
 * CLI, test utilities) share with the core and applications should not use.
 * These names may change in any release.
 */
export { inRoundTripScope, roundTripScope } from './diagnostics.js';
export { optionalFunction } from './http/options.js';
export { PROXY_WARNING_CODE, proxyMisconfiguration, warnOnce } from './http/warnings.js';
export { validateId } from './ids.js';
export { assertDistinctLimitNames } from './limit.js';
export type { LeaseSettler } from './limiter/lease.js';
export { positiveInteger } from './limiter/options.js';
export { sleep } from './limiter/sleep.js';
export * as gcra from './math/gcra.js';
export { type BatchWrite, type CoalescedRequest, Coalescer } from './store/coalescer.js';
export { changedEntity, scopeKey } from './store/store.js';
export { usageWindowMs, usageWindowStart } from './store/usage-windows.js';
