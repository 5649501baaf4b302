import { setMaxListeners } from 'node:events';
import { traceStoreCall } from '../diagnostics.js';
import { isTollgateError, RateLimiterUnavailable } from '../errors.js';

/** Optional parts of {@link callStore}. */
export interface StoreCallOptions<T> {
  /** The caller's own signal: when it aborts, the call rejects with its reason at once. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Receives the store call still under way when the call already rejected
   * (deadline or abort), e.g. to refund a charge that lands for a caller who left.
   */
  readonly onAbandoned?: ((running: Promise<T>) => void) | undefined;
  /** The store reports its requests (`Store.reportsRoundTrips`): traced calls then carry `roundTrips`. */
  readonly reportsRoundTrips?: boolean | undefined;
}

/**
 * Runs one store call under a deadline. Whatever the store throws that is not
 * a Tollgate error (SDK, network, throttling, a custom store's bug) becomes
 * `RateLimiterUnavailable` with the original as `cause`, so a store failure is
 * never mistaken for a limit decision. The deadline also wins when a store
 * ignores the abort signal. An abort of the caller's signal rejects with the
 * signal's reason, unwrapped.
 */
export function callStore<T>(
  operation: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
  inProcess = false,
  options: StoreCallOptions<T> = {},
): Promise<T> {
  if (options.signal?.aborted) return Promise.reject(options.signal.reason);
  return traceStoreCall(
    operation,
    () =>
      inProcess && options.signal === undefined
        ? callInProcess(operation, call)
        : callWithDeadline(operation, inProcess ? undefined : timeoutMs, call, options),
    inProcess || options.reportsRoundTrips === true,
  );
}

/**
 * One deadline shared by the calls without a caller signal that start within
 * the same millisecond: one signal and one timer for all of them instead of
 * an AbortController and a timer each, which cost more than the rest of a
 * decision on a busy store. A call's deadline is at most 1 ms early.
 */
interface SharedDeadline {
  readonly signal: AbortSignal;
  /** Rejects (with the signal's reason) when the deadline passes. */
  readonly passed: Promise<never>;
  /** The `Date.now()` millisecond it was created in. */
  readonly startedAt: number;
  /** Calls still running under it. */
  running: number;
  /** Whether its timer holds the process open: only while calls run under it. */
  hold(held: boolean): void;
  stop(): void;
}

/**
 * The deadline that calls starting now join, per `timeoutMs`. It stays open
 * for the rest of its millisecond when its calls are done (sequential calls
 * share it too), with a timer that no longer holds the process open, and is
 * stopped when a later millisecond's call replaces it.
 */
const openDeadlines = new Map<number, SharedDeadline>();

function sharedDeadline(timeoutMs: number): SharedDeadline {
  const now = Date.now();
  const open = openDeadlines.get(timeoutMs);
  if (open !== undefined) {
    if (open.startedAt === now) return open;
    if (open.running === 0) open.stop();
  }
  const controller = new AbortController();
  // Every store call of the millisecond may listen to it: not a leak.
  setMaxListeners(0, controller.signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const passed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new RateLimiterUnavailable(
        `Store call did not finish within timeoutMs (${timeoutMs} ms)`,
      );
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
  });
  passed.catch(() => undefined);
  const deadline: SharedDeadline = {
    signal: controller.signal,
    passed,
    startedAt: now,
    running: 0,
    hold: (held) => {
      if (held) timer?.ref();
      else timer?.unref();
    },
    stop: () => clearTimeout(timer),
  };
  openDeadlines.set(timeoutMs, deadline);
  return deadline;
}

async function callUnderSharedDeadline<T>(
  operation: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
  onAbandoned: ((running: Promise<T>) => void) | undefined,
): Promise<T> {
  const deadline = sharedDeadline(timeoutMs);
  deadline.running += 1;
  if (deadline.running === 1) deadline.hold(true);
  const running = invoke(call, deadline.signal);
  try {
    return await Promise.race([running, deadline.passed]);
  } catch (error) {
    if (deadline.signal.aborted) {
      running.catch(() => undefined);
      onAbandoned?.(running);
      throw new RateLimiterUnavailable(
        `Store call \`${operation}\` did not finish within timeoutMs (${timeoutMs} ms)`,
      );
    }
    throw asStoreFailure(operation, error);
  } finally {
    deadline.running -= 1;
    if (deadline.running === 0) {
      // Kept for the rest of its millisecond, without holding the process open; a replaced one stops.
      if (openDeadlines.get(timeoutMs) === deadline) deadline.hold(false);
      else deadline.stop();
    }
  }
}

async function callWithDeadline<T>(
  operation: string,
  timeoutMs: number | undefined,
  call: (signal: AbortSignal) => Promise<T>,
  options: StoreCallOptions<T>,
): Promise<T> {
  if (timeoutMs !== undefined && options.signal === undefined) {
    return callUnderSharedDeadline(operation, timeoutMs, call, options.onAbandoned);
  }
  const controller = new AbortController();
  const { signal: callerSignal, onAbandoned } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onCallerAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const error = new RateLimiterUnavailable(
          `Store call \`${operation}\` did not finish within timeoutMs (${timeoutMs} ms)`,
        );
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    }
    if (callerSignal !== undefined) {
      onCallerAbort = () => {
        controller.abort(callerSignal.reason);
        reject(callerSignal.reason);
      };
      callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    }
  });
  const running = invoke(call, controller.signal);
  try {
    return await Promise.race([running, stopped]);
  } catch (error) {
    if (controller.signal.aborted) {
      running.catch(() => undefined);
      onAbandoned?.(running);
      const reason: unknown = controller.signal.reason;
      if (callerSignal?.aborted && reason === callerSignal.reason) throw reason;
      if (isTollgateError(reason)) throw reason;
    }
    throw asStoreFailure(operation, error);
  } finally {
    clearTimeout(timer);
    if (onCallerAbort !== undefined) callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

/** The signal given to in-process stores: nothing to abort. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** A store error as the limiter reports it: Tollgate errors as they are, anything else as "unavailable". */
export function asStoreFailure(operation: string, error: unknown): unknown {
  if (isTollgateError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new RateLimiterUnavailable(`Store call \`${operation}\` failed: ${reason}`, { cause: error });
}

/** An in-process store cannot hang on I/O: no timer, but failures are still "unavailable". */
function callInProcess<T>(operation: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return invoke(call, NEVER_ABORTED).then(undefined, (error: unknown) => {
    throw asStoreFailure(operation, error);
  });
}

/** Calls a store method; one that throws instead of returning a rejected promise fails the same way. */
function invoke<T>(call: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return call(signal);
  } catch (error) {
    return Promise.reject(error);
  }
}
