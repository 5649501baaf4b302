import { BUCKET_SK_PREFIX, CONSUMED_PREFIX, decodeComponent, KeyBuilder, PK, SK } from '../schema.js';
import { padSequence } from './sequence.js';
import type { StreamImage, StreamRecord } from './stream-types.js';

/** What one stream record of a bucket item means for usage. */
export interface BucketChange {
  /** Position of the record in its batch. */
  readonly index: number;
  /** The record's sequence number, zero padded (see `padSequence`). */
  readonly sequence: string;
  /** Namespace of the bucket's key (`undefined`: none). */
  readonly namespace: string | undefined;
  readonly entity: string;
  readonly resource: string;
  /** When the change was made, ms since the epoch (the record's approximate creation time). */
  readonly timeMs: number;
  /** Net tokens consumed per limit by this change: new counter − old counter (old is 0 for a new bucket). */
  readonly deltas: ReadonlyMap<string, bigint>;
}

/** A bucket record that cannot be read: the batch must fail from here on rather than lose usage. */
export class MalformedStreamRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedStreamRecordError';
  }
}

/**
 * Reads the usage change carried by one stream record. Returns `undefined`
 * for records that carry none: removals (TTL expiry of an idle bucket is not
 * negative usage), items that are not buckets (entities, limit sets, usage
 * snapshots), and bucket writes that changed no consumed counter.
 */
export function readBucketChange(record: StreamRecord, index: number): BucketChange | undefined {
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') return undefined;
  const data = record.dynamodb;
  const pk = data?.Keys?.[PK]?.S;
  const sk = data?.Keys?.[SK]?.S;
  if (pk === undefined || sk === undefined || !sk.startsWith(BUCKET_SK_PREFIX)) return undefined;
  const key = parseBucketKey(pk, sk);
  if (key === undefined) return undefined;

  const deltas = consumedDeltas(data?.NewImage, data?.OldImage, pk, sk);
  if (deltas.size === 0) return undefined;

  const sequenceNumber = data?.SequenceNumber;
  if (sequenceNumber === undefined)
    throw new MalformedStreamRecordError(`Stream record of ${pk} ${sk} has no SequenceNumber`);
  const seconds = data?.ApproximateCreationDateTime;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
    throw new MalformedStreamRecordError(
      `Stream record ${sequenceNumber} has no ApproximateCreationDateTime`,
    );
  }
  return { index, sequence: padSequence(sequenceNumber), ...key, timeMs: Math.floor(seconds * 1000), deltas };
}

/**
 * Splits a bucket key into namespace, entity and resource, and checks that
 * the schema's key builder gives back the same key. `undefined` for keys
 * that are not Tollgate buckets.
 */
export function parseBucketKey(
  pk: string,
  sk: string,
): { namespace: string | undefined; entity: string; resource: string } | undefined {
  let namespace: string | undefined;
  let rest = pk;
  if (rest.startsWith('NS#')) {
    const end = rest.indexOf('#', 3);
    if (end < 0) return undefined;
    namespace = safeDecode(rest.slice(3, end));
    rest = rest.slice(end + 1);
  }
  if (!rest.startsWith('E#') || !sk.startsWith(BUCKET_SK_PREFIX)) return undefined;
  const entity = safeDecode(rest.slice(2));
  const resource = safeDecode(sk.slice(BUCKET_SK_PREFIX.length));
  if (entity === undefined || resource === undefined || (pk.startsWith('NS#') && namespace === undefined)) {
    return undefined;
  }
  const rebuilt = new KeyBuilder(namespace).bucket(entity, resource);
  if (rebuilt.PK !== pk || rebuilt.SK !== sk) return undefined;
  return { namespace, entity, resource };
}

function consumedDeltas(
  newImage: StreamImage | undefined,
  oldImage: StreamImage | undefined,
  pk: string,
  sk: string,
): Map<string, bigint> {
  const deltas = new Map<string, bigint>();
  if (newImage === undefined) {
    throw new MalformedStreamRecordError(
      `Stream record of ${pk} ${sk} has no NewImage (the stream must be NEW_AND_OLD_IMAGES)`,
    );
  }
  for (const [attribute, value] of Object.entries(newImage)) {
    if (!attribute.startsWith(CONSUMED_PREFIX)) continue;
    const limit = attribute.slice(CONSUMED_PREFIX.length);
    const current = parseCounter(value.N, attribute, pk, sk);
    const oldValue = oldImage?.[attribute]?.N;
    const previous = oldValue === undefined ? 0n : parseCounter(oldValue, attribute, pk, sk);
    const delta = current - previous;
    if (delta !== 0n) deltas.set(limit, delta);
  }
  return deltas;
}

function parseCounter(value: string | undefined, attribute: string, pk: string, sk: string): bigint {
  if (value === undefined || !/^-?\d+$/.test(value)) {
    throw new MalformedStreamRecordError(
      `Expected ${attribute} of ${pk} ${sk} to be an integer number, got ${String(value)}`,
    );
  }
  return BigInt(value);
}

function safeDecode(component: string): string | undefined {
  try {
    return decodeComponent(component);
  } catch {
    return undefined;
  }
}
