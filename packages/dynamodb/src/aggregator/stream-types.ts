/**
 * The parts of a DynamoDB Streams event the aggregator reads. Structurally
 * compatible with `DynamoDBStreamEvent` from `@types/aws-lambda`, so Lambda's
 * events and records converted from `GetRecords` both fit.
 */

/** An attribute value as it appears in a stream image; only strings and numbers are read. */
export interface StreamAttributeValue {
  readonly S?: string | undefined;
  readonly N?: string | undefined;
}

/** An item image: attribute name → value. */
export type StreamImage = Readonly<Record<string, StreamAttributeValue>>;

/** The `dynamodb` part of a stream record. */
export interface StreamRecordData {
  /** When the change was made, in epoch seconds (may carry a fraction). */
  readonly ApproximateCreationDateTime?: number | undefined;
  readonly Keys?: StreamImage | undefined;
  readonly NewImage?: StreamImage | undefined;
  readonly OldImage?: StreamImage | undefined;
  /** Decimal string, increasing for the records of one item. */
  readonly SequenceNumber?: string | undefined;
}

/** One stream record, as Lambda delivers it. */
export interface StreamRecord {
  readonly eventName?: 'INSERT' | 'MODIFY' | 'REMOVE' | undefined;
  /** `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`. */
  readonly eventSourceARN?: string | undefined;
  readonly dynamodb?: StreamRecordData | undefined;
}

/** A batch of stream records, as Lambda delivers it. */
export interface StreamEvent {
  readonly Records: readonly StreamRecord[];
}

/** Lambda's partial batch response: processing resumes at the lowest reported sequence number. */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}
