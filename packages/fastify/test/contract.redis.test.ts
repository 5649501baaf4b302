import { describeAdapterContract, redisStoreFactory } from '@tollgate/test-utils';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import { fastifyHarness } from './harness.js';

const store = redisStoreFactory();
describeAdapterContract(fastifyHarness('Fastify 5', Fastify), { store });
describeAdapterContract(fastifyHarness('Fastify 4', Fastify4), { store });
