import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { UsageWindow } from '@tollgate/core';
import { KeyBuilder, PK } from '../schema.js';
import { type BucketChange, readBucketChange } from './bucket-changes.js';
import { groupBySnapshot, type SnapshotGroup } from './snapshot-groups.js';
import { type SnapshotWriteOutcome, writeSnapshot } from './snapshot-writer.js';
import type { BatchResponse, StreamEvent, StreamRecord } from './stream-types.js';

/** Where the aggregator reports failed records. `console` fits. */
export interface AggregatorLogger {
  error(message: string, details?: Record<string, unknown>): void;
}

/** Options of {@link createStreamProcessor}. */
export interface StreamProcessorOptions {
  /** Client used to write usage snapshots. */
  readonly client: DynamoDBClient;
  /** Table holding the snapshots (the bucket table). Default: the table named in each record's `eventSourceARN`. */
  readonly tableName?: string | undefined;
  /** Aggregate only this namespace's buckets. Default: every namespace in the stream. */
  readonly namespace?: string | undefined;
  /** Window kinds to maintain. Default: `['hour', 'day']`. */
  readonly windows?: readonly UsageWindow[] | undefined;
  /** Days to keep snapshots after their window ends, per window kind. Absent: kept forever. */
  readonly retentionDays?: Partial<Record<UsageWindow, number>> | undefined;
  /** Snapshot writes in flight at once. Default 8. */
  readonly concurrency?: number | undefined;
  /** Receives one line per failure. Default: `console`. */
  readonly logger?: AggregatorLogger | undefined;
}

/** What one batch did, beyond the partial batch response. */
export interface BatchSummary extends BatchResponse {
  /** Records in the batch. */
  records: number;
  /** Records that changed a consumed counter (and were aggregated, before any failure). */
  bucketChanges: number;
  /** Snapshot writes by outcome. */
  snapshots: Record<SnapshotWriteOutcome, number>;
  /** Snapshot writes that failed. */
  failedSnapshots: number;
}

/** Processes one batch of stream records; never throws for a record or write failure. */
export type StreamProcessor = (event: StreamEvent, signal?: AbortSignal) => Promise<BatchSummary>;

/**
 * Builds the aggregator's core: stream records of bucket items in, usage
 * snapshots out. Records are read in order until the first one that cannot
 * be read; their changes are summed per snapshot (one write per snapshot
 * and batch) and written with a per-snapshot watermark, so a batch delivered
 * twice counts once. Failures are reported, not swallowed: every record from
 * the first failed one on is listed in `batchItemFailures`.
 *
 * @example
 * const process = createStreamProcessor({ client: new DynamoDBClient({}) });
 * const { batchItemFailures } = await process(event);
 */
export function createStreamProcessor(options: StreamProcessorOptions): StreamProcessor {
  const windows = options.windows ?? (['hour', 'day'] as const);
  const concurrency = options.concurrency ?? 8;
  const logger = options.logger ?? console;
  const keys = options.namespace === undefined ? undefined : new KeyBuilder(options.namespace);

  return async (event, signal) => {
    const records = event.Records;
    const summary: BatchSummary = {
      batchItemFailures: [],
      records: records.length,
      bucketChanges: 0,
      snapshots: { applied: 0, 'partly-replayed': 0, replayed: 0 },
      failedSnapshots: 0,
    };
    let failedFrom = records.length;

    const changes: BucketChange[] = [];
    for (const [index, record] of records.entries()) {
      try {
        if (keys !== undefined && !keys.owns(String(record.dynamodb?.Keys?.[PK]?.S))) continue;
        const change = readBucketChange(record, index);
        if (change !== undefined) changes.push(change);
      } catch (error) {
        logger.error('tollgate aggregator: cannot read stream record', {
          sequenceNumber: record.dynamodb?.SequenceNumber,
          error: String(error),
        });
        failedFrom = index;
        break;
      }
    }
    summary.bucketChanges = changes.length;

    const groups = groupBySnapshot(changes, windows);
    const tableOf = (group: SnapshotGroup): string => {
      const record = records[group.changes[0]!.index];
      return options.tableName ?? tableNameFromArn(record);
    };
    await forEachLimited(groups, concurrency, async (group) => {
      try {
        const outcome = await writeSnapshot(group, {
          client: options.client,
          tableName: tableOf(group),
          retentionDays: options.retentionDays?.[group.window],
          signal,
        });
        summary.snapshots[outcome]++;
      } catch (error) {
        summary.failedSnapshots++;
        logger.error('tollgate aggregator: usage snapshot write failed', {
          snapshot: `${group.key.PK} ${group.key.SK}`,
          error: String(error),
        });
        failedFrom = Math.min(failedFrom, group.changes[0]!.index);
      }
    });

    for (const record of records.slice(failedFrom)) {
      const sequenceNumber = record.dynamodb?.SequenceNumber;
      if (sequenceNumber !== undefined) summary.batchItemFailures.push({ itemIdentifier: sequenceNumber });
    }
    return summary;
  };
}

/** The table name inside a stream ARN (`...:table/<name>/stream/<label>`). */
export function tableNameFromArn(record: StreamRecord | undefined): string {
  const match = /:table\/([^/]+)\/stream\//.exec(record?.eventSourceARN ?? '');
  if (match?.[1] === undefined) {
    throw new Error(
      'No table name: set TOLLGATE_TABLE_NAME or pass `tableName` (the record has no eventSourceARN)',
    );
  }
  return match[1];
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(workers);
}
