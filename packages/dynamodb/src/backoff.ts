/**
 * Waits `attempt`'s share of an exponential backoff with full jitter:
 * a random delay in `[0, min(capMs, baseMs · 2^attempt))`. Rejects with the
 * signal's reason when the call's deadline aborts the wait.
 */
export function backoff(attempt: number, signal: AbortSignal, baseMs = 10, capMs = 500): Promise<void> {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return sleep(Math.random() * ceiling, signal);
}

/** `setTimeout` as a promise that the signal can cancel. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
