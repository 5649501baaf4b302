import { ValidationError } from './errors.js';

/** Longest entity id or resource name, in UTF-16 code units. */
export const MAX_ID_LENGTH = 256;

/** Resource used when a request names none. */
export const DEFAULT_RESOURCE = 'default';

/**
 * Throws `ERR_TOLLGATE_INVALID_KEY` unless `value` is a usable id: a string of
 * 1 to {@link MAX_ID_LENGTH} characters, well-formed UTF-16. Any other
 * character is allowed, including delimiters: stores encode ids into keys.
 * The message describes the value (its type or length) without repeating it:
 * an id is often a credential such as an API key.
 */
export function validateId(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_KEY',
      `Expected \`${field}\` to be a string of 1 to ${MAX_ID_LENGTH} characters, got ${describeIdValue(value)}`,
      field,
    );
  }
  if (!value.isWellFormed()) {
    throw new ValidationError('ERR_TOLLGATE_INVALID_KEY', `\`${field}\` contains a lone surrogate`, field);
  }
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
