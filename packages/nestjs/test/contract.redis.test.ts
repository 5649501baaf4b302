import { describeAdapterContract, redisStoreFactory } from '@tollgate/test-utils';
import { nestHarness } from './harness.js';

const store = redisStoreFactory();
describeAdapterContract(nestHarness('express'), { store });
describeAdapterContract(nestHarness('fastify'), { store });
