import { describeAdapterContract } from '@tollgate/test-utils';
import { nestHarness } from './harness.js';

describeAdapterContract(nestHarness('express'));
describeAdapterContract(nestHarness('fastify'));
