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
  return traceStoreCall(operation, () =>
    inProcess && options.signal === undefined
      ? callInProcess(operation, call)
      : callWithDeadline(operation, inProcess ? undefined : timeoutMs, call, options),
  );
}

async function callWithDeadline<T>(
  operation: string,
  timeoutMs: number | undefined,
  call: (signal: AbortSignal) => Promise<T>,
  options: StoreCallOptions<T>,
): Promise<T> {
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
