export * from './adapter-contract.js';
export * from './dynamodb-local.js';
export * from './dynamodb-process.js';
export * from './redis-server.js';
export * from './redis-store-fixture.js';
export * from './reference-bucket.js';
export * from './reference-model.js';
export * from './store-contract.js';
