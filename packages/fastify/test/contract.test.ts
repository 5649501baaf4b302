import { describeAdapterContract } from '@tollgate/test-utils';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import { fastifyHarness } from './harness.js';

describeAdapterContract(fastifyHarness('Fastify 5', Fastify));
describeAdapterContract(fastifyHarness('Fastify 4', Fastify4));
