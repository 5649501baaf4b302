import type { Logger } from '../types.js';

const warned = new WeakMap<Logger, Set<string>>();

/**
 * Logs a coded warning once per logger and code (setup mistakes need saying
 * once, not per request). With the default `console` logger that is once per
 * process; two apps with their own loggers each hear about their own mistake.
 */
export function warnOnce(logger: Logger, code: string, message: string): void {
  let codes = warned.get(logger);
  if (codes === undefined) {
    codes = new Set();
    warned.set(logger, codes);
  }
  if (codes.has(code)) return;
  codes.add(code);
  logger.warn(`${code}: ${message}`, { code });
}
