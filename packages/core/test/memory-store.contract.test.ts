import { MemoryStore } from '@tollgate/core';
import { describeStoreContract } from '@tollgate/test-utils';

describeStoreContract('MemoryStore', async () => ({
  store: new MemoryStore(),
  cleanup: async () => {},
}));
