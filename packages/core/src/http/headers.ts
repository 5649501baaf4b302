import { publicLimitName } from '../errors.js';
import type { LimitStatus } from '../types.js';

/** Which standard rate-limit headers to send. */
export type HeaderStandard = 'draft-8' | 'draft-7' | 'draft-6' | false;

/** Every value of {@link HeaderStandard}, for validating options. */
export const HEADER_STANDARDS: readonly HeaderStandard[] = ['draft-8', 'draft-7', 'draft-6', false];

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
 * - `draft-7`: the combined `RateLimit: limit=100, remaining=42, reset=18` of
 *   the tightest limit (draft-07 has room for one limit there, as in
 *   express-rate-limit) plus `RateLimit-Policy: 100;w=60, ...` listing every limit.
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
  } else if (options.standard === 'draft-7') {
    const tightest = tightestStatus(statuses);
    headers['RateLimit-Policy'] = unnamedPolicy(statuses);
    headers['RateLimit'] =
      `limit=${tightest.capacity}, remaining=${remaining(tightest)}, reset=${secondsCeil(tightest.resetAfterMs)}`;
  } else if (options.standard === 'draft-6') {
    const tightest = tightestStatus(statuses);
    headers['RateLimit-Policy'] = unnamedPolicy(statuses);
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

/** Where headers go: Node's `ServerResponse` (all three frameworks expose it), or a record. */
export interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/** The policy text of one limit set, computed once and reused while the limits stay the same. */
interface PolicyEntry {
  /** The limit fields the policy depends on, per status, in order. */
  readonly limits: readonly Pick<
    LimitStatus,
    'limit' | 'depth' | 'capacity' | 'refillAmount' | 'refillPeriodMs'
  >[];
  /** `RateLimit-Policy` value. */
  readonly policy: string;
  /** Draft-8 quoted policy names (`"rpm"`, `"parent.rpm"`), per status. */
  readonly names: readonly string[];
}

/** Distinct limit sets whose policy text is kept; plans beyond this rotate through. */
const POLICY_CACHE_SIZE = 8;

/**
 * Writes the headers of {@link rateLimitHeaders} straight onto a response,
 * with the `RateLimit-Policy` text of each limit set computed once: it depends
 * only on the limits, which stay the same across requests of one plan, while
 * the `RateLimit` values (tokens left, seconds to full) change per request.
 */
export class RateLimitHeaderWriter {
  private readonly policies: PolicyEntry[] = [];
  private nextSlot = 0;

  /**
   * @param standard the standard headers to send
   * @param legacy also send `X-RateLimit-*`
   */
  constructor(
    readonly standard: HeaderStandard,
    readonly legacy: boolean,
  ) {}

  /** Sets the headers of `statuses` on `sink`; `nowMs` is read only for legacy headers. */
  write(sink: HeaderSink, statuses: readonly LimitStatus[], nowMs: () => number): void {
    if (statuses.length === 0) return;
    if (this.standard === 'draft-8') {
      const entry = this.policyOf(statuses);
      sink.setHeader('RateLimit-Policy', entry.policy);
      let value = '';
      for (let index = 0; index < statuses.length; index += 1) {
        const status = statuses[index]!;
        if (index > 0) value += ', ';
        value += `${entry.names[index]};r=${remaining(status)};t=${secondsCeil(status.resetAfterMs)}`;
      }
      sink.setHeader('RateLimit', value);
    } else if (this.standard === 'draft-7') {
      const tightest = tightestStatus(statuses);
      sink.setHeader('RateLimit-Policy', this.policyOf(statuses).policy);
      sink.setHeader(
        'RateLimit',
        `limit=${tightest.capacity}, remaining=${remaining(tightest)}, reset=${secondsCeil(tightest.resetAfterMs)}`,
      );
    } else if (this.standard === 'draft-6') {
      const tightest = tightestStatus(statuses);
      sink.setHeader('RateLimit-Policy', this.policyOf(statuses).policy);
      sink.setHeader('RateLimit-Limit', String(tightest.capacity));
      sink.setHeader('RateLimit-Remaining', String(remaining(tightest)));
      sink.setHeader('RateLimit-Reset', String(secondsCeil(tightest.resetAfterMs)));
    }
    if (this.legacy) {
      const tightest = tightestStatus(statuses);
      sink.setHeader('X-RateLimit-Limit', String(tightest.capacity));
      sink.setHeader('X-RateLimit-Remaining', String(remaining(tightest)));
      sink.setHeader('X-RateLimit-Reset', String(Math.ceil((nowMs() + tightest.resetAfterMs) / 1000)));
    }
  }

  /** The headers of `statuses` as a record (for rejections, which carry them). */
  record(statuses: readonly LimitStatus[], nowMs: () => number): Record<string, string> {
    const headers: Record<string, string> = {};
    this.write({ setHeader: (name, value) => (headers[name] = value) }, statuses, nowMs);
    return headers;
  }

  private policyOf(statuses: readonly LimitStatus[]): PolicyEntry {
    for (const entry of this.policies) if (sameLimits(entry.limits, statuses)) return entry;
    const entry: PolicyEntry = {
      limits: statuses.map(({ limit, depth, capacity, refillAmount, refillPeriodMs }) => ({
        limit,
        depth,
        capacity,
        refillAmount,
        refillPeriodMs,
      })),
      policy:
        this.standard === 'draft-8'
          ? statuses
              .map((status) => `${policyName(status)};q=${status.capacity};w=${windowSeconds(status)}`)
              .join(', ')
          : unnamedPolicy(statuses),
      names: statuses.map(policyName),
    };
    if (this.policies.length < POLICY_CACHE_SIZE) this.policies.push(entry);
    else {
      this.policies[this.nextSlot] = entry;
      this.nextSlot = (this.nextSlot + 1) % POLICY_CACHE_SIZE;
    }
    return entry;
  }
}

function sameLimits(limits: PolicyEntry['limits'], statuses: readonly LimitStatus[]): boolean {
  if (limits.length !== statuses.length) return false;
  for (let index = 0; index < limits.length; index += 1) {
    const a = limits[index]!;
    const b = statuses[index]!;
    if (
      a.limit !== b.limit ||
      a.depth !== b.depth ||
      a.capacity !== b.capacity ||
      a.refillAmount !== b.refillAmount ||
      a.refillPeriodMs !== b.refillPeriodMs
    )
      return false;
  }
  return true;
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

/** The draft-6 and draft-7 `RateLimit-Policy`: `100;w=60, 10000;w=3600`, one item per limit. */
function unnamedPolicy(statuses: readonly LimitStatus[]): string {
  return statuses.map((status) => `${status.capacity};w=${windowSeconds(status)}`).join(', ');
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
