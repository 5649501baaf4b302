import {
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
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
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
  type TransactWriteItemsCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import type { StatsRecorder } from './stats.js';

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
  async updateItem(
    kind: string,
    input: UpdateItemCommandInput,
    signal: AbortSignal,
  ): Promise<UpdateItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(
      new UpdateItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      {
        abortSignal: signal,
      },
    );
    this.stats.capacity(kind, output.ConsumedCapacity, 'write');
    return output;
  }

  /** One TransactWriteItems. */
  async transactWrite(
    kind: string,
    input: TransactWriteItemsCommandInput,
    signal: AbortSignal,
  ): Promise<TransactWriteItemsCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(
      new TransactWriteItemsCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      { abortSignal: signal },
    );
    this.stats.capacity(kind, output.ConsumedCapacity, 'write');
    return output;
  }

  /** One GetItem. */
  async getItem(
    kind: string,
    input: GetItemCommandInput,
    signal: AbortSignal,
  ): Promise<GetItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(new GetItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }), {
      abortSignal: signal,
    });
    this.stats.capacity(kind, output.ConsumedCapacity, 'read');
    return output;
  }

  /** One BatchGetItem. */
  async batchGet(
    kind: string,
    input: BatchGetItemCommandInput,
    signal: AbortSignal,
  ): Promise<BatchGetItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(
      new BatchGetItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      {
        abortSignal: signal,
      },
    );
    this.stats.capacity(kind, output.ConsumedCapacity, 'read');
    return output;
  }

  /** One BatchWriteItem. */
  async batchWrite(
    kind: string,
    input: BatchWriteItemCommandInput,
    signal: AbortSignal,
  ): Promise<BatchWriteItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(
      new BatchWriteItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      {
        abortSignal: signal,
      },
    );
    this.stats.capacity(kind, output.ConsumedCapacity, 'write');
    return output;
  }

  /** One Query page. */
  async query(kind: string, input: QueryCommandInput, signal: AbortSignal): Promise<QueryCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(new QueryCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }), {
      abortSignal: signal,
    });
    this.stats.capacity(kind, output.ConsumedCapacity, 'read');
    return output;
  }

  /** One PutItem. */
  async putItem(
    kind: string,
    input: PutItemCommandInput,
    signal: AbortSignal,
  ): Promise<PutItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(new PutItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }), {
      abortSignal: signal,
    });
    this.stats.capacity(kind, output.ConsumedCapacity, 'write');
    return output;
  }

  /** One DeleteItem. */
  async deleteItem(
    kind: string,
    input: DeleteItemCommandInput,
    signal: AbortSignal,
  ): Promise<DeleteItemCommandOutput> {
    this.stats.roundTrip(kind);
    const output = await this.client.send(
      new DeleteItemCommand({ ...input, ReturnConsumedCapacity: 'TOTAL' }),
      {
        abortSignal: signal,
      },
    );
    this.stats.capacity(kind, output.ConsumedCapacity, 'write');
    return output;
  }
}
