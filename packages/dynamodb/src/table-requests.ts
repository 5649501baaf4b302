import {
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
  type ConsumedCapacity,
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DeleteItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  type GetItemCommandOutput,
  PutItemCommand,
  type PutItemCommandInput,
  type PutItemCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
  type TransactWriteItemsCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import type { CapacityKind, StatsRecorder } from './stats.js';

/** A command this client sends, e.g. an `UpdateItemCommand`, typed by its input and output. */
type TableCommand<Input extends ServiceInputTypes, Output extends ServiceOutputTypes> = Parameters<
  typeof DynamoDBClient.prototype.send<Input, Output>
>[0];

/** A response with the capacity it consumed: one entry, or one per table (batches, transactions). */
interface ReportsCapacity {
  readonly ConsumedCapacity?: ConsumedCapacity | readonly ConsumedCapacity[] | undefined;
}

/**
 * Every request the store sends, one method per DynamoDB operation. Each
 * counts a round trip for the calling store method (`kind`), asks for the
 * consumed capacity, forwards the call's abort signal to the SDK and lets SDK
 * errors propagate with their type.
 */
export class TableRequests {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly stats: StatsRecorder,
  ) {}

  /** One UpdateItem. */
  updateItem(
    kind: string,
    input: UpdateItemCommandInput,
    signal: AbortSignal,
  ): Promise<UpdateItemCommandOutput> {
    return this.send(
      kind,
      'write',
      new UpdateItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** One TransactWriteItems. */
  transactWrite(
    kind: string,
    input: TransactWriteItemsCommandInput,
    signal: AbortSignal,
  ): Promise<TransactWriteItemsCommandOutput> {
    return this.send(
      kind,
      'write',
      new TransactWriteItemsCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** One GetItem. */
  getItem(kind: string, input: GetItemCommandInput, signal: AbortSignal): Promise<GetItemCommandOutput> {
    return this.send(kind, 'read', new GetItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }), signal);
  }

  /** One BatchGetItem. */
  batchGet(
    kind: string,
    input: BatchGetItemCommandInput,
    signal: AbortSignal,
  ): Promise<BatchGetItemCommandOutput> {
    return this.send(
      kind,
      'read',
      new BatchGetItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** One BatchWriteItem. */
  batchWrite(
    kind: string,
    input: BatchWriteItemCommandInput,
    signal: AbortSignal,
  ): Promise<BatchWriteItemCommandOutput> {
    return this.send(
      kind,
      'write',
      new BatchWriteItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** One Query page. */
  query(kind: string, input: QueryCommandInput, signal: AbortSignal): Promise<QueryCommandOutput> {
    return this.send(kind, 'read', new QueryCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }), signal);
  }

  /** One PutItem. */
  putItem(kind: string, input: PutItemCommandInput, signal: AbortSignal): Promise<PutItemCommandOutput> {
    return this.send(
      kind,
      'write',
      new PutItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** One DeleteItem. */
  deleteItem(
    kind: string,
    input: DeleteItemCommandInput,
    signal: AbortSignal,
  ): Promise<DeleteItemCommandOutput> {
    return this.send(
      kind,
      'write',
      new DeleteItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      signal,
    );
  }

  /** Sends one command: a round trip for `kind`, then the capacity its response reports. */
  private async send<Input extends ServiceInputTypes, Output extends ServiceOutputTypes & ReportsCapacity>(
    kind: string,
    capacity: CapacityKind,
    command: TableCommand<Input, Output>,
    signal: AbortSignal,
  ): Promise<Output> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(command, { abortSignal: signal });
    this.stats.capacity(kind, output.ConsumedCapacity, capacity);
    return output;
  }
}
