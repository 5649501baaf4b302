/** The longest delay `setTimeout` honours; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts
 * first. Waits longer than a timer can hold (about 24.8 days) sleep in chunks.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = Date.now() + ms;
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const schedule = (left: number): void => {
      timer = setTimeout(
        () => {
          const remaining = deadline - Date.now();
          if (remaining > 0 && left > MAX_TIMER_MS) {
            schedule(remaining);
            return;
          }
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(Math.max(0, left), MAX_TIMER_MS),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    schedule(ms);
  });
}
