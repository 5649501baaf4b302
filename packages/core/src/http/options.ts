import { describeValue, ValidationError } from '../errors.js';
import type { Consumption } from '../types.js';
import { HTTP_WARNINGS, type ValidateOption } from './warnings.js';

/** A value, or a promise of it: what the user's request functions may return. */
export type MaybePromise<T> = T | Promise<T>;

/** True when `value` is a promise (or any thenable) that must be awaited. */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** `ERR_TOLLGATE_INVALID_OPTION` for `field`. */
export function invalidOption(field: string, message: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_OPTION', message, field);
}

/**
 * Validates an optional callback option of an adapter (e.g. `onLimited`):
 * `ERR_TOLLGATE_INVALID_OPTION` unless it is absent or a function.
 */
export function optionalFunction<F>(value: F | undefined, field: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw invalidOption(field, `Expected \`${field}\` to be a function, got ${describeValue(value)}`);
  }
  return value;
}

/** A string option or a function of the request, as a function (undefined when absent). */
export function stringOrFunction<Req>(
  value: string | ((req: Req) => MaybePromise<string>) | undefined,
  field: string,
): ((req: Req) => MaybePromise<string>) | string | undefined {
  if (value === undefined || typeof value === 'function' || typeof value === 'string') return value;
  throw invalidOption(
    field,
    `Expected \`${field}\` to be a string or a function, got ${describeValue(value)}`,
  );
}

/** A `consume` option: an object of limit name → tokens, or a function of the request. */
export function consumptionOrFunction<Req>(
  value: Consumption | ((req: Req) => MaybePromise<Consumption>) | undefined,
  field: string,
): Consumption | ((req: Req) => MaybePromise<Consumption>) | undefined {
  if (value === undefined || typeof value === 'function') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw invalidOption(
    field,
    `Expected \`${field}\` to be an object of limit name → tokens or a function, got ${describeValue(value)}`,
  );
}

/** A boolean option with its default. */
export function booleanOption(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw invalidOption(field, `Expected \`${field}\` to be a boolean, got ${describeValue(value)}`);
  return value;
}

/** The `validate` option: a boolean or an object of check name → boolean. */
export function validateOption(value: unknown): ValidateOption {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  const checks = Object.keys(HTTP_WARNINGS);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [name, on] of Object.entries(value)) {
      if (!checks.includes(name)) {
        throw invalidOption(
          `validate.${name}`,
          `Expected \`validate\` to name only ${checks.map((check) => `\`${check}\``).join(', ')}, got \`${name}\``,
        );
      }
      booleanOption(on, `validate.${name}`, true);
    }
    return value as ValidateOption;
  }
  throw invalidOption(
    'validate',
    `Expected \`validate\` to be a boolean or an object of check → boolean, got ${describeValue(value)}`,
  );
}
