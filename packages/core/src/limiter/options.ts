import { describeValue, ValidationError } from '../errors.js';
import type { LongKeyPolicy } from '../ids.js';
import { assertUniqueLimitNames, type Limit } from '../limit.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../types.js';
import type { RateLimiterOptions } from './types.js';

/** `RateLimiterOptions` with every default filled in, validated. */
export interface ResolvedOptions {
  readonly store: Store;
  readonly limits: readonly Limit[];
  readonly onUnavailable: 'block' | 'allow';
  readonly timeoutMs: number;
  readonly clock: () => number;
  readonly configCacheTtlMs: number;
  readonly configCacheMaxEntries: number;
  readonly denyCache: boolean;
  readonly denyCacheMaxEntries: number;
  readonly logger: Logger;
  readonly longKeys: LongKeyPolicy;
  readonly hasStoredConfig: ((entity: string) => boolean) | undefined;
}

const STORE_METHODS = ['charge', 'adjust', 'getBuckets', 'loadConfig'] as const;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Validates constructor options once, with messages that name the option and the bad value. */
export function resolveOptions(options: RateLimiterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', `Expected an options object, got ${describeValue(options)}`);
  }
  const { store } = options;
  if (
    typeof store !== 'object' ||
    store === null ||
    STORE_METHODS.some((m) => typeof store[m] !== 'function')
  ) {
    throw invalid(
      'store',
      `Expected \`store\` to implement Store (MemoryStore, DynamoDBStore), got ${describeValue(store)}`,
    );
  }
  const limits = options.limits ?? [];
  if (!Array.isArray(limits))
    throw invalid('limits', `Expected \`limits\` to be an array of Limit, got ${describeValue(limits)}`);
  assertUniqueLimitNames(limits);
  const onUnavailable = options.onUnavailable ?? 'block';
  if (onUnavailable !== 'block' && onUnavailable !== 'allow') {
    throw invalid(
      'onUnavailable',
      `Expected \`onUnavailable\` to be 'block' or 'allow', got ${describeValue(onUnavailable)}`,
    );
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function')
    throw invalid('clock', `Expected \`clock\` to be a function, got ${describeValue(clock)}`);
  const logger = options.logger ?? console;
  if (typeof logger?.warn !== 'function') {
    throw invalid('logger', `Expected \`logger\` to have a warn() method, got ${describeValue(logger)}`);
  }
  const denyCache = options.denyCache ?? true;
  if (typeof denyCache !== 'boolean')
    throw invalid('denyCache', `Expected \`denyCache\` to be a boolean, got ${describeValue(denyCache)}`);
  const longKeys = options.longKeys ?? 'hash';
  if (longKeys !== 'hash' && longKeys !== 'reject') {
    throw invalid(
      'longKeys',
      `Expected \`longKeys\` to be 'hash' or 'reject', got ${describeValue(longKeys)}`,
    );
  }
  const { hasStoredConfig } = options;
  if (hasStoredConfig !== undefined && typeof hasStoredConfig !== 'function') {
    throw invalid(
      'hasStoredConfig',
      `Expected \`hasStoredConfig\` to be a function of the entity id, got ${describeValue(hasStoredConfig)}`,
    );
  }
  return {
    store,
    limits,
    hasStoredConfig,
    longKeys,
    onUnavailable,
    clock,
    logger,
    denyCache,
    timeoutMs: positiveNumber('timeoutMs', options.timeoutMs ?? 500, MAX_TIMER_MS),
    configCacheTtlMs: nonNegativeNumber('configCacheTtlMs', options.configCacheTtlMs ?? 10_000),
    configCacheMaxEntries: positiveInteger('configCacheMaxEntries', options.configCacheMaxEntries ?? 100_000),
    denyCacheMaxEntries: positiveInteger('denyCacheMaxEntries', options.denyCacheMaxEntries ?? 10_000),
  };
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}

function positiveNumber(field: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw invalid(
      field,
      `Expected \`${field}\` to be a positive number up to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

function nonNegativeNumber(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(field, `Expected \`${field}\` to be a non-negative number, got ${describeValue(value)}`);
  }
  return value;
}

/** A positive safe integer, or `ERR_TOLLGATE_INVALID_OPTION` naming `field` and the value. */
export function positiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(field, `Expected \`${field}\` to be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}
