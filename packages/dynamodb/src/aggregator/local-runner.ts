import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { sleep } from '@tollgate/core/internal';
import { type BatchSummary, createStreamProcessor, type StreamProcessorOptions } from './stream-processor.js';
import type { StreamAttributeValue, StreamRecord } from './stream-types.js';

/** A shard as `DescribeStream` lists it. */
export interface StreamShard {
  ShardId?: string | undefined;
  ParentShardId?: string | undefined;
  SequenceNumberRange?: { EndingSequenceNumber?: string | undefined } | undefined;
}

/** A record as `GetRecords` returns it (the time is a `Date` there, seconds in Lambda events). */
export interface FetchedStreamRecord {
  eventName?: string | undefined;
  dynamodb?:
    | {
        ApproximateCreationDateTime?: Date | undefined;
        Keys?: Record<string, StreamAttributeValue> | undefined;
        NewImage?: Record<string, StreamAttributeValue> | undefined;
        OldImage?: Record<string, StreamAttributeValue> | undefined;
        SequenceNumber?: string | undefined;
      }
    | undefined;
}

/**
 * The three DynamoDB Streams calls the local runner makes. `new DynamoDBStreams({...})`
 * from `@aws-sdk/client-dynamodb-streams` fits as it is.
 */
export interface StreamShardReader {
  describeStream(input: { StreamArn: string; ExclusiveStartShardId?: string | undefined }): Promise<{
    StreamDescription?:
      | { Shards?: StreamShard[] | undefined; LastEvaluatedShardId?: string | undefined }
      | undefined;
  }>;
  getShardIterator(input: {
    StreamArn: string;
    ShardId: string;
    ShardIteratorType: 'TRIM_HORIZON' | 'LATEST' | 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER';
    SequenceNumber?: string | undefined;
  }): Promise<{ ShardIterator?: string | undefined }>;
  getRecords(input: { ShardIterator: string; Limit?: number | undefined }): Promise<{
    Records?: FetchedStreamRecord[] | undefined;
    NextShardIterator?: string | undefined;
  }>;
}

/** Options of {@link runLocalAggregator}. */
export interface LocalAggregatorOptions extends Omit<StreamProcessorOptions, 'tableName'> {
  readonly tableName: string;
  /** Reads the table's stream (e.g. `new DynamoDBStreams({ endpoint })`). */
  readonly streams: StreamShardReader;
  /** Where to begin in each shard. Default `TRIM_HORIZON`: replaying is safe, snapshots count each record once. */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST' | undefined;
  /** Stop once a pass over every shard finds no new record (for scripts and tests). Default false: run until aborted. */
  readonly untilDrained?: boolean | undefined;
  /** Pause between passes that found nothing, in ms. Default 1000. */
  readonly pollIntervalMs?: number | undefined;
  /** Records per `GetRecords` call (the Lambda batch size). Default 100. */
  readonly batchSize?: number | undefined;
  /** Stops the runner. */
  readonly signal?: AbortSignal | undefined;
  /** Called after every batch. */
  readonly onBatch?: ((summary: BatchSummary) => void) | undefined;
}

/** Totals of one run. */
export interface LocalAggregatorSummary {
  batches: number;
  records: number;
  bucketChanges: number;
  snapshotWrites: number;
  failedBatches: number;
}

interface ShardState {
  readonly id: string;
  readonly parent: string | undefined;
  iterator: string | undefined;
  /** Last sequence number handed to the processor without failure. */
  checkpoint: string | undefined;
  /** Sequence number to resume at after a failed batch. */
  retryAt: string | undefined;
  closed: boolean;
}

/**
 * Runs the aggregator against a table's stream the way Lambda would, for
 * development against DynamoDB Local: polls every shard (parents before
 * children), hands each `GetRecords` page to the same stream processor the
 * Lambda handler uses, and resumes a failed batch at its first failed record.
 *
 * @example
 * await runLocalAggregator({ client, streams: new DynamoDBStreams({ endpoint }), tableName, untilDrained: true });
 */
export async function runLocalAggregator(options: LocalAggregatorOptions): Promise<LocalAggregatorSummary> {
  const { client, streams, tableName, signal } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const processor = createStreamProcessor(options);
  const summary: LocalAggregatorSummary = {
    batches: 0,
    records: 0,
    bucketChanges: 0,
    snapshotWrites: 0,
    failedBatches: 0,
  };

  const table = await client.send(
    new DescribeTableCommand({ TableName: tableName }),
    signal ? { abortSignal: signal } : {},
  );
  const streamArn = table.Table?.LatestStreamArn;
  if (streamArn === undefined || table.Table?.StreamSpecification?.StreamEnabled !== true) {
    throw new Error(`Table ${tableName} has no stream; create it with StreamViewType NEW_AND_OLD_IMAGES`);
  }

  const shards = new Map<string, ShardState>();
  while (signal?.aborted !== true) {
    await refreshShards(streams, streamArn, shards);
    let found = 0;
    let failed = false;
    for (const shard of shards.values()) {
      if (shard.closed || !parentDone(shard, shards)) continue;
      const page = await readPage(streams, streamArn, shard, options);
      if (page === undefined) continue;
      if (page.length === 0) continue;
      found += page.length;
      const summaryOfBatch = await processor(
        { Records: page.map((record) => toLambdaRecord(record, streamArn)) },
        signal,
      );
      summary.batches++;
      summary.records += summaryOfBatch.records;
      summary.bucketChanges += summaryOfBatch.bucketChanges;
      summary.snapshotWrites +=
        summaryOfBatch.snapshots.applied + summaryOfBatch.snapshots['partly-replayed'];
      options.onBatch?.(summaryOfBatch);
      const firstFailure = summaryOfBatch.batchItemFailures[0]?.itemIdentifier;
      if (firstFailure !== undefined) {
        summary.failedBatches++;
        failed = true;
        shard.iterator = undefined;
        shard.retryAt = firstFailure;
      } else {
        shard.checkpoint = page[page.length - 1]?.dynamodb?.SequenceNumber ?? shard.checkpoint;
      }
    }
    if (found === 0 && options.untilDrained === true) break;
    if (found === 0 || failed) {
      try {
        await sleep(pollIntervalMs, signal);
      } catch {
        break;
      }
    }
  }
  return summary;
}

async function refreshShards(
  streams: StreamShardReader,
  streamArn: string,
  shards: Map<string, ShardState>,
): Promise<void> {
  let exclusiveStart: string | undefined;
  do {
    const page = await streams.describeStream({
      StreamArn: streamArn,
      ExclusiveStartShardId: exclusiveStart,
    });
    for (const shard of page.StreamDescription?.Shards ?? []) {
      if (shard.ShardId === undefined || shards.has(shard.ShardId)) continue;
      shards.set(shard.ShardId, {
        id: shard.ShardId,
        parent: shard.ParentShardId,
        iterator: undefined,
        checkpoint: undefined,
        retryAt: undefined,
        closed: false,
      });
    }
    exclusiveStart = page.StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStart !== undefined);
}

function parentDone(shard: ShardState, shards: ReadonlyMap<string, ShardState>): boolean {
  if (shard.parent === undefined) return true;
  const parent = shards.get(shard.parent);
  return parent === undefined || parent.closed;
}

async function readPage(
  streams: StreamShardReader,
  streamArn: string,
  shard: ShardState,
  options: LocalAggregatorOptions,
): Promise<FetchedStreamRecord[] | undefined> {
  if (shard.iterator === undefined) {
    const position =
      shard.retryAt !== undefined
        ? ({ ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: shard.retryAt } as const)
        : shard.checkpoint !== undefined
          ? ({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: shard.checkpoint } as const)
          : ({ ShardIteratorType: options.startingPosition ?? 'TRIM_HORIZON' } as const);
    const answer = await streams.getShardIterator({ StreamArn: streamArn, ShardId: shard.id, ...position });
    shard.retryAt = undefined;
    shard.iterator = answer.ShardIterator;
    if (shard.iterator === undefined) {
      shard.closed = true;
      return undefined;
    }
  }
  let page: Awaited<ReturnType<StreamShardReader['getRecords']>>;
  try {
    page = await streams.getRecords({ ShardIterator: shard.iterator, Limit: options.batchSize ?? 100 });
  } catch (error) {
    if (error instanceof Error && error.name === 'ExpiredIteratorException') {
      shard.iterator = undefined;
      return undefined;
    }
    throw error;
  }
  shard.iterator = page.NextShardIterator;
  const records = page.Records ?? [];
  if (shard.iterator === undefined && records.length === 0) shard.closed = true;
  return records;
}

/** Converts a `GetRecords` record to the shape Lambda delivers (time in epoch seconds). */
export function toLambdaRecord(record: FetchedStreamRecord, streamArn: string): StreamRecord {
  const data = record.dynamodb;
  const eventName = record.eventName;
  return {
    eventName:
      eventName === 'INSERT' || eventName === 'MODIFY' || eventName === 'REMOVE' ? eventName : undefined,
    eventSourceARN: streamArn,
    dynamodb: {
      ApproximateCreationDateTime:
        data?.ApproximateCreationDateTime === undefined
          ? undefined
          : data.ApproximateCreationDateTime.getTime() / 1000,
      Keys: data?.Keys,
      NewImage: data?.NewImage,
      OldImage: data?.OldImage,
      SequenceNumber: data?.SequenceNumber,
    },
  };
}
