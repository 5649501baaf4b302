import type { UsageWindow } from './store.js';

const WINDOW_MS: Record<UsageWindow, number> = { hour: 3_600_000, day: 86_400_000 };

/** Start (ms since the epoch, UTC) of the usage window containing `nowNs`. */
export function usageWindowStart(nowNs: bigint, window: UsageWindow): number {
  const ms = Number(nowNs / 1_000_000n);
  const size = WINDOW_MS[window];
  return ms - (ms % size);
}

/** Length of a usage window in ms. */
export function usageWindowMs(window: UsageWindow): number {
  return WINDOW_MS[window];
}
