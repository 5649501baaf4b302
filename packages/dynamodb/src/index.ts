export { DynamoDBStore } from './dynamodb-store.js';
export {
  ENTITY_ATTRIBUTE,
  encodeUsage,
  LIMITS_ATTRIBUTE,
  RESOURCE_ATTRIBUTE,
  START_ATTRIBUTE,
  WINDOW_ATTRIBUTE,
} from './item-codec.js';
export { createClient, type DynamoDBStoreOptions } from './options.js';
export * from './schema.js';
export {
  type CreateTableOptions,
  createTable,
  type DeleteTableOptions,
  deleteTable,
  type TableCapacityOptions,
  TTL_ATTRIBUTE,
  tableDefinition,
} from './table.js';
export * from './template/index.js';
