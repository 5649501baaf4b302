import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type AdjustRequest,
  type BucketKey,
  type BucketState,
  type ChargeRequest,
  type ChargeResult,
  describeValue,
  type EntityChanges,
  EntityError,
  type EntityRecord,
  type GetBucketsRequest,
  type LimitDefinition,
  type LimitScope,
  type LoadConfigRequest,
  type LoadedConfig,
  type ResetScope,
  type Store,
  type StoreStats,
  type UsagePage,
  type UsageQuery,
  type UsageSnapshot,
  ValidationError,
} from '@tollgate/core';
import { assertDistinctLimitNames, Coalescer, scopeKey } from '@tollgate/core/internal';
import { writeAdjustments } from './adjust-writes.js';
import { type BatchContext, batchDeleteItems, batchGetItems } from './batch-operations.js';
import { writeCharges } from './charge-writes.js';
import {
  decodeBucket,
  decodeEntity,
  decodeLimitSet,
  decodeUsage,
  encodeEntity,
  encodeEntityChanges,
  encodeLimitSet,
  type Item,
  keyId,
  keyOf,
  RESOURCE_ATTRIBUTE,
  readString,
  stringValue,
  tatAttributes,
} from './item-codec.js';
import { type DynamoDBStoreOptions, type ResolvedStoreOptions, resolveStoreOptions } from './options.js';
import {
  BUCKET_SK_PREFIX,
  CHILDREN_INDEX,
  ENTITY_SK,
  GSI1PK,
  KeyBuilder,
  PK,
  padStart,
  SK,
} from './schema.js';
import { BucketStateCache } from './state-cache.js';
import { StatsRecorder } from './stats.js';
import { TableRequests } from './table-requests.js';
import { decodeUsageCursor, encodeUsageCursor, usageKeyOf } from './usage-cursor.js';
import type { BucketWriteContext } from './write-context.js';

/** Default and largest page of {@link DynamoDBStore.getUsage}. */
const DEFAULT_USAGE_PAGE = 100;
const MAX_USAGE_PAGE = 1000;
/** Sorts after every digit and `#`: the open upper end of a usage range. */
const USAGE_RANGE_END = '~';
/** Bucket items {@link DynamoDBStore.resetBuckets} updates at a time. */
const RESET_CONCURRENCY = 10;

/**
 * The DynamoDB {@link Store}: all limits of one (entity, resource) live in one
 * item, and a decision is ONE conditional write with no read: UpdateItem for
 * one bucket, TransactWriteItems for an entity and its ancestors.
 *
 * Construction does no I/O; the table must exist (`createTable()`, the CLI or
 * the CloudFormation template make it).
 *
 * With `coalesce: true` (the default), concurrent calls of this store on one
 * item set share writes: while a write to it is in flight, further charges
 * queue and then go out as ONE conditional write, each still decided exactly
 * as if alone, in arrival order (settles likewise). `coalesce: false` sends
 * every call as its own write. See docs/dynamodb.md, "Coalescing".
 *
 * @example
 * const store = new DynamoDBStore({ tableName: 'tollgate', clientConfig: { region: 'eu-west-1' } });
 * const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 100)] });
 * // DynamoDB Local: new DynamoDBStore({ tableName, clientConfig: { endpoint: 'http://127.0.0.1:8000' } })
 */
export class DynamoDBStore implements Store {
  /** The table this store reads and writes. */
  readonly tableName: string;
  /** The namespace prefixing every key, if any. */
  readonly namespace: string | undefined;
  private readonly options: ResolvedStoreOptions;
  private readonly keys: KeyBuilder;
  private readonly recorder = new StatsRecorder();
  private readonly requests: TableRequests;
  private readonly states: BucketStateCache;
  private readonly charges: Coalescer<ChargeRequest, ChargeResult>;
  private readonly adjustments: Coalescer<AdjustRequest, undefined>;
  private closed = false;
  /** Every request sent is counted for `tollgate:store` messages. */
  readonly reportsRoundTrips = true;

  constructor(options: DynamoDBStoreOptions) {
    this.options = resolveStoreOptions(options);
    this.tableName = this.options.tableName;
    this.namespace = this.options.namespace;
    this.keys = new KeyBuilder(this.options.namespace);
    this.requests = new TableRequests(this.options.client, this.recorder);
    this.states = new BucketStateCache(this.options.stateCacheSize);
    const context: BucketWriteContext = {
      requests: this.requests,
      tableName: this.tableName,
      keys: this.keys,
      states: this.states,
      maxAttempts: this.options.maxAttempts,
      ttlMarginSeconds: this.options.ttlMarginSeconds,
    };
    this.charges = new Coalescer(this.options.coalesce, (requests, signal) =>
      writeCharges(context, requests, signal),
    );
    this.adjustments = new Coalescer(this.options.coalesce, (requests, signal) =>
      writeAdjustments(context, requests, signal),
    );
  }

  /** The DynamoDB client in use (the one passed in, or the one the store created). */
  get client(): DynamoDBClient {
    return this.options.client;
  }

  /**
   * Charges every bucket in one write, or nothing. Each limit's form is picked
   * from the last state seen; a failed condition returns the old image, which
   * either proves a limit short (rejected, with the exact state) or gives the
   * right forms for the next write. With `coalesce` (the default), a charge
   * for an item set with a write in flight waits for it and then goes out
   * with every other charge queued meanwhile as ONE write, each decided as if
   * alone, in arrival order.
   */
  async charge(request: ChargeRequest): Promise<ChargeResult> {
    this.recorder.call('charge');
    if (request.buckets.length === 0) return { admitted: true, buckets: [] };
    for (const bucket of request.buckets)
      assertDistinctLimitNames(bucket.charges.map((charge) => charge.limit));
    return this.charges.submit(this.itemSet(request.buckets), request);
  }

  /**
   * Applies debt and refunds, written once: UpdateItem for one bucket,
   * TransactWriteItems for several. Never refused; a failed condition only
   * means a wrong guess of the form, corrected from the old image. Coalesced
   * like {@link charge}: one write composes the adjustments queued for an item set.
   */
  async adjust(request: AdjustRequest): Promise<void> {
    this.recorder.call('adjust');
    const buckets = request.buckets.filter((bucket) => bucket.adjustments.length > 0);
    if (buckets.length === 0) return;
    for (const bucket of buckets)
      assertDistinctLimitNames(bucket.adjustments.map((adjustment) => adjustment.limit));
    await this.adjustments.submit(this.itemSet(buckets), { ...request, buckets });
  }

  /** Reads bucket states: GetItem for one, BatchGetItem for several. */
  async getBuckets(request: GetBucketsRequest): Promise<BucketState[]> {
    const kind = 'getBuckets';
    this.recorder.call(kind);
    const { keys: bucketKeys, signal } = request;
    const tableKeys = bucketKeys.map((bucket) => this.keys.bucket(bucket.entity, bucket.resource));
    const [first] = tableKeys;
    let items: Map<string, Item>;
    if (tableKeys.length === 0) return [];
    if (tableKeys.length === 1 && first) {
      const output = await this.requests.getItem(
        kind,
        { TableName: this.tableName, Key: keyOf(first), ConsistentRead: this.options.consistentReads },
        signal,
      );
      items = new Map(output.Item ? [[keyId(first), output.Item]] : []);
    } else {
      items = await batchGetItems(
        this.batch(kind, signal),
        tableKeys.map(keyOf),
        this.options.consistentReads,
      );
    }
    return bucketKeys.map((bucket, index) => {
      const key = tableKeys[index] ?? this.keys.bucket(bucket.entity, bucket.resource);
      const state = decodeBucket(bucket, items.get(keyId(key)));
      this.states.remember(key, state.tats);
      return state;
    });
  }

  /** Reads entity records and the limit sets of every scope in one BatchGetItem. */
  async loadConfig(request: LoadConfigRequest): Promise<LoadedConfig> {
    const kind = 'loadConfig';
    this.recorder.call(kind);
    const entities = new Map<string, EntityRecord>();
    const limits = new Map<string, readonly LimitDefinition[]>();
    const entityKeys = request.entityIds.map((id) => this.keys.entity(id));
    const scopeKeys = request.scopes.map((scope) => this.keys.limits(scope));
    if (entityKeys.length + scopeKeys.length === 0) return { entities, limits };
    const items = await batchGetItems(
      this.batch(kind, request.signal),
      [...entityKeys, ...scopeKeys].map(keyOf),
      this.options.consistentReads,
    );
    request.entityIds.forEach((id, index) => {
      const key = entityKeys[index];
      const item = key && items.get(keyId(key));
      if (item) entities.set(id, decodeEntity(item));
    });
    request.scopes.forEach((scope, index) => {
      const key = scopeKeys[index];
      const item = key && items.get(keyId(key));
      if (item) limits.set(scopeKey(scope), decodeLimitSet(item));
    });
    return { entities, limits };
  }

  /** PutItem if no record has this id; `EntityError` `ERR_TOLLGATE_ENTITY_EXISTS` otherwise. */
  async createEntity(entity: EntityRecord, signal: AbortSignal): Promise<void> {
    const kind = 'createEntity';
    this.recorder.call(kind);
    try {
      await this.requests.putItem(
        kind,
        {
          TableName: this.tableName,
          Item: encodeEntity(this.keys, entity),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        },
        signal,
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new EntityError(
          'ERR_TOLLGATE_ENTITY_EXISTS',
          entity.id,
          `Entity \`${entity.id}\` already exists`,
        );
      }
      throw error;
    }
  }

  /**
   * One conditional UpdateItem of the entity record (`ALL_NEW`): the changed
   * attributes, and the children index keys with the parent. `EntityError`
   * `ERR_TOLLGATE_ENTITY_NOT_FOUND` when there is no record.
   */
  async updateEntity(id: string, changes: EntityChanges, signal: AbortSignal): Promise<EntityRecord> {
    const kind = 'updateEntity';
    this.recorder.call(kind);
    try {
      const output = await this.requests.updateItem(
        kind,
        {
          TableName: this.tableName,
          Key: keyOf(this.keys.entity(id)),
          ...encodeEntityChanges(this.keys, id, changes),
          ReturnValues: 'ALL_NEW',
        },
        signal,
      );
      if (output.Attributes === undefined)
        throw new TypeError(`UpdateItem of entity \`${id}\` returned no item`);
      return decodeEntity(output.Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new EntityError('ERR_TOLLGATE_ENTITY_NOT_FOUND', id, `Entity \`${id}\` does not exist`);
      }
      throw error;
    }
  }

  /** Direct children of `parent`, from the parent → children index, following every page. */
  async getChildren(parent: string, signal: AbortSignal): Promise<EntityRecord[]> {
    const kind = 'getChildren';
    this.recorder.call(kind);
    const children: EntityRecord[] = [];
    let startKey: Item | undefined;
    do {
      const output = await this.requests.query(
        kind,
        {
          TableName: this.tableName,
          IndexName: CHILDREN_INDEX,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': GSI1PK },
          ExpressionAttributeValues: { ':pk': stringValue(this.keys.childrenPartition(parent)) },
          ...this.pageLimit(),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        },
        signal,
      );
      for (const item of output.Items ?? []) children.push(decodeEntity(item));
      startKey = output.LastEvaluatedKey;
    } while (startKey);
    return children;
  }

  /**
   * Deletes every item of the entity's partition (record, limit sets, buckets,
   * usage): a Query of the keys, then BatchWriteItem deletes of 25.
   */
  async deleteEntity(id: string, signal: AbortSignal): Promise<boolean> {
    const kind = 'deleteEntity';
    this.recorder.call(kind);
    const partition = this.keys.entityPartition(id);
    const keys: Item[] = [];
    let existed = false;
    let startKey: Item | undefined;
    do {
      const output = await this.requests.query(
        kind,
        {
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ProjectionExpression: '#pk, #sk',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': stringValue(partition) },
          ConsistentRead: true,
          ...this.pageLimit(),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        },
        signal,
      );
      for (const item of output.Items ?? []) {
        if (readString(item, SK) === ENTITY_SK) existed = true;
        keys.push(item);
      }
      startKey = output.LastEvaluatedKey;
    } while (startKey);
    await batchDeleteItems(this.batch(kind, signal), keys);
    this.states.forgetPartition(partition);
    return existed;
  }

  /**
   * Removes the `tat:<limit>` attributes of the entity's bucket items, found
   * with a GetItem (one resource) or a consistent Query of the partition's
   * bucket sort keys (every resource), with one UpdateItem per item that
   * holds any. The items stay, with their `consumed:<limit>` counters, so the
   * usage aggregator loses nothing (the stream carries no counter change).
   * The state guesses kept for those items are forgotten: a guess only picks
   * the write form, so one that is stale costs a retry, never a decision.
   */
  async resetBuckets(scope: ResetScope, signal: AbortSignal): Promise<number> {
    const kind = 'resetBuckets';
    this.recorder.call(kind);
    const { entity, resource } = scope;
    const items: Item[] = [];
    if (resource !== undefined) {
      const output = await this.requests.getItem(
        kind,
        {
          TableName: this.tableName,
          Key: keyOf(this.keys.bucket(entity, resource)),
          ConsistentRead: true,
        },
        signal,
      );
      if (output.Item) items.push(output.Item);
    } else {
      let startKey: Item | undefined;
      do {
        const output = await this.requests.query(
          kind,
          {
            TableName: this.tableName,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :bucket)',
            ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
            ExpressionAttributeValues: {
              ':pk': stringValue(this.keys.entityPartition(entity)),
              ':bucket': stringValue(BUCKET_SK_PREFIX),
            },
            ConsistentRead: true,
            ...this.pageLimit(),
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          },
          signal,
        );
        items.push(...(output.Items ?? []));
        startKey = output.LastEvaluatedKey;
      } while (startKey);
    }
    const holding = items.filter((item) => tatAttributes(item).length > 0);
    let reset = 0;
    for (let start = 0; start < holding.length; start += RESET_CONCURRENCY) {
      const cleared = await Promise.all(
        holding.slice(start, start + RESET_CONCURRENCY).map((item) => this.clearTats(kind, item, signal)),
      );
      reset += cleared.filter(Boolean).length;
    }
    if (resource === undefined) this.states.forgetPartition(this.keys.entityPartition(entity));
    else this.states.forget(this.keys.bucket(entity, resource));
    return reset;
  }

  /** Removes the tats `item` was read with; false if the item is gone (expired or deleted meanwhile). */
  private async clearTats(kind: string, item: Item, signal: AbortSignal): Promise<boolean> {
    const names = tatAttributes(item);
    const placeholders = names.map((_, index) => `#t${index}`);
    try {
      await this.requests.updateItem(
        kind,
        {
          TableName: this.tableName,
          Key: { [PK]: item[PK]!, [SK]: item[SK]! },
          UpdateExpression: `REMOVE ${placeholders.join(', ')}`,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: {
            '#pk': PK,
            ...Object.fromEntries(names.map((name, index) => [placeholders[index], name])),
          },
        },
        signal,
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Replaces the limit set of one scope (PutItem). */
  async putLimits(scope: LimitScope, limits: readonly LimitDefinition[], signal: AbortSignal): Promise<void> {
    const kind = 'putLimits';
    this.recorder.call(kind);
    await this.requests.putItem(
      kind,
      { TableName: this.tableName, Item: encodeLimitSet(this.keys, scope, limits) },
      signal,
    );
  }

  /** Removes the limit set of one scope (DeleteItem); false if there was none. */
  async deleteLimits(scope: LimitScope, signal: AbortSignal): Promise<boolean> {
    const kind = 'deleteLimits';
    this.recorder.call(kind);
    const output = await this.requests.deleteItem(
      kind,
      { TableName: this.tableName, Key: keyOf(this.keys.limits(scope)), ReturnValues: 'ALL_OLD' },
      signal,
    );
    return output.Attributes !== undefined;
  }

  /**
   * One page of usage snapshots (written by the usage aggregator), oldest
   * first: a Query of the entity partition between the window's sort keys for
   * `from` and `to`, filtered by resource when one is given.
   */
  async getUsage(query: UsageQuery, signal: AbortSignal): Promise<UsagePage> {
    const kind = 'getUsage';
    this.recorder.call(kind);
    const pageSize = query.pageSize ?? DEFAULT_USAGE_PAGE;
    if (!Number.isSafeInteger(pageSize) || pageSize <= 0 || pageSize > MAX_USAGE_PAGE) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`pageSize\` to be an integer from 1 to ${MAX_USAGE_PAGE}, got ${describeValue(query.pageSize)}`,
        'pageSize',
      );
    }
    const partition = this.keys.entityPartition(query.entity);
    const prefix = this.keys.usagePrefix(query.window);
    // Sort keys are `<prefix><15-digit start>#<resource>`: from `<prefix><from>` (inclusive)
    // to `<prefix><to>` (exclusive, since every key with that start sorts after it).
    const lower = query.from === undefined ? prefix : `${prefix}${padStart(Math.max(0, query.from))}`;
    const upper =
      query.to === undefined ? `${prefix}${USAGE_RANGE_END}` : `${prefix}${padStart(Math.max(0, query.to))}`;
    const snapshots: UsageSnapshot[] = [];
    const keysOfSnapshots: { PK: string; SK: string }[] = [];
    let startKey: Item | undefined =
      query.cursor === undefined ? undefined : decodeUsageCursor(query.cursor, partition, prefix);
    if (lower > upper) return { snapshots };
    // Ask for one more than the page holds, so the cursor is only returned when more exist.
    do {
      const output = await this.requests.query(
        kind,
        {
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lower AND :upper',
          ExpressionAttributeNames: {
            '#pk': PK,
            '#sk': SK,
            ...(query.resource === undefined ? {} : { '#resource': RESOURCE_ATTRIBUTE }),
          },
          ExpressionAttributeValues: {
            ':pk': stringValue(partition),
            ':lower': stringValue(lower),
            ':upper': stringValue(upper),
            ...(query.resource === undefined ? {} : { ':resource': stringValue(query.resource) }),
          },
          ...(query.resource === undefined ? {} : { FilterExpression: '#resource = :resource' }),
          ConsistentRead: this.options.consistentReads,
          Limit: pageSize + 1 - snapshots.length,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        },
        signal,
      );
      for (const item of output.Items ?? []) {
        snapshots.push(decodeUsage(item));
        keysOfSnapshots.push(usageKeyOf(item));
      }
      startKey = output.LastEvaluatedKey;
    } while (startKey && snapshots.length <= pageSize);
    if (snapshots.length <= pageSize) return { snapshots };
    snapshots.length = pageSize;
    const last = keysOfSnapshots[pageSize - 1];
    return last ? { snapshots, cursor: encodeUsageCursor(last) } : { snapshots };
  }

  /** Round trips and capacity units per kind of call since construction (or {@link resetStats}). */
  stats(): StoreStats {
    return this.recorder.snapshot();
  }

  /** Clears the counters of {@link stats}. */
  resetStats(): void {
    this.recorder.reset();
  }

  /** Destroys the client if the store created it (its keep-alive sockets with it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.options.ownsClient) this.options.client.destroy();
  }

  private batch(kind: string, signal: AbortSignal): BatchContext {
    return { requests: this.requests, kind, tableName: this.tableName, signal };
  }

  private pageLimit(): { Limit?: number } {
    return this.options.queryPageSize === undefined ? {} : { Limit: this.options.queryPageSize };
  }

  /** The ordered bucket keys of a request: requests coalesce only with the same item set. */
  private itemSet(buckets: readonly BucketKey[]): string {
    return JSON.stringify(buckets.map((bucket) => keyId(this.keys.bucket(bucket.entity, bucket.resource))));
  }
}
