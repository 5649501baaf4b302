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

/** express-rate-limit's `validate` checks that Tollgate's `proxy` check covers. */
const PROXY_CHECKS = ['trustProxy', 'xForwardedForHeader', 'forwardedHeader'];

/** The `validate` option: a boolean or an object of check name → boolean. */
export function validateOption(value: unknown): ValidateOption {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  const checks = Object.keys(HTTP_WARNINGS);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [name, on] of Object.entries(value)) {
      if (!checks.includes(name)) {
        const proxyCheck = PROXY_CHECKS.includes(name)
          ? "; express-rate-limit's proxy checks are `proxy` here"
          : '';
        throw invalidOption(
          `validate.${name}`,
          `Expected \`validate\` to name only ${checks.map((check) => `\`${check}\``).join(', ')}, got \`${name}\`${proxyCheck}`,
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

/** The `statusCode` option: the status of a limited response, 429 by default. */
export function limitedStatusCode(value: unknown): number {
  if (value === undefined) return 429;
  // A limited response must read as an error to clients and caches; Node refuses codes outside 100-999 anyway.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 400 || value > 599) {
    throw invalidOption(
      'statusCode',
      `Expected \`statusCode\` to be an integer from 400 to 599, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** True for a body the adapters can send as JSON: a plain object (or null-prototype) or an array. */
function isJsonContainer(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The `message` option: a string, a JSON object or array (checked to
 * serialise, so a cycle or a BigInt fails at startup, not on the first 429),
 * or a function.
 */
export function limitedMessage<M>(value: M | undefined): M | undefined {
  if (value === undefined || typeof value === 'string' || typeof value === 'function') return value;
  if (isJsonContainer(value)) {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw invalidOption(
        'message',
        `Expected \`message\` to be serialisable as JSON: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (json !== undefined) return value;
  }
  throw invalidOption(
    'message',
    `Expected \`message\` to be a string, a JSON object or array, or a function, got ${describeValue(value)}`,
  );
}

/**
 * What a `message` function returned, checked on the way out: a string or a
 * JSON object or array. Anything else is the server's mistake, thrown (the
 * framework answers 500) rather than sent.
 */
export function limitedBody<B>(body: B): B {
  if (typeof body === 'string' || isJsonContainer(body)) return body;
  throw invalidOption(
    'message',
    `Expected the \`message\` function to return a string or a JSON object or array, got ${describeValue(body)}`,
  );
}

/**
 * A property name an adapter writes on the request (`requestPropertyName`):
 * a non-empty string that no object already has (`__proto__`, `constructor`,
 * `toString`, ...), nor `prototype`, so writing it cannot reach a prototype
 * or shadow a method every object relies on.
 */
export function propertyName(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw invalidOption(field, `Expected \`${field}\` to be a non-empty string, got ${describeValue(value)}`);
  }
  if (value in Object.prototype || value === 'prototype') {
    throw invalidOption(
      field,
      `Expected \`${field}\` to be a name objects do not already have, got ${describeValue(value)}`,
    );
  }
  return value;
}
