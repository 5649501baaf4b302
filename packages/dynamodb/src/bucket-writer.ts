import {
  type CancellationReason,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import type { BucketKey, BucketState } from '@tollgate/core';
import type { BucketUpdate } from './bucket-update.js';
import { decodeBucket, keyOf } from './item-codec.js';
import type { TableRequests } from './table-requests.js';

/** What one attempt to write a set of bucket updates found. */
export type BucketWriteOutcome =
  | {
      readonly written: true;
      /**
       * State after the write, per bucket: exact for a single bucket (the
       * item returned by UpdateItem); for a transaction, which returns no
       * items, the state the guesses implied.
       */
      readonly states: readonly BucketState[];
    }
  | {
      readonly written: false;
      /**
       * Per bucket, the stored state when its condition failed (from the
       * `ALL_OLD` image); undefined when its condition passed or was not
       * evaluated (the guess for it stands).
       */
      readonly observed: readonly (BucketState | undefined)[];
      /** True when a concurrent transaction got in the way (retry after a jittered pause). */
      readonly conflict: boolean;
    };

/**
 * Sends bucket updates as ONE request: UpdateItem for one bucket,
 * TransactWriteItems (all or nothing) for several. A failed condition is an
 * answer, not an error: the old images come back with it. Any other failure
 * (throttling, network, validation) propagates with its SDK type.
 */
export async function writeBuckets(
  requests: TableRequests,
  kind: string,
  tableName: string,
  buckets: readonly BucketKey[],
  updates: readonly BucketUpdate[],
  signal: AbortSignal,
): Promise<BucketWriteOutcome> {
  const [single] = updates;
  if (updates.length === 1 && single) {
    const bucket = buckets[0] ?? single.expected;
    try {
      const output = await requests.updateItem(
        kind,
        {
          TableName: tableName,
          Key: keyOf(single.key),
          ...single.parts,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
        signal,
      );
      return { written: true, states: [decodeBucket(bucket, output.Attributes)] };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return { written: false, observed: [decodeBucket(bucket, error.Item)], conflict: false };
      }
      throw error;
    }
  }
  try {
    await requests.transactWrite(
      kind,
      {
        TransactItems: updates.map((update) => ({
          Update: {
            TableName: tableName,
            Key: keyOf(update.key),
            ...update.parts,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        })),
      },
      signal,
    );
    return { written: true, states: updates.map((update) => update.expected) };
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      const reasons: readonly CancellationReason[] = error.CancellationReasons ?? [];
      if (reasons.length !== updates.length) throw error;
      if (reasons.some((reason) => !HANDLED_REASONS.has(reason.Code ?? 'None'))) throw error;
      return {
        written: false,
        observed: updates.map((update, index) => {
          const reason = reasons[index];
          return reason?.Code === 'ConditionalCheckFailed'
            ? decodeBucket(buckets[index] ?? update.expected, reason.Item)
            : undefined;
        }),
        conflict: reasons.some((reason) => reason.Code === 'TransactionConflict'),
      };
    }
    throw error;
  }
}

/** Cancellation reasons that are answers or retryable; any other (throttling, validation) is an error. */
const HANDLED_REASONS = new Set(['None', 'ConditionalCheckFailed', 'TransactionConflict']);
