import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { usageWindowMs } from '@tollgate/core/internal';
import { CONSUMED_PREFIX, PK, SK, TTL } from '../schema.js';
import { type SnapshotGroup, sumDeltas } from './snapshot-groups.js';

/**
 * Attribute of a usage snapshot holding the padded sequence number of the
 * last stream record added to it. Records at or below it were counted already.
 */
export const USAGE_WATERMARK = 'lastSeq';

/** How a snapshot write ended. */
export type SnapshotWriteOutcome =
  /** Every change of the group was added. */
  | 'applied'
  /** Some changes had been added by an earlier delivery; only the newer ones were. */
  | 'partly-replayed'
  /** Every change had been added by an earlier delivery; nothing was written. */
  | 'replayed';

/** Options of {@link writeSnapshot}. */
export interface SnapshotWriteOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Days to keep a snapshot after its window ends (sets `ttl`); absent: kept forever. */
  readonly retentionDays?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

const MAX_ATTEMPTS = 5;

/**
 * Adds a group's deltas to its usage snapshot, exactly once under redelivery.
 *
 * The write is conditioned on the snapshot's watermark being below the
 * group's first sequence number, and moves the watermark to the last one. If
 * an earlier delivery got further (a retried batch that straddles the
 * watermark), the failed condition returns the stored watermark, and only the
 * changes above it are added, conditioned on that exact watermark.
 */
export async function writeSnapshot(
  group: SnapshotGroup,
  options: SnapshotWriteOptions,
): Promise<SnapshotWriteOutcome> {
  let pending = group.changes;
  let expectedWatermark: string | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const first = pending[0];
    const last = pending[pending.length - 1];
    if (first === undefined || last === undefined) return 'replayed';
    try {
      await options.client.send(
        buildUpdate(group, pending, first.sequence, last.sequence, expectedWatermark, options),
        options.signal ? { abortSignal: options.signal } : {},
      );
      return pending.length === group.changes.length ? 'applied' : 'partly-replayed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const watermark = error.Item?.[USAGE_WATERMARK]?.S;
      if (watermark === undefined) throw error;
      expectedWatermark = watermark;
      pending = pending.filter((change) => change.sequence > watermark);
    }
  }
  throw new Error(`Usage snapshot ${group.key.PK} ${group.key.SK} kept changing under the aggregator`);
}

function buildUpdate(
  group: SnapshotGroup,
  changes: SnapshotGroup['changes'],
  firstSequence: string,
  lastSequence: string,
  expectedWatermark: string | undefined,
  options: SnapshotWriteOptions,
): UpdateItemCommand {
  const names: Record<string, string> = {
    '#entity': 'entity',
    '#resource': 'resource',
    '#window': 'window',
    '#start': 'start',
    '#seq': USAGE_WATERMARK,
  };
  const values: Record<string, AttributeValue> = {
    ':entity': { S: group.entity },
    ':resource': { S: group.resource },
    ':window': { S: group.window },
    ':start': { N: String(group.start) },
    ':last': { S: lastSequence },
  };
  const sets = [
    '#entity = :entity',
    '#resource = :resource',
    '#window = :window',
    '#start = :start',
    '#seq = :last',
  ];
  if (options.retentionDays !== undefined) {
    names['#ttl'] = TTL;
    const endSeconds = Math.floor((group.start + usageWindowMs(group.window)) / 1000);
    values[':ttl'] = { N: String(endSeconds + Math.ceil(options.retentionDays * 86_400)) };
    sets.push('#ttl = :ttl');
  }
  const adds: string[] = [];
  let position = 0;
  for (const [limit, total] of sumDeltas(changes)) {
    names[`#c${position}`] = `${CONSUMED_PREFIX}${limit}`;
    values[`:c${position}`] = { N: total.toString() };
    adds.push(`#c${position} :c${position}`);
    position++;
  }
  let condition: string;
  if (expectedWatermark === undefined) {
    condition = 'attribute_not_exists(#seq) OR #seq < :first';
    values[':first'] = { S: firstSequence };
  } else {
    condition = '#seq = :watermark';
    values[':watermark'] = { S: expectedWatermark };
  }
  return new UpdateItemCommand({
    TableName: options.tableName,
    Key: { [PK]: { S: group.key.PK }, [SK]: { S: group.key.SK } },
    UpdateExpression: `SET ${sets.join(', ')}${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
}
