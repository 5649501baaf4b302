import {
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreams } from '@aws-sdk/client-dynamodb-streams';
import {
  createTestTable,
  type DynamoDBLocal,
  localClientConfig,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createAggregatorHandler,
  createStreamProcessor,
  padSequence,
  runLocalAggregator,
  type StreamRecord,
  toLambdaRecord,
} from '../src/aggregator.js';
import { KeyBuilder } from '../src/schema.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A fixed record time, so that tests about counting do not depend on the hour they run in. */
const MIDDAY = Date.UTC(2026, 0, 15, 12, 30);

let local: DynamoDBLocal;
let client: DynamoDBClient;
let streams: DynamoDBStreams;
let tableName: string;
const silent = { error: () => {} };

beforeAll(async () => {
  local = await useDynamoDBLocal();
  client = local.client;
  streams = new DynamoDBStreams(localClientConfig(local.endpoint));
});

afterAll(async () => {
  streams?.destroy();
  await local?.stop();
});

beforeEach(async () => {
  tableName = await createTestTable(client, 'aggregator');
});

/** One charge as the store writes it: every consumed counter and tat in one UpdateItem. */
async function charge(entity: string, resource: string, consume: Record<string, number>, namespace?: string) {
  const names: Record<string, string> = {};
  const values: Record<string, { N: string }> = {};
  const adds = Object.entries(consume).map(([limit, amount], i) => {
    names[`#c${i}`] = `consumed:${limit}`;
    names[`#t${i}`] = `tat:${limit}`;
    values[`:c${i}`] = { N: String(amount) };
    return `#c${i} :c${i}, #t${i} :c${i}`;
  });
  const key = new KeyBuilder(namespace).bucket(entity, resource);
  await client.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: { PK: { S: key.PK }, SK: { S: key.SK } },
      UpdateExpression: `SET #e = :e, #r = :r ADD ${adds.join(', ')}`,
      ExpressionAttributeNames: { ...names, '#e': 'entity', '#r': 'resource' },
      ExpressionAttributeValues: { ...values, ':e': { S: entity }, ':r': { S: resource } },
    }),
  );
}

/** Every record of the table's stream, as Lambda would deliver them. */
async function readStream(): Promise<StreamRecord[]> {
  const table = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = table.Table!.LatestStreamArn!;
  const description = await streams.describeStream({ StreamArn: streamArn });
  const records: StreamRecord[] = [];
  for (const shard of description.StreamDescription?.Shards ?? []) {
    let iterator = (
      await streams.getShardIterator({
        StreamArn: streamArn,
        ShardId: shard.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      })
    ).ShardIterator;
    while (iterator !== undefined) {
      const page = await streams.getRecords({ ShardIterator: iterator });
      if ((page.Records ?? []).length === 0) break;
      records.push(...(page.Records ?? []).map((record) => toLambdaRecord(record, streamArn)));
      iterator = page.NextShardIterator;
    }
  }
  return records;
}

/** The same records with their creation time replaced. */
function at(records: readonly StreamRecord[], timeMs: number): StreamRecord[] {
  return records.map((record) => ({
    ...record,
    dynamodb: { ...record.dynamodb, ApproximateCreationDateTime: timeMs / 1000 },
  }));
}

interface StoredSnapshot {
  window: string;
  start: number;
  resource: string;
  consumed: Record<string, number>;
}

async function snapshots(entity: string, namespace?: string): Promise<StoredSnapshot[]> {
  const keys = new KeyBuilder(namespace);
  const page = await client.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :usage)',
      ExpressionAttributeValues: { ':pk': { S: keys.entityPartition(entity) }, ':usage': { S: '#USAGE#' } },
    }),
  );
  return (page.Items ?? []).map((item) => {
    const consumed: Record<string, number> = {};
    for (const [name, value] of Object.entries(item)) {
      if (name.startsWith('consumed:')) consumed[name.slice('consumed:'.length)] = Number(value.N);
    }
    return {
      window: item['window']!.S!,
      start: Number(item['start']!.N),
      resource: item['resource']!.S!,
      consumed,
    };
  });
}

/** Consumed tokens per limit, summed over snapshots. */
function totals(list: readonly StoredSnapshot[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const snapshot of list) {
    for (const [limit, tokens] of Object.entries(snapshot.consumed)) sum[limit] = (sum[limit] ?? 0) + tokens;
  }
  return sum;
}

function only(list: StoredSnapshot[], window: string, start?: number): StoredSnapshot {
  const found = list.filter(
    (snapshot) => snapshot.window === window && (start === undefined || snapshot.start === start),
  );
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('usage aggregator on real stream records', () => {
  it('counts every charge exactly, including the write that created the bucket, and subtracts refunds', async () => {
    for (let i = 0; i < 5; i++) await charge('key-1', 'gpt-4o', { rpm: 1, tpm: 100 + i });
    await charge('key-1', 'gpt-4o', { tpm: -30 });
    const records = await readStream();
    expect(records.map((record) => record.eventName)).toEqual([
      'INSERT',
      'MODIFY',
      'MODIFY',
      'MODIFY',
      'MODIFY',
      'MODIFY',
    ]);

    const process = createStreamProcessor({ client, tableName, logger: silent });
    const summary = await process({ Records: records });
    expect(summary.batchItemFailures).toEqual([]);
    expect(summary.bucketChanges).toBe(6);

    // Windowed by each record's own time: normally one hour and one day, two if the writes
    // happened to straddle a boundary.
    const times = records.map((record) => record.dynamodb!.ApproximateCreationDateTime! * 1000);
    const stored = await snapshots('key-1');
    for (const [window, size] of [
      ['hour', HOUR],
      ['day', DAY],
    ] as const) {
      const inWindow = stored.filter((snapshot) => snapshot.window === window);
      expect(new Set(inWindow.map((snapshot) => snapshot.start))).toEqual(
        new Set(times.map((t) => t - (t % size))),
      );
      expect(inWindow.every((snapshot) => snapshot.resource === 'gpt-4o')).toBe(true);
      expect(totals(inWindow)).toEqual({ rpm: 5, tpm: 480 });
    }
  });

  it('counts a batch delivered twice once', async () => {
    for (let i = 0; i < 4; i++) await charge('key-2', 'chat', { rpm: 1, tpm: 10 });
    const records = at(await readStream(), MIDDAY);
    const process = createStreamProcessor({ client, tableName, logger: silent });
    await process({ Records: records });
    const second = await process({ Records: records });

    expect(second.snapshots).toEqual({ applied: 0, 'partly-replayed': 0, replayed: 2 });
    const stored = await snapshots('key-2');
    expect(only(stored, 'hour').consumed).toEqual({ rpm: 4, tpm: 40 });
    expect(only(stored, 'day').consumed).toEqual({ rpm: 4, tpm: 40 });
  });

  it('adds only the records above the watermark when a redelivered batch straddles it', async () => {
    for (let i = 1; i <= 6; i++) await charge('key-3', 'chat', { tpm: i });
    const records = at(await readStream(), MIDDAY);
    const process = createStreamProcessor({ client, tableName, logger: silent });
    await process({ Records: records.slice(0, 2) });
    const straddling = await process({ Records: records });

    expect(straddling.snapshots['partly-replayed']).toBe(2);
    expect(only(await snapshots('key-3'), 'hour').consumed).toEqual({ tpm: 21 });
  });

  it('puts records on both sides of an hour boundary into their own hourly windows and one daily window', async () => {
    for (let i = 0; i < 5; i++) await charge('key-4', 'chat', { rpm: 1 });
    const records = at(await readStream(), MIDDAY);
    const boundary = Date.UTC(2026, 0, 15, 11);
    const batch = [...at(records.slice(0, 2), boundary - 1000), ...at(records.slice(2), boundary)];
    await createStreamProcessor({ client, tableName, logger: silent })({ Records: batch });

    const stored = await snapshots('key-4');
    expect(only(stored, 'hour', boundary - HOUR).consumed).toEqual({ rpm: 2 });
    expect(only(stored, 'hour', boundary).consumed).toEqual({ rpm: 3 });
    expect(only(stored, 'day', Date.UTC(2026, 0, 15)).consumed).toEqual({ rpm: 5 });
  });

  it('ignores removals and items that are not buckets', async () => {
    await charge('key-5', 'chat', { rpm: 2 });
    const key = new KeyBuilder().bucket('key-5', 'chat');
    await client.send(
      new DeleteItemCommand({ TableName: tableName, Key: { PK: { S: key.PK }, SK: { S: key.SK } } }),
    );
    const entity = new KeyBuilder().entity('key-5');
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { PK: { S: entity.PK }, SK: { S: entity.SK }, 'consumed:rpm': { N: '99' } },
      }),
    );
    const records = at(await readStream(), MIDDAY);
    expect(records.map((record) => record.eventName)).toEqual(['INSERT', 'REMOVE', 'INSERT']);

    const summary = await createStreamProcessor({ client, tableName, logger: silent })({ Records: records });
    expect(summary.bucketChanges).toBe(1);
    expect(only(await snapshots('key-5'), 'hour').consumed).toEqual({ rpm: 2 });
  });

  it('keeps namespaces apart and aggregates only the chosen one when told to', async () => {
    await charge('key-6', 'chat', { rpm: 1 }, 'staging');
    await charge('key-6', 'chat', { rpm: 7 });
    const records = at(await readStream(), MIDDAY);
    await createStreamProcessor({ client, tableName, namespace: 'staging', logger: silent })({
      Records: records,
    });

    expect(only(await snapshots('key-6', 'staging'), 'hour').consumed).toEqual({ rpm: 1 });
    expect(await snapshots('key-6')).toEqual([]);
  });

  it('reports every record from the first failed write on, and a retry from there completes the counts', async () => {
    for (let i = 0; i < 3; i++) {
      await charge('key-7', 'a', { rpm: 1 });
      await charge('key-7', 'b', { rpm: 10 });
    }
    const records = at(await readStream(), MIDDAY);
    let failures = 0;
    const failing = {
      send: (command: UpdateItemCommand, options?: object) => {
        if (command.input.Key?.['SK']?.S?.endsWith('#b')) {
          failures++;
          return Promise.reject(new Error('simulated outage'));
        }
        return client.send(command, options ?? {});
      },
    } as unknown as DynamoDBClient;
    const first = await createStreamProcessor({ client: failing, tableName, logger: silent })({
      Records: records,
    });

    expect(failures).toBe(2);
    expect(first.batchItemFailures).toEqual(
      records.slice(1).map((r) => ({ itemIdentifier: r.dynamodb!.SequenceNumber })),
    );
    const retry = await createStreamProcessor({ client, tableName, logger: silent })({
      Records: records.slice(1),
    });
    expect(retry.batchItemFailures).toEqual([]);
    const stored = await snapshots('key-7');
    expect(stored.filter((s) => s.window === 'hour').map((s) => [s.resource, s.consumed])).toEqual([
      ['a', { rpm: 3 }],
      ['b', { rpm: 30 }],
    ]);
  });

  it('fails the batch from a record it cannot read, after counting the records before it', async () => {
    await charge('key-8', 'chat', { rpm: 1 });
    await charge('key-8', 'chat', { rpm: 1 });
    const records = at(await readStream(), MIDDAY);
    const broken: StreamRecord = {
      ...records[1]!,
      dynamodb: {
        ...records[1]!.dynamodb,
        NewImage: { ...records[1]!.dynamodb!.NewImage, 'consumed:rpm': { N: '2.5' } },
      },
    };
    const summary = await createStreamProcessor({ client, tableName, logger: silent })({
      Records: [records[0]!, broken],
    });

    expect(summary.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }]);
    expect(only(await snapshots('key-8'), 'hour').consumed).toEqual({ rpm: 1 });
  });

  it('serves as a Lambda handler that finds the table in the event source ARN', async () => {
    await charge('key-9', 'chat', { rpm: 3 });
    const event = { Records: at(await readStream(), MIDDAY) } as unknown as DynamoDBStreamEvent;
    const handler = createAggregatorHandler({ client, logger: silent }, {});

    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(only(await snapshots('key-9'), 'day').consumed).toEqual({ rpm: 3 });
  });

  it('runs against the local stream until drained, and a second run counts nothing twice', async () => {
    for (let i = 0; i < 3; i++) await charge('key-10', 'chat', { rpm: 1, tpm: 5 });
    const run = () =>
      runLocalAggregator({
        client,
        streams,
        tableName,
        untilDrained: true,
        pollIntervalMs: 10,
        logger: silent,
      });
    const first = await run();
    const second = await run();

    // The snapshot writes are on the stream too; they are read and skipped.
    expect(first).toMatchObject({ bucketChanges: 3, snapshotWrites: 2, failedBatches: 0 });
    expect(second).toMatchObject({ bucketChanges: 3, snapshotWrites: 0, failedBatches: 0 });
    const stored = await snapshots('key-10');
    expect(totals(stored.filter((snapshot) => snapshot.window === 'hour'))).toEqual({ rpm: 3, tpm: 15 });
    expect(totals(stored.filter((snapshot) => snapshot.window === 'day'))).toEqual({ rpm: 3, tpm: 15 });
  });
});

describe('sequence numbers', () => {
  it('pads them so that string order is numeric order', () => {
    expect(padSequence('99') < padSequence('100')).toBe(true);
    expect(padSequence('000000000000000000010')).toBe(padSequence('10'));
    expect(() => padSequence('12a')).toThrow(/sequence number/);
  });
});
