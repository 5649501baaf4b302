import { describeAdapterContract, dynamoDBStoreFactory } from '@tollgate/test-utils';
import { nestHarness } from './harness.js';

const store = dynamoDBStoreFactory();
describeAdapterContract(nestHarness('express'), { store });
describeAdapterContract(nestHarness('fastify'), { store });
