import { createHash } from 'node:crypto';
import { ValidationError } from './errors.js';

/** Longest entity id or resource name, in UTF-16 code units. */
export const MAX_ID_LENGTH = 256;

/** Resource used when a request names none. */
export const DEFAULT_RESOURCE = 'default';

/**
 * What a `RateLimiter` does with an entity id longer than {@link MAX_ID_LENGTH}:
 * `'hash'` keys it by {@link hashedEntityId}, `'reject'` refuses it with
 * `ERR_TOLLGATE_INVALID_KEY`.
 */
export type LongKeyPolicy = 'hash' | 'reject';

/** Prefix of the ids {@link hashedEntityId} makes. */
const HASHED_ID_PREFIX = 'sha256:';

/**
 * The id a `RateLimiter` with `longKeys: 'hash'` (the default) stores an
 * entity under when its id is longer than {@link MAX_ID_LENGTH} characters
 * (a JWT or bearer token used as the key): `sha256:` followed by the
 * base64url SHA-256 digest of the id's UTF-8 bytes, 50 characters. The same
 * key always gives the same id, in every process. The hashed id is an
 * ordinary id: statuses, entity records and usage show it, and passing it to
 * the limiter addresses the same entity. Use it to find a long key's
 * entity, limits or usage with tools that take ids (the `tollgate` CLI).
 *
 * @example
 * const id = hashedEntityId(bearerToken); // 'sha256:…', 50 characters
 * await limiter.getUsage({ entity: id, window: 'day' }); // the same as passing bearerToken
 */
export function hashedEntityId(id: string): string {
  return `${HASHED_ID_PREFIX}${createHash('sha256').update(id, 'utf8').digest('base64url')}`;
}

/**
 * Throws `ERR_TOLLGATE_INVALID_KEY` unless `value` is a usable id: a string of
 * 1 to {@link MAX_ID_LENGTH} characters, well-formed UTF-16. Any other
 * character is allowed, including delimiters: stores encode ids into keys.
 * The message describes the value (its type or length) without repeating it:
 * an id is often a credential such as an API key.
 */
export function validateId(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw badLength(value, field);
  // Before the length: a malformed key is refused as such, whatever `longKeys` says of long ones.
  if (!value.isWellFormed()) throw loneSurrogate(field);
  if (value.length > MAX_ID_LENGTH) throw badLength(value, field);
}

/**
 * The id an entity is stored under: `value` itself when it is a valid id;
 * under `'hash'`, the {@link hashedEntityId} of a well-formed string longer
 * than {@link MAX_ID_LENGTH}. Anything else is `ERR_TOLLGATE_INVALID_KEY`,
 * with a message that never repeats the value.
 */
export function entityIdOf(value: unknown, field: string, longKeys: LongKeyPolicy): string {
  if (longKeys === 'hash' && typeof value === 'string' && value.length > MAX_ID_LENGTH) {
    if (!value.isWellFormed()) throw loneSurrogate(field);
    return hashedEntityId(value);
  }
  validateId(value, field);
  return value;
}

function badLength(value: unknown, field: string): ValidationError {
  return new ValidationError(
    'ERR_TOLLGATE_INVALID_KEY',
    `Expected \`${field}\` to be a string of 1 to ${MAX_ID_LENGTH} characters, got ${describeIdValue(value)}`,
    field,
  );
}

function loneSurrogate(field: string): ValidationError {
  return new ValidationError('ERR_TOLLGATE_INVALID_KEY', `\`${field}\` contains a lone surrogate`, field);
}

/** "a string of 300 characters", "undefined", "an array": what an id was, never what it said. */
function describeIdValue(value: unknown): string {
  if (typeof value === 'string')
    return value.length === 0 ? 'an empty string' : `a string of ${value.length} characters`;
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return `${type === 'object' ? 'an' : 'a'} ${type}`;
}
