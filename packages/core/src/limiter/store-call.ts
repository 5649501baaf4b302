import { isTollgateError, RateLimiterUnavailable } from '../errors.js';

/**
 * Runs one store call under a deadline. Whatever the store throws that is not
 * a Tollgate error (SDK, network, throttling, a custom store's bug) becomes
 * `RateLimiterUnavailable` with the original as `cause`, so a store failure is
 * never mistaken for a limit decision. The deadline also wins when a store
 * ignores the abort signal.
 */
export function callStore<T>(
  operation: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
  inProcess = false,
): Promise<T> {
  return inProcess ? callInProcess(operation, call) : callWithDeadline(operation, timeoutMs, call);
}

async function callWithDeadline<T>(
  operation: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new RateLimiterUnavailable(
        `Store call \`${operation}\` did not finish within timeoutMs (${timeoutMs} ms)`,
      );
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([call(controller.signal), deadline]);
  } catch (error) {
    if (isTollgateError(error)) throw error;
    if (controller.signal.aborted && isTollgateError(controller.signal.reason))
      throw controller.signal.reason;
    const reason = error instanceof Error ? error.message : String(error);
    throw new RateLimiterUnavailable(`Store call \`${operation}\` failed: ${reason}`, { cause: error });
  } finally {
    clearTimeout(timer);
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
  return call(NEVER_ABORTED).then(undefined, (error: unknown) => {
    throw asStoreFailure(operation, error);
  });
}
