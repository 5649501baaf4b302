export { EntityKeys, RedisKeys } from './keys.js';
export type { RedisClient, RedisStoreOptions } from './options.js';
export { RedisStore } from './redis-store.js';
