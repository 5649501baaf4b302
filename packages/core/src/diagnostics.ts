/**
 * What the limiter publishes on `node:diagnostics_channel`, for metrics and
 * tracing without a dependency on any exporter. Nothing is measured or built
 * while a channel has no subscribers: each publishing helper checks
 * `hasSubscribers` before it reads the time or creates a message.
 *
 * Channels are looked up by name across the whole process, so a subscriber
 * sees the messages of every copy of `@tollgate/core` that is loaded.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Channel, channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describeValue, isRateLimiterUnavailable, isTollgateError } from './errors.js';
import { DEFAULT_RESOURCE } from './ids.js';
import type { Store } from './store/store.js';
import type { LimitStatus } from './types.js';

// Shapes read from the limiter's values, declared here so that the limiter can import this
// module without an import cycle.
/** What a decision message reads of the request. */
interface AcquireRequest {
  readonly entity: string;
  readonly resource?: string | undefined;
}
/** What a decision message reads of the decision. */
type Decision =
  | { readonly allowed: true; readonly degraded: boolean }
  | { readonly allowed: false; readonly retryAfterMs: number; readonly statuses: readonly LimitStatus[] };
/** What a settlement message reads of the lease. */
interface Lease {
  readonly entity: string;
  readonly resource: string;
  readonly degraded: boolean;
}

/** Channel of {@link DecisionMessage}: one message per `tryAcquire` (and per attempt of `acquire`). */
export const DECISION_CHANNEL = 'tollgate:decision';
/** Channel of {@link StoreCallMessage}: one message per call the limiter makes to its store. */
export const STORE_CHANNEL = 'tollgate:store';
/** Channel of {@link LeaseSettlementMessage}: one message per lease commit or rollback. */
export const LEASE_CHANNEL = 'tollgate:lease';

/**
 * How a decision ended:
 * - `admitted`: the request was charged and holds a lease;
 * - `limited`: a limit was short (`RateLimitExceeded`, or `allowed: false` from `tryAcquire`);
 * - `unavailable`: the store failed (`RateLimiterUnavailable`), or it failed and the
 *   request was admitted without a charge under `onUnavailable: 'allow'` (`degraded: true`);
 * - `invalid`: the request could not be used (`ValidationError`); nothing was charged.
 */
export type DecisionOutcome = 'admitted' | 'limited' | 'unavailable' | 'invalid';

/** Published on {@link DECISION_CHANNEL} when a decision ends. */
export interface DecisionMessage {
  /** The entity asked for; for an `invalid` decision whose entity was not a string, its description. */
  readonly entity: string;
  /** The resource asked for (`'default'` when none was given). */
  readonly resource: string;
  readonly outcome: DecisionOutcome;
  /** For `limited`: the name of the limit that decided the wait (the longest one, when several were short). */
  readonly limit?: string;
  /** For `limited`: 0 when that limit is the entity's own, 1 for its parent, ... (cascade). */
  readonly depth?: number;
  /** For `limited`: milliseconds until the request could be admitted. */
  readonly retryAfterMs?: number;
  /** True when the request was admitted without a charge because the store failed (`onUnavailable: 'allow'`). */
  readonly degraded: boolean;
  /** Wall time of the decision, in milliseconds (fractional). */
  readonly durationMs: number;
  /** For `invalid`, and `unavailable` when not degraded: the error the caller got. */
  readonly error?: unknown;
}

/** Published on {@link STORE_CHANNEL} when a store call the limiter made ends. */
export interface StoreCallMessage {
  /** The store method, e.g. `charge`, `adjust`, `loadConfig`, `getBuckets`. */
  readonly operation: string;
  /** Wall time until the limiter had its answer (the deadline, when the store did not answer in time), in ms. */
  readonly durationMs: number;
  /**
   * Requests the store sent to its backend for this call while it was open,
   * retries included: 0 for an in-process store. Absent when the store does
   * not report them (see {@link Store.reportsRoundTrips}). A coalesced write
   * counts once, on the call that sent it (its companions show 0), so the
   * sum over messages is the number of requests sent.
   */
  readonly roundTrips?: number;
  /** What the call failed with: a `RateLimiterUnavailable` for deadlines and store failures. Absent on success. */
  readonly error?: unknown;
}

/** Published on {@link LEASE_CHANNEL} when a lease's commit or rollback ends. */
export interface LeaseSettlementMessage {
  readonly kind: 'commit' | 'rollback';
  readonly entity: string;
  readonly resource: string;
  /** True for the lease of a request admitted without a charge (nothing is written). */
  readonly degraded: boolean;
  /** Wall time of the settlement (its store write, if any), in milliseconds. */
  readonly durationMs: number;
  /** What the settlement failed with. Absent on success. */
  readonly error?: unknown;
}

/** Handlers for {@link subscribeDiagnostics}; each is optional. */
export interface DiagnosticsHandlers {
  decision?: (message: DecisionMessage) => void;
  store?: (message: StoreCallMessage) => void;
  lease?: (message: LeaseSettlementMessage) => void;
}

/**
 * Subscribes to Tollgate's channels; returns a function that unsubscribes.
 * Handlers run synchronously where the limiter publishes: keep them cheap,
 * and do not throw (a throwing subscriber is reported by Node.js as an
 * uncaught exception, it does not fail the decision).
 *
 * @example
 * const stop = subscribeDiagnostics({
 *   decision: ({ outcome, limit, durationMs }) => console.log(outcome, limit ?? '', durationMs),
 * });
 * // ... later
 * stop();
 */
export function subscribeDiagnostics(handlers: DiagnosticsHandlers): () => void {
  const subscriptions: Array<[string, (message: unknown, name: string | symbol) => void]> = [];
  const add = <M>(name: string, handler: ((message: M) => void) | undefined): void => {
    if (handler === undefined) return;
    const listener = (message: unknown): void => handler(message as M);
    subscribe(name, listener);
    subscriptions.push([name, listener]);
  };
  add(DECISION_CHANNEL, handlers.decision);
  add(STORE_CHANNEL, handlers.store);
  add(LEASE_CHANNEL, handlers.lease);
  let subscribed = true;
  return () => {
    if (!subscribed) return;
    subscribed = false;
    for (const [name, listener] of subscriptions) unsubscribe(name, listener);
  };
}

const decisions: Channel = channel(DECISION_CHANNEL);
const storeCalls: Channel = channel(STORE_CHANNEL);
const settlements: Channel = channel(LEASE_CHANNEL);

/**
 * @internal Builds the messages. An object, so tests can observe that nothing
 * is built while a channel has no subscribers.
 */
export const diagnosticsMessages = {
  decision(request: AcquireRequest, durationMs: number, decision: Decision): DecisionMessage {
    const { entity, resource } = request;
    if (decision.allowed) {
      return {
        entity,
        resource: resource ?? DEFAULT_RESOURCE,
        outcome: decision.degraded ? 'unavailable' : 'admitted',
        degraded: decision.degraded,
        durationMs,
      };
    }
    const limiting = longestWait(decision.statuses);
    return {
      entity,
      resource: resource ?? DEFAULT_RESOURCE,
      outcome: 'limited',
      ...(limiting === undefined ? {} : { limit: limiting.limit, depth: limiting.depth }),
      retryAfterMs: decision.retryAfterMs,
      degraded: false,
      durationMs,
    };
  },

  failedDecision(request: unknown, durationMs: number, error: unknown): DecisionMessage | undefined {
    const outcome: DecisionOutcome | undefined = isRateLimiterUnavailable(error)
      ? 'unavailable'
      : isTollgateError(error) && error.name === 'ValidationError'
        ? 'invalid'
        : undefined;
    // Anything else is the caller's abort (or a programming error): not a decision.
    if (outcome === undefined) return undefined;
    const { entity, resource } = (typeof request === 'object' && request !== null ? request : {}) as {
      entity?: unknown;
      resource?: unknown;
    };
    return {
      entity: typeof entity === 'string' ? entity : describeValue(entity),
      resource:
        resource === undefined
          ? DEFAULT_RESOURCE
          : typeof resource === 'string'
            ? resource
            : describeValue(resource),
      outcome,
      degraded: false,
      durationMs,
      error,
    };
  },

  storeCall(
    operation: string,
    durationMs: number,
    roundTrips: number | undefined,
    error: unknown,
    failed: boolean,
  ): StoreCallMessage {
    const message: { -readonly [K in keyof StoreCallMessage]: StoreCallMessage[K] } = {
      operation,
      durationMs,
    };
    if (roundTrips !== undefined) message.roundTrips = roundTrips;
    if (failed) message.error = error;
    return message;
  },

  settlement(
    lease: Lease,
    kind: 'commit' | 'rollback',
    durationMs: number,
    error: unknown,
    failed: boolean,
  ): LeaseSettlementMessage {
    const { entity, resource, degraded } = lease;
    return failed
      ? { kind, entity, resource, degraded, durationMs, error }
      : { kind, entity, resource, degraded, durationMs };
  },
};

/**
 * @internal Runs one decision and publishes its outcome on
 * {@link DECISION_CHANNEL}. Without subscribers it only returns `decide()`.
 */
export function traceDecision<D extends Decision>(
  request: AcquireRequest,
  decide: () => Promise<D>,
): Promise<D> {
  if (!decisions.hasSubscribers) return decide();
  const startedAt = performance.now();
  return decide().then(
    (decision) => {
      if (decisions.hasSubscribers) {
        decisions.publish(diagnosticsMessages.decision(request, performance.now() - startedAt, decision));
      }
      return decision;
    },
    (error: unknown) => {
      if (decisions.hasSubscribers) {
        const message = diagnosticsMessages.failedDecision(request, performance.now() - startedAt, error);
        if (message !== undefined) decisions.publish(message);
      }
      throw error;
    },
  );
}

/** @internal True while someone listens for decisions: the limiter then times each one. */
export function decisionsObserved(): boolean {
  return decisions.hasSubscribers;
}

/** @internal True while someone listens for lease settlements: every commit is then traced, even one with nothing to write. */
export function settlementsObserved(): boolean {
  return settlements.hasSubscribers;
}

/** @internal True while someone listens to {@link STORE_CHANNEL}: in-process fast paths then go through {@link traceStoreCall}. */
export function storeCallsObserved(): boolean {
  return storeCalls.hasSubscribers;
}

/** The requests sent for one traced store call, counted by {@link recordRoundTrips}. */
interface RoundTripCount {
  sent: number;
}

/** The traced store call the running code works for; empty while nobody observes store calls. */
const roundTripCounts = new AsyncLocalStorage<RoundTripCount>();

/**
 * Counts requests a store sent to its backend (a DynamoDB or Redis command,
 * each retry included) towards the store call under way, for the
 * `roundTrips` of its {@link StoreCallMessage}. A store that calls it for
 * every request it sends declares {@link Store.reportsRoundTrips}. Costs one
 * boolean check while nobody observes store calls.
 *
 * @param count - Requests sent (default 1).
 */
export function recordRoundTrips(count = 1): void {
  if (!storeCalls.hasSubscribers) return;
  const open = roundTripCounts.getStore();
  if (open !== undefined) open.sent += count;
}

/**
 * @internal The store call the running code works for, to hand to code that
 * runs later for it (a coalesced write sent when an earlier one finished).
 * Undefined while nobody observes store calls.
 */
export function roundTripScope(): object | undefined {
  return storeCalls.hasSubscribers ? roundTripCounts.getStore() : undefined;
}

/** @internal Runs `run` for the store call `scope` came from (see {@link roundTripScope}). */
export function inRoundTripScope<T>(scope: object | undefined, run: () => T): T {
  return scope === undefined ? run() : roundTripCounts.run(scope as RoundTripCount, run);
}

/**
 * @internal Runs one store call and publishes it on {@link STORE_CHANNEL}.
 * Without subscribers it only returns `call()`. With `countsRoundTrips`, the
 * message carries the requests the store recorded while the call ran
 * (always 0 for an in-process store).
 */
export function traceStoreCall<T>(
  operation: string,
  call: () => Promise<T>,
  countsRoundTrips = false,
): Promise<T> {
  if (!storeCalls.hasSubscribers) return call();
  const startedAt = performance.now();
  const count: RoundTripCount = { sent: 0 };
  return settled(
    () => roundTripCounts.run(count, call),
    (error, failed) => {
      if (storeCalls.hasSubscribers) {
        storeCalls.publish(
          diagnosticsMessages.storeCall(
            operation,
            performance.now() - startedAt,
            countsRoundTrips ? count.sent : undefined,
            error,
            failed,
          ),
        );
      }
    },
  );
}

/**
 * @internal {@link traceStoreCall} for an in-process store's synchronous call
 * (no round trips). Without subscribers it only returns `call()`.
 */
export function traceStoreCallSync<T>(operation: string, call: () => T): T {
  if (!storeCalls.hasSubscribers) return call();
  const startedAt = performance.now();
  try {
    const result = call();
    storeCalls.publish(
      diagnosticsMessages.storeCall(operation, performance.now() - startedAt, 0, undefined, false),
    );
    return result;
  } catch (error) {
    storeCalls.publish(
      diagnosticsMessages.storeCall(operation, performance.now() - startedAt, 0, error, true),
    );
    throw error;
  }
}

/**
 * @internal Runs one lease settlement and publishes it on {@link LEASE_CHANNEL}.
 * Without subscribers it only returns `settle()`.
 */
export function traceSettlement(
  lease: Lease,
  kind: 'commit' | 'rollback',
  settle: () => Promise<void>,
): Promise<void> {
  if (!settlements.hasSubscribers) return settle();
  const startedAt = performance.now();
  return settled(settle, (error, failed) => {
    if (settlements.hasSubscribers) {
      settlements.publish(
        diagnosticsMessages.settlement(lease, kind, performance.now() - startedAt, error, failed),
      );
    }
  });
}

/** Runs `run`, calls `done` once it settled (a synchronous throw counts), and passes its outcome on unchanged. */
function settled<T>(run: () => Promise<T>, done: (error: unknown, failed: boolean) => void): Promise<T> {
  let running: Promise<T>;
  try {
    running = run();
  } catch (error) {
    done(error, true);
    throw error;
  }
  return running.then(
    (value) => {
      done(undefined, false);
      return value;
    },
    (error: unknown) => {
      done(error, true);
      throw error;
    },
  );
}

/** The exceeded status with the longest wait: the limit that decided `retryAfterMs`. */
function longestWait(statuses: readonly LimitStatus[]): LimitStatus | undefined {
  let longest: LimitStatus | undefined;
  for (const status of statuses) {
    if (status.exceeded && (longest === undefined || status.retryAfterMs > longest.retryAfterMs)) {
      longest = status;
    }
  }
  return longest;
}
