/**
 * DynamoDB prices used by `tollgate capacity` when none are given: Standard
 * table class, as published for us-east-1 in November 2024 (after the
 * on-demand price reduction of 1 November 2024). Prices change and differ by
 * region: override with `--price-*`.
 */
export const DEFAULT_PRICES = Object.freeze({
  /** USD per million write request units (on-demand). */
  onDemandWritePerMillion: 0.625,
  /** USD per million read request units (on-demand). */
  onDemandReadPerMillion: 0.125,
  /** USD per provisioned write capacity unit per hour. */
  provisionedWcuHour: 0.00065,
  /** USD per provisioned read capacity unit per hour. */
  provisionedRcuHour: 0.00013,
});

/** Where and when {@link DEFAULT_PRICES} were published. */
export const DEFAULT_PRICES_SOURCE =
  'as published for us-east-1 (Standard table class), November 2024; override with --price-*';

/** Prices of one estimate. */
export type Prices = { -readonly [K in keyof typeof DEFAULT_PRICES]: number };
