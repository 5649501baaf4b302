import type { Logger } from '../limiter/types.js';

const warned = new Set<string>();

/** Logs a coded warning once per process and code (setup mistakes need saying once, not per request). */
export function warnOnce(logger: Logger, code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  logger.warn(`${code}: ${message}`, { code });
}
