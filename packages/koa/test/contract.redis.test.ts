import { describeAdapterContract, redisStoreFactory } from '@tollgate/test-utils';
import Koa from 'koa';
import Koa2 from 'koa2';
import { koaHarness } from './harness.js';

const store = redisStoreFactory();
describeAdapterContract(koaHarness('Koa 3', Koa), { store });
describeAdapterContract(koaHarness('Koa 2', Koa2), { store });
