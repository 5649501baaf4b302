import { describeValue, ValidationError } from '@tollgate/core';
import { type Item, keyOf, readString } from './item-codec.js';
import { PK, SK } from './schema.js';

/** The opaque cursor of a usage page: the key of its last snapshot, as base64url JSON. */
export function encodeUsageCursor(lastKey: { PK: string; SK: string }): string {
  return Buffer.from(JSON.stringify([lastKey.PK, lastKey.SK]), 'utf8').toString('base64url');
}

/**
 * The `ExclusiveStartKey` a cursor stands for. Only a cursor from the same
 * entity partition and window kind is accepted, so a cursor can never reach
 * another entity's records.
 *
 * @throws ValidationError `ERR_TOLLGATE_INVALID_OPTION` for any other string.
 */
export function decodeUsageCursor(cursor: string, partition: string, sortKeyPrefix: string): Item {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    parsed[0] !== partition ||
    typeof parsed[1] !== 'string' ||
    !parsed[1].startsWith(sortKeyPrefix)
  ) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`cursor\` to come from a previous page of the same usage query, got ${describeValue(cursor)}`,
      'cursor',
    );
  }
  return keyOf({ PK: parsed[0], SK: parsed[1] });
}

/** The key of an item, for {@link encodeUsageCursor}. */
export function usageKeyOf(item: Item): { PK: string; SK: string } {
  return { PK: readString(item, PK) ?? '', SK: readString(item, SK) ?? '' };
}
