import {
  type AdjustRequest,
  type BucketKey,
  type BucketState,
  type ChargeRequest,
  type ChargeResult,
  type EntityChanges,
  EntityError,
  type EntityRecord,
  type GetBucketsRequest,
  type Limit,
  type LimitDefinition,
  type LimitScope,
  type LoadConfigRequest,
  type LoadedConfig,
  RateLimiterUnavailable,
  type ResetScope,
  recordRoundTrips,
  type Store,
  type StoreStats,
  type UsagePage,
  type UsageQuery,
  type UsageSnapshot,
  ValidationError,
} from '@tollgate/core';
import {
  Coalescer,
  changedEntity,
  gcra,
  scopeKey,
  usageWindowMs,
  usageWindowStart,
} from '@tollgate/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { REPLACE_ENTITY_SCRIPT, RESET_BUCKET_SCRIPT } from './admin-scripts.js';
import { RedisKeys } from './keys.js';
import {
  type RedisClient,
  type RedisStoreOptions,
  type ResolvedRedisStoreOptions,
  resolveRedisStoreOptions,
} from './options.js';
import { ADJUST_SCRIPT, CHARGE_SCRIPT, READ_SCRIPT } from './scripts.js';

/** The commands `defineCommand` adds to the client (EVALSHA, EVAL on NOSCRIPT). */
interface ScriptCommands {
  tollgateCharge(keyCount: number, ...keysAndArgs: string[]): Promise<[string, ...unknown[]]>;
  tollgateAdjust(keyCount: number, ...keysAndArgs: string[]): Promise<number>;
  tollgateRead(keyCount: number, ...keysAndArgs: string[]): Promise<unknown[]>;
}

/** One raw command: name, then arguments. */
type RawCommand = [string, ...string[]];

const NS_PER_MS = 1_000_000n;
const HOUR_MS = usageWindowMs('hour');
const DAY_MS = usageWindowMs('day');
const SCAN_COUNT = '1000';
/** `'1'`: an admitted request in the charge script's flags. */
const ADMITTED = 49;
/** Reads and compare-and-set writes of an entity record before `updateEntity` gives up. */
const UPDATE_ATTEMPTS = 10;

/**
 * A {@link Store} on Redis (7+) through an ioredis client, for any number of
 * processes sharing one Redis or Redis Cluster.
 *
 * Every decision is ONE server command: a Lua script (`EVALSHA`, `EVAL` again
 * after a `NOSCRIPT`) runs the exact GCRA of every limit of every bucket of the
 * request (the entity and, with cascade, its ancestors), charges all or
 * nothing, adds to the hourly and daily usage, and sets the bucket to expire
 * once it is full again. An adjustment (commit with adjustments, rollback) is
 * one command too. Times stay integer nanoseconds end to end: the script
 * computes on decimal strings, exactly, never on rounded doubles.
 *
 * With `coalesce: true` (the default), a charge for buckets that already have
 * a script call of this store in flight waits for it, then goes out with every
 * other charge queued meanwhile as ONE call, in which the script decides them
 * one after another in arrival order: each gets the answer it would have got
 * alone. Settles coalesce the same way. See docs/redis.md, "Coalescing".
 *
 * Construction does no I/O and the client is not owned: connect and quit it
 * yourself. Errors of the client (connection lost, timeouts, Cluster
 * redirections that fail) are not Tollgate errors, so the limiter reports
 * them as `RateLimiterUnavailable` and follows `onUnavailable`.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const client = new Redis({ host: '127.0.0.1', enableOfflineQueue: false });
 * const limiter = new RateLimiter({
 *   store: new RedisStore({ client, prefix: 'api:' }),
 *   limits: [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)],
 * });
 */
export class RedisStore implements Store {
  private readonly options: ResolvedRedisStoreOptions;
  private readonly client: RedisClient;
  private readonly scripts: ScriptCommands;
  private readonly keys: RedisKeys;
  private readonly counters: StoreStats = {};
  private readonly charges: Coalescer<ChargeRequest, ChargeResult>;
  private readonly adjustments: Coalescer<AdjustRequest, undefined>;
  /** Every command sent is counted for `tollgate:store` messages. */
  readonly reportsRoundTrips = true;

  constructor(options: RedisStoreOptions) {
    this.options = resolveRedisStoreOptions(options);
    this.client = this.options.client;
    this.keys = new RedisKeys(this.options.prefix, this.options.hashTag);
    // defineCommand only registers the scripts; they are loaded on first use.
    this.client.defineCommand('tollgateCharge', { lua: CHARGE_SCRIPT });
    this.client.defineCommand('tollgateAdjust', { lua: ADJUST_SCRIPT });
    this.client.defineCommand('tollgateRead', { lua: READ_SCRIPT });
    this.scripts = this.client as unknown as ScriptCommands;
    this.charges = new Coalescer(this.options.coalesce, (requests, signal) =>
      this.chargeBatch(requests, signal),
    );
    this.adjustments = new Coalescer(this.options.coalesce, (requests, signal) =>
      this.adjustBatch(requests, signal),
    );
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    this.begin('charge');
    if (request.buckets.length === 0) return { admitted: true, buckets: [] };
    this.assertOneSlot(request.buckets);
    return this.charges.submit(itemSet(request.buckets), request);
  }

  async adjust(request: AdjustRequest): Promise<void> {
    this.begin('adjust');
    if (request.buckets.length === 0) return;
    this.assertOneSlot(request.buckets);
    await this.adjustments.submit(itemSet(request.buckets), request);
  }

  /**
   * One script call deciding `requests` (same buckets) in order, at the
   * latest `nowNs` of them. The script answers which were admitted and the
   * state before the first; each request's state is replayed from it here.
   */
  private async chargeBatch(
    requests: readonly ChargeRequest[],
    signal: AbortSignal,
  ): Promise<ChargeResult[]> {
    const nowNs = latestNowNs(requests);
    const { keys, args } = this.callHead(requests[0]!.buckets, nowNs, requests.length);
    for (const request of requests) {
      for (const bucket of request.buckets) {
        args.push(String(bucket.charges.length));
        for (const { limit, cost } of bucket.charges) {
          args.push(limit.name, String(cost), String(gcra.costNs(limit, cost)), tauText(limit));
        }
      }
    }
    const [flags, ...fields] = await this.send('charge', signal, 1, () =>
      this.scripts.tollgateCharge(keys.length, ...keys, ...args),
    );
    // Copied on write: each answer keeps the maps as they were at its turn.
    const tats = requests[0]!.buckets.map((_, index) => tatsOf(fields[index]));
    return requests.map((request, index) => {
      const admitted = flags.charCodeAt(index) === ADMITTED;
      if (admitted) {
        request.buckets.forEach((bucket, position) => {
          const next = new Map(tats[position]);
          for (const { limit, cost } of bucket.charges) {
            next.set(limit.name, gcra.chargedTat(next.get(limit.name), nowNs, limit, cost));
          }
          tats[position] = next;
        });
      }
      const buckets = request.buckets.map(({ entity, resource }, position) => ({
        entity,
        resource,
        tats: tats[position]!,
      }));
      return request.nowNs === nowNs ? { admitted, buckets } : { admitted, buckets, nowNs };
    });
  }

  /** One script call applying the adjustments of `requests` (same buckets) in order. */
  private async adjustBatch(requests: readonly AdjustRequest[], signal: AbortSignal): Promise<undefined[]> {
    const nowNs = latestNowNs(requests);
    const { keys, args } = this.callHead(requests[0]!.buckets, nowNs, requests.length);
    for (const request of requests) {
      for (const bucket of request.buckets) {
        args.push(String(bucket.adjustments.length));
        for (const { limit, delta } of bucket.adjustments) {
          args.push(limit.name, String(delta), String(gcra.costNs(limit, Math.abs(delta))));
        }
      }
    }
    await this.send('adjust', signal, 1, () => this.scripts.tollgateAdjust(keys.length, ...keys, ...args));
    return requests.map(() => undefined);
  }

  async getBuckets(request: GetBucketsRequest): Promise<BucketState[]> {
    this.begin('getBuckets');
    const { keys, signal } = request;
    const replies = await this.read(
      'getBuckets',
      signal,
      keys.map((key): RawCommand => ['hgetall', this.keys.bucket(key)]),
    );
    return keys.map((key, index) => bucketState(key, replies[index]));
  }

  /**
   * Entity records and limit sets in one round trip: on a single node one
   * `EVALSHA` of a read-only script (one server command however many keys),
   * on a Cluster one command per key, in parallel (the keys live in
   * different slots).
   */
  async loadConfig(request: LoadConfigRequest): Promise<LoadedConfig> {
    this.begin('loadConfig');
    const { entityIds, scopes, signal } = request;
    const reads: Array<[key: string, field: string | undefined]> = [
      ...entityIds.map((id): [string, undefined] => [this.keys.entity(id), undefined]),
      ...scopes.map((scope) => this.limitsField(scope)),
    ];
    let replies: unknown[];
    if (reads.length === 0) {
      this.count('loadConfig', 0);
      replies = [];
    } else if (this.client.isCluster) {
      replies = await this.read(
        'loadConfig',
        signal,
        reads.map(([key, field]): RawCommand => (field === undefined ? ['get', key] : ['hget', key, field])),
      );
    } else {
      replies = await this.send('loadConfig', signal, 1, () =>
        this.scripts.tollgateRead(
          reads.length,
          ...reads.map(([key]) => key),
          String(entityIds.length),
          ...reads.slice(entityIds.length).map(([, field]) => field ?? ''),
        ),
      );
    }
    const entities = new Map<string, EntityRecord>();
    entityIds.forEach((id, index) => {
      const json = replies[index];
      if (typeof json === 'string') entities.set(id, JSON.parse(json) as EntityRecord);
    });
    const limits = new Map<string, readonly LimitDefinition[]>();
    scopes.forEach((scope, index) => {
      const json = replies[entityIds.length + index];
      if (typeof json === 'string') limits.set(scopeKey(scope), JSON.parse(json) as LimitDefinition[]);
    });
    return { entities, limits };
  }

  async createEntity(entity: EntityRecord, signal: AbortSignal): Promise<void> {
    this.begin('createEntity');
    const created = await this.send('createEntity', signal, 1, () =>
      this.client.set(this.keys.entity(entity.id), JSON.stringify(entity), 'NX'),
    );
    if (created === null) {
      throw new EntityError(
        'ERR_TOLLGATE_ENTITY_EXISTS',
        entity.id,
        `Entity \`${entity.id}\` already exists`,
      );
    }
    const { parent } = entity;
    if (parent !== undefined) {
      await this.send('createEntity', signal, 1, () =>
        this.client.sadd(this.keys.children(parent), entity.id),
      );
    }
  }

  /**
   * Reads the record, then replaces it with a compare-and-set script (again
   * if another writer changed it in between). The entity is added to its new
   * parent's children set before the record names that parent, and removed
   * from the old one's after: `getChildren` checks each member's record, so
   * a failure between the commands never lists a child under the wrong parent.
   */
  async updateEntity(id: string, changes: EntityChanges, signal: AbortSignal): Promise<EntityRecord> {
    const kind = 'updateEntity';
    this.begin(kind);
    const key = this.keys.entity(id);
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const json = await this.send(kind, signal, 1, () => this.client.get(key));
      if (typeof json !== 'string') throw entityNotFound(id);
      const stored = JSON.parse(json) as EntityRecord;
      const updated = changedEntity(stored, changes);
      const { parent } = updated;
      if (parent !== undefined && parent !== stored.parent) {
        await this.send(kind, signal, 1, () => this.client.sadd(this.keys.children(parent), id));
      }
      const replaced = await this.send(kind, signal, 1, () =>
        this.client.eval(REPLACE_ENTITY_SCRIPT, 1, key, json, JSON.stringify(updated)),
      );
      if (replaced === 0) throw entityNotFound(id);
      if (replaced !== 1) continue;
      const previous = stored.parent;
      if (previous !== undefined && previous !== parent) {
        await this.send(kind, signal, 1, () => this.client.srem(this.keys.children(previous), id));
      }
      return updated;
    }
    throw new RateLimiterUnavailable(
      `updateEntity: the record of \`${id}\` changed under each of ${UPDATE_ATTEMPTS} attempts`,
    );
  }

  async getChildren(parent: string, signal: AbortSignal): Promise<EntityRecord[]> {
    this.begin('getChildren');
    const ids = await this.send('getChildren', signal, 1, () =>
      this.client.smembers(this.keys.children(parent)),
    );
    const replies = await this.read(
      'getChildren',
      signal,
      ids.map((id): RawCommand => ['get', this.keys.entity(id)]),
    );
    return replies.flatMap((json) => {
      if (typeof json !== 'string') return [];
      const record = JSON.parse(json) as EntityRecord;
      return record.parent === parent ? [record] : [];
    });
  }

  async deleteEntity(id: string, signal: AbortSignal): Promise<boolean> {
    this.begin('deleteEntity');
    const json = await this.send('deleteEntity', signal, 1, () => this.client.get(this.keys.entity(id)));
    const record = typeof json === 'string' ? (JSON.parse(json) as EntityRecord) : undefined;
    const own = [
      this.keys.entity(id),
      this.keys.entityLimits(id),
      this.keys.usageIndex(id, 'hour'),
      this.keys.usageIndex(id, 'day'),
    ];
    await this.send('deleteEntity', signal, 1, () => this.client.unlink(...own));
    const parent = record?.parent;
    if (parent !== undefined) {
      await this.send('deleteEntity', signal, 1, () => this.client.srem(this.keys.children(parent), id));
    }
    for (const pattern of this.keys.ownedPatterns(id))
      await this.unlinkMatching('deleteEntity', pattern, signal);
    return record !== undefined;
  }

  /**
   * Deletes the tats of the entity's bucket hashes (the one of `resource`, or
   * every one a SCAN finds), one script per bucket. The usage hashes are not
   * touched.
   */
  async resetBuckets(scope: ResetScope, signal: AbortSignal): Promise<number> {
    const kind = 'resetBuckets';
    this.begin(kind);
    const { entity, resource } = scope;
    const buckets =
      resource === undefined
        ? await this.keysMatching(kind, this.keys.bucketPattern(entity), signal)
        : [this.keys.bucket({ entity, resource })];
    if (buckets.length === 0) return 0;
    const removed = await this.send(kind, signal, buckets.length, () =>
      Promise.all(buckets.map((bucket) => this.client.eval(RESET_BUCKET_SCRIPT, 1, bucket))),
    );
    return removed.filter((fields) => Number(fields) > 0).length;
  }

  async putLimits(scope: LimitScope, limits: readonly LimitDefinition[], signal: AbortSignal): Promise<void> {
    this.begin('putLimits');
    const json = JSON.stringify(
      limits.map(({ name, capacity, refillAmount, refillPeriodMs }) => ({
        name,
        capacity,
        refillAmount,
        refillPeriodMs,
      })),
    );
    const [key, field] = this.limitsField(scope);
    await this.send('putLimits', signal, 1, () => this.client.hset(key, field, json));
  }

  async deleteLimits(scope: LimitScope, signal: AbortSignal): Promise<boolean> {
    this.begin('deleteLimits');
    const [key, field] = this.limitsField(scope);
    return (await this.send('deleteLimits', signal, 1, () => this.client.hdel(key, field))) > 0;
  }

  async getUsage(query: UsageQuery, signal: AbortSignal): Promise<UsagePage> {
    this.begin('getUsage');
    const { entity, resource, window } = query;
    const offset = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ValidationError(
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected \`cursor\` to come from a previous page, got \`${query.cursor}\``,
        'cursor',
      );
    }
    const pageSize = query.pageSize ?? 100;
    const min = query.from === undefined ? '-inf' : String(query.from);
    const max = query.to === undefined ? '+inf' : `(${query.to}`;
    const members = await this.send('getUsage', signal, 1, () =>
      this.client.zrangebyscore(this.keys.usageIndex(entity, window), min, max),
    );
    const windows = members
      .map((member) => {
        const colon = member.indexOf(':');
        return { start: Number(member.slice(0, colon)), resource: member.slice(colon + 1) };
      })
      .filter((entry) => resource === undefined || entry.resource === resource);
    const page = windows.slice(offset, offset + pageSize);
    const replies = await this.read(
      'getUsage',
      signal,
      page.map(
        (entry): RawCommand => [
          'hgetall',
          this.keys.usage({ entity, resource: entry.resource }, window, entry.start),
        ],
      ),
    );
    const snapshots: UsageSnapshot[] = [];
    page.forEach((entry, index) => {
      const fields = hashFields(replies[index]);
      if (fields.length === 0) return;
      const consumed: Record<string, number> = {};
      for (const [name, tokens] of fields) consumed[name] = Number(tokens);
      snapshots.push({ entity, resource: entry.resource, window, start: entry.start, consumed });
    });
    const next = offset + pageSize;
    return next < windows.length ? { snapshots, cursor: String(next) } : { snapshots };
  }

  /** Calls and round trips per kind of call (`charge` is always one round trip). */
  stats(): StoreStats {
    return structuredClone(this.counters);
  }

  /** Nothing to release: the client belongs to the caller, who quits it. */
  async close(): Promise<void> {}

  /**
   * The keys of a script call (5 per bucket, in the scripts' order) and the
   * head of its ARGV: now, expiry margin, usage windows, bucket and request
   * counts, each bucket's resource (see scripts.ts).
   */
  private callHead(
    buckets: readonly BucketKey[],
    nowNs: bigint,
    requestCount: number,
  ): { keys: string[]; args: string[] } {
    const nowMs = Number(nowNs / NS_PER_MS);
    const hourStart = usageWindowStart(nowNs, 'hour');
    const dayStart = usageWindowStart(nowNs, 'day');
    const { hourlyUsageRetentionMs: hourly, dailyUsageRetentionMs: daily } = this.options;
    const keys: string[] = [];
    const args = [
      String(nowNs),
      String(this.options.expiryMarginMs),
      String(hourStart),
      String(dayStart),
      String(hourStart + HOUR_MS + hourly - nowMs),
      String(dayStart + DAY_MS + daily - nowMs),
      String(nowMs - hourly - HOUR_MS),
      String(nowMs - daily - DAY_MS),
      String(buckets.length),
      String(requestCount),
    ];
    for (const bucket of buckets) {
      const owner = this.keys.owner(bucket.entity);
      keys.push(
        owner.bucket(bucket.resource),
        owner.usage(bucket.resource, 'hour', hourStart),
        owner.usage(bucket.resource, 'day', dayStart),
        owner.usageIndex('hour'),
        owner.usageIndex('day'),
      );
      args.push(bucket.resource);
    }
    return { keys, args };
  }

  private limitsField(scope: LimitScope): [string, string] {
    return scope.entity === undefined
      ? [this.keys.globalLimits(), scopeKey(scope)]
      : [this.keys.entityLimits(scope.entity), RedisKeys.entityLimitField(scope)];
  }

  /**
   * On a Cluster, a script may only touch keys of one slot: refuse a cascade
   * whose entities map to different hash tags with a message that says so.
   */
  private assertOneSlot(buckets: readonly BucketKey[]): void {
    if (!this.client.isCluster || buckets.length < 2) return;
    const tags = new Set(buckets.map((bucket) => this.keys.tagOf(bucket.entity)));
    if (tags.size > 1) {
      throw new Error(
        `RedisStore on a Cluster: the buckets of one cascade (${buckets.map((b) => b.entity).join(', ')}) ` +
          `map to different hash tags (${[...tags].join(', ')}); pass a \`hashTag\` option that gives ` +
          'an entity and its ancestors one tag',
      );
    }
  }

  /** Runs read commands in one pipeline on a single node (one round trip), one by one on a Cluster. */
  private async read(kind: string, signal: AbortSignal, commands: RawCommand[]): Promise<unknown[]> {
    if (commands.length === 0) {
      this.count(kind, 0);
      return [];
    }
    if (this.client.isCluster) {
      return this.send(kind, signal, commands.length, () =>
        Promise.all(commands.map(([name, ...args]) => this.client.call(name, ...args))),
      );
    }
    const results = await this.send(kind, signal, 1, async () => {
      const pipeline = this.client.pipeline();
      for (const [name, ...args] of commands) pipeline.call(name, ...args);
      return (await pipeline.exec()) ?? [];
    });
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }

  /** Deletes every key matching `pattern`, scanning every master of a Cluster. */
  private async unlinkMatching(kind: string, pattern: string, signal: AbortSignal): Promise<void> {
    for await (const { node, found } of this.scanMatching(kind, pattern, signal)) {
      // Each page is deleted on the node that holds it: a Cluster refuses keys of several slots in one call.
      if (found.length > 0) await this.send(kind, signal, 1, () => node.unlink(...found));
    }
  }

  /** Every key matching `pattern`, scanning every master of a Cluster. */
  private async keysMatching(kind: string, pattern: string, signal: AbortSignal): Promise<string[]> {
    const keys = new Set<string>();
    for await (const { found } of this.scanMatching(kind, pattern, signal))
      for (const key of found) keys.add(key);
    return [...keys];
  }

  /** SCAN pages of keys matching `pattern`, node by node (every master of a Cluster). */
  private async *scanMatching(
    kind: string,
    pattern: string,
    signal: AbortSignal,
  ): AsyncGenerator<{ node: Redis; found: string[] }> {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await this.send(kind, signal, 1, () =>
          node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
        );
        cursor = next;
        yield { node, found };
      } while (cursor !== '0');
    }
  }

  /**
   * Counts the call, then runs it unless `signal` has aborted, and stops
   * waiting when it aborts (ioredis cannot withdraw a command already sent).
   */
  private async send<T>(
    kind: string,
    signal: AbortSignal,
    roundTrips: number,
    run: () => Promise<T>,
  ): Promise<T> {
    signal.throwIfAborted();
    this.count(kind, roundTrips);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([run(), aborted]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Counts one invocation of a store method. */
  private begin(kind: string): void {
    this.entry(kind).calls += 1;
  }

  private count(kind: string, roundTrips: number): void {
    this.entry(kind).roundTrips += roundTrips;
    recordRoundTrips(roundTrips);
  }

  private entry(kind: string): StoreStats[string] {
    const entry = this.counters[kind] ?? {
      calls: 0,
      roundTrips: 0,
      readCapacityUnits: 0,
      writeCapacityUnits: 0,
    };
    this.counters[kind] = entry;
    return entry;
  }
}

function entityNotFound(id: string): EntityError {
  return new EntityError('ERR_TOLLGATE_ENTITY_NOT_FOUND', id, `Entity \`${id}\` does not exist`);
}

function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/**
 * The fields of a hash reply: a flat `[field, value, ...]` list from a script,
 * an object from ioredis' `HGETALL` (which maps the reply).
 */
function hashFields(reply: unknown): Array<[string, string]> {
  if (Array.isArray(reply)) {
    const pairs: Array<[string, string]> = [];
    for (let index = 0; index + 1 < reply.length; index += 2) {
      pairs.push([String(reply[index]), String(reply[index + 1])]);
    }
    return pairs;
  }
  if (typeof reply === 'object' && reply !== null) {
    return Object.entries(reply as Record<string, unknown>).map(([field, value]) => [field, String(value)]);
  }
  return [];
}

/** The bucket keys of a request, in order: requests coalesce only with the same ones. */
function itemSet(buckets: readonly BucketKey[]): string {
  let set = '';
  for (const { entity, resource } of buckets)
    set += `${entity.length}:${entity}${resource.length}:${resource}`;
  return set;
}

/** The instant a batch is decided at: the latest of its requests' clocks. */
function latestNowNs(requests: readonly { readonly nowNs: bigint }[]): bigint {
  let latest = requests[0]?.nowNs ?? 0n;
  for (const { nowNs } of requests) if (nowNs > latest) latest = nowNs;
  return latest;
}

/** `tau` of a limit as the scripts take it, computed once per limit. */
const tauTexts = new WeakMap<Limit, string>();
function tauText(limit: Limit): string {
  let text = tauTexts.get(limit);
  if (text === undefined) {
    text = String(limit.tauNs);
    tauTexts.set(limit, text);
  }
  return text;
}

/** The tats of a bucket hash reply (`t:<limit>` fields). */
function tatsOf(reply: unknown): Map<string, bigint> {
  const tats = new Map<string, bigint>();
  for (const [field, value] of hashFields(reply)) {
    if (field.startsWith('t:')) tats.set(field.slice(2), BigInt(value));
  }
  return tats;
}

/** A bucket state from its hash. */
function bucketState(key: BucketKey, reply: unknown): BucketState {
  return { entity: key.entity, resource: key.resource, tats: tatsOf(reply) };
}
