import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type {
  BucketKey,
  BucketState,
  EntityChanges,
  EntityRecord,
  LimitDefinition,
  LimitScope,
  UsageSnapshot,
  UsageWindow,
} from '@tollgate/core';
import { parseBigIntNumber, parseNumber } from './numbers.js';
import { CONSUMED_PREFIX, GSI1PK, GSI1SK, type KeyBuilder, PK, SK, TAT_PREFIX } from './schema.js';
import { UpdateExpressionBuilder, type UpdateParts } from './update-expression.js';

/** A DynamoDB item in the low-level wire format. */
export type Item = Record<string, AttributeValue>;

/** Attribute naming the entity on bucket, limit-set and usage items (read by the aggregator). */
export const ENTITY_ATTRIBUTE = 'entity';
/** Attribute naming the resource on bucket, limit-set and usage items. */
export const RESOURCE_ATTRIBUTE = 'resource';
/** Attribute of a usage snapshot holding its window kind (`hour` or `day`). */
export const WINDOW_ATTRIBUTE = 'window';
/** Attribute of a usage snapshot holding its window start in ms. */
export const START_ATTRIBUTE = 'start';
/** Attribute of a limit-set item holding the list of limit definitions. */
export const LIMITS_ATTRIBUTE = 'limits';

/** A string attribute. */
export function stringValue(value: string): AttributeValue {
  return { S: value };
}

/** A number attribute from an exact integer or a finite number. */
export function numberValue(value: bigint | number): AttributeValue {
  return { N: String(value) };
}

/** The primary key of an item, as an attribute map. */
export function keyOf(key: { PK: string; SK: string }): Item {
  return { [PK]: stringValue(key.PK), [SK]: stringValue(key.SK) };
}

/** A stable string for a primary key (map keys, de-duplication). */
export function keyId(key: { PK: string; SK: string }): string {
  return `${key.PK}\n${key.SK}`;
}

/** The key of an item read back from the table. */
export function keyIdOfItem(item: Item): string {
  return `${readString(item, PK) ?? ''}\n${readString(item, SK) ?? ''}`;
}

/** Reads a string attribute; undefined when absent or of another type. */
export function readString(item: Item, name: string): string | undefined {
  const value = item[name];
  return value && 'S' in value ? value.S : undefined;
}

/** Reads a number attribute as a double; undefined when absent. */
function readNumber(item: Item, name: string): number | undefined {
  const value = item[name];
  return value && 'N' in value && value.N !== undefined ? parseNumber(value.N) : undefined;
}

/** The GCRA state held by a bucket item (or an empty state for a missing item). */
export function decodeBucket(key: BucketKey, item: Item | undefined): BucketState {
  const tats = new Map<string, bigint>();
  if (item) {
    for (const [name, value] of Object.entries(item)) {
      if (name.startsWith(TAT_PREFIX) && 'N' in value && value.N !== undefined) {
        tats.set(name.slice(TAT_PREFIX.length), parseBigIntNumber(value.N));
      }
    }
  }
  return { entity: key.entity, resource: key.resource, tats };
}

/** Consumed counters of a bucket or usage item, by limit name. */
function decodeConsumed(item: Item): Record<string, number> {
  const consumed: Record<string, number> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(CONSUMED_PREFIX) && 'N' in value && value.N !== undefined) {
      consumed[name.slice(CONSUMED_PREFIX.length)] = parseNumber(value.N);
    }
  }
  return consumed;
}

/** The item of an entity record. Metadata is stored as a JSON string, so any JSON value survives. */
export function encodeEntity(keys: KeyBuilder, entity: EntityRecord): Item {
  const item: Item = {
    ...keyOf(keys.entity(entity.id)),
    id: stringValue(entity.id),
    cascade: { BOOL: entity.cascade },
    createdAt: stringValue(entity.createdAt),
  };
  if (entity.parent !== undefined) {
    item['parent'] = stringValue(entity.parent);
    item[GSI1PK] = stringValue(keys.childrenPartition(entity.parent));
    item[GSI1SK] = stringValue(keys.entityPartition(entity.id));
  }
  if (entity.name !== undefined) item['name'] = stringValue(entity.name);
  if (entity.metadata !== undefined) item['metadata'] = stringValue(JSON.stringify(entity.metadata));
  return item;
}

/**
 * The update that applies `changes` to the entity record of `id`, as
 * {@link encodeEntity} lays it out: a new parent also moves the record in the
 * children index (`GSI1PK`), no parent takes it out. Conditioned on the
 * record existing, so an update never creates one.
 */
export function encodeEntityChanges(keys: KeyBuilder, id: string, changes: EntityChanges): UpdateParts {
  const update = new UpdateExpressionBuilder();
  const { parent, cascade, name, metadata } = changes;
  if (parent === null) update.remove('parent').remove(GSI1PK).remove(GSI1SK);
  else if (parent !== undefined) {
    update
      .set('parent', update.value(stringValue(parent)))
      .set(GSI1PK, update.value(stringValue(keys.childrenPartition(parent))))
      .set(GSI1SK, update.value(stringValue(keys.entityPartition(id))));
  }
  if (cascade !== undefined) update.set('cascade', update.value({ BOOL: cascade }));
  if (name === null) update.remove('name');
  else if (name !== undefined) update.set('name', update.value(stringValue(name)));
  if (metadata === null) update.remove('metadata');
  else if (metadata !== undefined)
    update.set('metadata', update.value(stringValue(JSON.stringify(metadata))));
  update.condition(`attribute_exists(${update.name(PK)})`);
  return update.build();
}

/** The names of the `tat:<limit>` attributes of a bucket item. */
export function tatAttributes(item: Item): string[] {
  return Object.keys(item).filter((name) => name.startsWith(TAT_PREFIX));
}

/** The entity record stored in `item`. */
export function decodeEntity(item: Item): EntityRecord {
  const id = readString(item, 'id');
  const createdAt = readString(item, 'createdAt');
  if (id === undefined || createdAt === undefined) {
    throw new TypeError(`Entity item ${keyIdOfItem(item)} lacks \`id\` or \`createdAt\``);
  }
  const cascadeValue = item['cascade'];
  const parent = readString(item, 'parent');
  const name = readString(item, 'name');
  const metadata = readString(item, 'metadata');
  return {
    id,
    cascade: cascadeValue !== undefined && 'BOOL' in cascadeValue && cascadeValue.BOOL === true,
    createdAt,
    ...(parent === undefined ? {} : { parent }),
    ...(name === undefined ? {} : { name }),
    ...(metadata === undefined ? {} : { metadata: JSON.parse(metadata) as Record<string, unknown> }),
  };
}

/** The item of a limit set: a list of `{ name, capacity, refillAmount, refillPeriodMs }` maps. */
export function encodeLimitSet(
  keys: KeyBuilder,
  scope: LimitScope,
  limits: readonly LimitDefinition[],
): Item {
  const item: Item = {
    ...keyOf(keys.limits(scope)),
    [LIMITS_ATTRIBUTE]: {
      L: limits.map((limit) => ({
        M: {
          name: stringValue(limit.name),
          capacity: numberValue(limit.capacity),
          refillAmount: numberValue(limit.refillAmount),
          refillPeriodMs: numberValue(limit.refillPeriodMs),
        },
      })),
    },
  };
  if (scope.entity !== undefined) item[ENTITY_ATTRIBUTE] = stringValue(scope.entity);
  if (scope.resource !== undefined) item[RESOURCE_ATTRIBUTE] = stringValue(scope.resource);
  return item;
}

/** The limit definitions stored in a limit-set item. */
export function decodeLimitSet(item: Item): LimitDefinition[] {
  const list = item[LIMITS_ATTRIBUTE];
  if (!list || !('L' in list) || !list.L)
    throw new TypeError(`Limit-set item ${keyIdOfItem(item)} lacks \`limits\``);
  return list.L.map((entry) => {
    const fields = entry.M ?? {};
    const name = readString(fields, 'name');
    const capacity = readNumber(fields, 'capacity');
    const refillAmount = readNumber(fields, 'refillAmount');
    const refillPeriodMs = readNumber(fields, 'refillPeriodMs');
    if (
      name === undefined ||
      capacity === undefined ||
      refillAmount === undefined ||
      refillPeriodMs === undefined
    ) {
      throw new TypeError(`Limit-set item ${keyIdOfItem(item)} holds an incomplete limit`);
    }
    return { name, capacity, refillAmount, refillPeriodMs };
  });
}

/**
 * The item of a usage snapshot, in the layout the usage aggregator writes
 * (used by tests and tools that seed usage).
 */
export function encodeUsage(keys: KeyBuilder, snapshot: UsageSnapshot): Item {
  const item: Item = {
    ...keyOf(keys.usage(snapshot.entity, snapshot.resource, snapshot.window, snapshot.start)),
    [ENTITY_ATTRIBUTE]: stringValue(snapshot.entity),
    [RESOURCE_ATTRIBUTE]: stringValue(snapshot.resource),
    [WINDOW_ATTRIBUTE]: stringValue(snapshot.window),
    [START_ATTRIBUTE]: numberValue(snapshot.start),
  };
  for (const [limit, amount] of Object.entries(snapshot.consumed))
    item[`${CONSUMED_PREFIX}${limit}`] = numberValue(amount);
  return item;
}

/** The usage snapshot stored in a usage item. */
export function decodeUsage(item: Item): UsageSnapshot {
  const entity = readString(item, ENTITY_ATTRIBUTE);
  const resource = readString(item, RESOURCE_ATTRIBUTE);
  const window = readString(item, WINDOW_ATTRIBUTE);
  const start = readNumber(item, START_ATTRIBUTE);
  if (
    entity === undefined ||
    resource === undefined ||
    (window !== 'hour' && window !== 'day') ||
    start === undefined
  ) {
    throw new TypeError(
      `Usage item ${keyIdOfItem(item)} lacks \`entity\`, \`resource\`, \`window\` or \`start\``,
    );
  }
  return { entity, resource, window: window satisfies UsageWindow, start, consumed: decodeConsumed(item) };
}
