/**
 * `@tollgate/dynamodb/aggregator`: turns the table's stream of bucket writes
 * into hourly and daily usage snapshots. Deploy `handler` as the Lambda
 * function of a DynamoDB Streams event source mapping (with
 * `ReportBatchItemFailures`), or run {@link runLocalAggregator} against
 * DynamoDB Local.
 *
 * @packageDocumentation
 */
import { createAggregatorHandler } from './aggregator/lambda-handler.js';

export {
  type BucketChange,
  MalformedStreamRecordError,
  parseBucketKey,
  readBucketChange,
} from './aggregator/bucket-changes.js';
export {
  AGGREGATOR_ENVIRONMENT,
  type AggregatorHandlerOptions,
  createAggregatorHandler,
  optionsFromEnvironment,
} from './aggregator/lambda-handler.js';
export {
  type FetchedStreamRecord,
  type LocalAggregatorOptions,
  type LocalAggregatorSummary,
  runLocalAggregator,
  type StreamShard,
  type StreamShardReader,
  toLambdaRecord,
} from './aggregator/local-runner.js';
export { padSequence, SEQUENCE_WIDTH } from './aggregator/sequence.js';
export { groupBySnapshot, type SnapshotGroup, sumDeltas, windowStart } from './aggregator/snapshot-groups.js';
export { type SnapshotWriteOutcome, USAGE_WATERMARK, writeSnapshot } from './aggregator/snapshot-writer.js';
export {
  type AggregatorLogger,
  type BatchSummary,
  createStreamProcessor,
  type StreamProcessor,
  type StreamProcessorOptions,
  tableNameFromArn,
} from './aggregator/stream-processor.js';
export type {
  BatchResponse,
  StreamAttributeValue,
  StreamEvent,
  StreamImage,
  StreamRecord,
  StreamRecordData,
} from './aggregator/stream-types.js';

/**
 * The Lambda entry point (`aggregator.handler`). Configured by the
 * environment: see `AGGREGATOR_ENVIRONMENT`.
 */
export const handler = createAggregatorHandler();
