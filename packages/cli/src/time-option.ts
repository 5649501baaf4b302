import { CliError, EXIT } from './exit-codes.js';

const RELATIVE = /^-(\d+)(m|h|d)$/;
const RELATIVE_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a time option: an ISO 8601 date or date-time (`2026-01-15`,
 * `2026-01-15T10:00:00Z`), milliseconds since the epoch, or a time relative
 * to `now`: `-90m`, `-24h`, `-7d`.
 */
export function parseTime(value: string, name: string, now: number = Date.now()): number {
  const relative = RELATIVE.exec(value);
  if (relative !== null) return now - Number(relative[1]) * RELATIVE_MS[relative[2]!]!;
  if (/^\d+$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected ${name} to be an ISO date, ms since the epoch or a relative time like -24h, got "${value}"`,
    );
  }
  return parsed;
}
