import { RateLimiterUnavailable } from '@tollgate/core';
import { backoff } from './backoff.js';
import { type Item, keyIdOfItem } from './item-codec.js';
import type { TableRequests } from './table-requests.js';

/** Most keys in one BatchGetItem. */
const BATCH_GET_LIMIT = 100;
/** Most requests in one BatchWriteItem. */
const BATCH_WRITE_LIMIT = 25;
/** Requests per batch before giving up on items DynamoDB keeps leaving unprocessed. */
const BATCH_ATTEMPTS = 8;

/** Inputs shared by the batch operations. */
export interface BatchContext {
  readonly requests: TableRequests;
  readonly kind: string;
  readonly tableName: string;
  readonly signal: AbortSignal;
}

/**
 * Reads items by key with BatchGetItem (100 keys per request, duplicate keys
 * sent once), retrying `UnprocessedKeys` with backoff. Returns the items
 * found, by {@link keyIdOfItem}.
 */
export async function batchGetItems(
  context: BatchContext,
  keys: readonly Item[],
  consistentRead: boolean,
): Promise<Map<string, Item>> {
  const unique = [...new Map(keys.map((key) => [keyIdOfItem(key), key])).values()];
  const found = new Map<string, Item>();
  const chunks = chunk(unique, BATCH_GET_LIMIT);
  await Promise.all(
    chunks.map(async (keysOfChunk) => {
      let pending: Item[] = keysOfChunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= BATCH_ATTEMPTS) throw unprocessed(context, 'BatchGetItem', pending.length);
        if (attempt > 0) await backoff(attempt, context.signal, 25, 1000);
        const output = await context.requests.batchGet(
          context.kind,
          { RequestItems: { [context.tableName]: { Keys: pending, ConsistentRead: consistentRead } } },
          context.signal,
        );
        for (const item of output.Responses?.[context.tableName] ?? []) found.set(keyIdOfItem(item), item);
        pending = output.UnprocessedKeys?.[context.tableName]?.Keys ?? [];
      }
    }),
  );
  return found;
}

/**
 * Deletes items by key with BatchWriteItem (25 per request), retrying
 * `UnprocessedItems` with backoff.
 */
export async function batchDeleteItems(context: BatchContext, keys: readonly Item[]): Promise<void> {
  for (const keysOfChunk of chunk(keys, BATCH_WRITE_LIMIT)) {
    let pending = keysOfChunk.map((key) => ({ DeleteRequest: { Key: key } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= BATCH_ATTEMPTS) throw unprocessed(context, 'BatchWriteItem', pending.length);
      if (attempt > 0) await backoff(attempt, context.signal, 25, 1000);
      const output = await context.requests.batchWrite(
        context.kind,
        { RequestItems: { [context.tableName]: pending } },
        context.signal,
      );
      pending = (output.UnprocessedItems?.[context.tableName] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key ? [{ DeleteRequest: { Key: request.DeleteRequest.Key } }] : [],
      );
    }
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

function unprocessed(context: BatchContext, operation: string, count: number): RateLimiterUnavailable {
  return new RateLimiterUnavailable(
    `${context.kind}: ${operation} left ${count} item(s) unprocessed after ${BATCH_ATTEMPTS} requests (table \`${context.tableName}\` is throttled)`,
  );
}
