import { sleep } from '@tollgate/core/internal';

/**
 * Waits `attempt`'s share of an exponential backoff with full jitter:
 * a random delay in `[0, min(capMs, baseMs · 2^attempt))`. Rejects with the
 * signal's reason when the call's deadline aborts the wait.
 */
export function backoff(attempt: number, signal: AbortSignal, baseMs = 10, capMs = 500): Promise<void> {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return sleep(Math.random() * ceiling, signal);
}
