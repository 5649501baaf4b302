import { publicLimitName } from '../errors.js';
import type { LimitStatus } from '../types.js';

/** Which standard rate-limit headers to send. */
export type HeaderStandard = 'draft-8' | 'draft-6' | false;

/** Options of {@link rateLimitHeaders}. */
export interface HeaderOptions {
  standard: HeaderStandard;
  /** Also send `X-RateLimit-Limit/Remaining/Reset`. */
  legacy: boolean;
  /** Clock reading in ms, for the legacy epoch-seconds reset. */
  nowMs: number;
}

/**
 * Header values for the statuses of one decision. They never carry an entity
 * id: a limit is named by its scope alone (`rpm`, `parent.rpm`).
 *
 * - `draft-8`: one named policy per limit (ancestors' limits as `parent.rpm`,
 *   `grandparent.rpm`, `ancestor3.rpm`, ...):
 *   `RateLimit-Policy: "rpm";q=100;w=60` and `RateLimit: "rpm";r=42;t=18`,
 *   where q is the capacity, w the seconds to refill it from empty, r the
 *   tokens left and t the seconds until the bucket is full again.
 * - `draft-6`: `RateLimit-Limit/Remaining/Reset` of the tightest limit plus
 *   `RateLimit-Policy: 100;w=60, ...`.
 * - legacy: `X-RateLimit-Limit/Remaining/Reset` (reset in epoch seconds).
 */
export function rateLimitHeaders(
  statuses: readonly LimitStatus[],
  options: HeaderOptions,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (statuses.length === 0) return headers;
  if (options.standard === 'draft-8') {
    headers['RateLimit-Policy'] = statuses
      .map((status) => `${policyName(status)};q=${status.capacity};w=${windowSeconds(status)}`)
      .join(', ');
    headers['RateLimit'] = statuses
      .map((status) => `${policyName(status)};r=${remaining(status)};t=${secondsCeil(status.resetAfterMs)}`)
      .join(', ');
  } else if (options.standard === 'draft-6') {
    const tightest = tightestStatus(statuses);
    headers['RateLimit-Policy'] = statuses
      .map((status) => `${status.capacity};w=${windowSeconds(status)}`)
      .join(', ');
    headers['RateLimit-Limit'] = String(tightest.capacity);
    headers['RateLimit-Remaining'] = String(remaining(tightest));
    headers['RateLimit-Reset'] = String(secondsCeil(tightest.resetAfterMs));
  }
  if (options.legacy) {
    const tightest = tightestStatus(statuses);
    headers['X-RateLimit-Limit'] = String(tightest.capacity);
    headers['X-RateLimit-Remaining'] = String(remaining(tightest));
    headers['X-RateLimit-Reset'] = String(Math.ceil((options.nowMs + tightest.resetAfterMs) / 1000));
  }
  return headers;
}

/** `Retry-After` value: whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/** The limit that constrains the client most: exceeded first, then fewest tokens left relative to capacity. */
export function tightestStatus(statuses: readonly LimitStatus[]): LimitStatus {
  let tightest = statuses[0]!;
  for (const status of statuses) {
    const better =
      Number(status.exceeded) - Number(tightest.exceeded) ||
      tightest.available / tightest.capacity - status.available / status.capacity;
    if (better > 0) tightest = status;
  }
  return tightest;
}

function policyName(status: LimitStatus): string {
  return `"${publicLimitName(status)}"`;
}

/** Seconds to refill the whole bucket: capacity × period / amount, rounded up. */
function windowSeconds(status: LimitStatus): number {
  return Math.max(1, Math.ceil((status.capacity * status.refillPeriodMs) / status.refillAmount / 1000));
}

/** Tokens left as headers state them: never below 0 (`LimitStatus.available` is negative in debt). */
function remaining(status: LimitStatus): number {
  return Math.max(0, status.available);
}

function secondsCeil(ms: number): number {
  return Math.ceil(ms / 1000);
}
