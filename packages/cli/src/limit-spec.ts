import { Limit, type LimitDefinition, ValidationError } from '@tollgate/core';

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

const SPEC = /^([^:]+):(\d+)\/(\d*)([a-z]+)(?::(\d+))?$/;

/**
 * Parses a limit spec `name:rate/period[:burst]`: `rpm:100/min`,
 * `tpm:10000/min:20000` (burst 20 000), `uploads:5/10s`, `daily:1000/day`.
 * Periods: `ms`, `s`, `min` (or `m`), `h`, `d` and their long names, with an
 * optional count (`10s`, `5min`).
 *
 * @example
 * parseLimitSpec('tpm:10000/min:20000') // Limit tpm: capacity 20000, 10000 per 60 000 ms
 */
export function parseLimitSpec(spec: string): Limit {
  const match = SPEC.exec(spec.trim());
  const unit = match?.[4] === undefined ? undefined : UNITS[match[4]];
  if (match === null || unit === undefined) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_LIMIT',
      `Expected a limit spec like rpm:100/min or tpm:10000/min:20000 (name:rate/period[:burst]), got "${spec}"`,
      'limit',
    );
  }
  const [, name, rate, count, , burst] = match;
  const refillAmount = Number(rate);
  const refillPeriodMs = (count === '' || count === undefined ? 1 : Number(count)) * unit;
  return Limit.custom({
    name: name!,
    capacity: burst === undefined ? refillAmount : Number(burst),
    refillAmount,
    refillPeriodMs,
  });
}

const FORMAT_UNITS: [string, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** The spec of a limit, the inverse of {@link parseLimitSpec}: `tpm:10000/min:20000`. */
export function formatLimitSpec(limit: LimitDefinition): string {
  const [unit, size] = FORMAT_UNITS.find(([, ms]) => limit.refillPeriodMs % ms === 0) ?? ['ms', 1];
  const count = limit.refillPeriodMs / size;
  const period = count === 1 ? unit : `${count}${unit}`;
  const burst = limit.capacity === limit.refillAmount ? '' : `:${limit.capacity}`;
  return `${limit.name}:${limit.refillAmount}/${period}${burst}`;
}
