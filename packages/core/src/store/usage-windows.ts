import type { UsageWindow } from './store.js';

const WINDOW_MS: Record<UsageWindow, number> = { hour: 3_600_000, day: 86_400_000 };

/** Length of a usage window in ms. */
export function usageWindowMs(window: UsageWindow): number {
  return WINDOW_MS[window];
}

/** Start (ms since the epoch) of the usage window that contains `nowNs`. */
export function usageWindowStart(nowNs: bigint, window: UsageWindow): number {
  const ms = Number(nowNs / 1_000_000n);
  return ms - (ms % WINDOW_MS[window]);
}
