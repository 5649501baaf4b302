import { describeAdapterContract } from '@tollgate/test-utils';
import Koa from 'koa';
import Koa2 from 'koa2';
import { koaHarness } from './harness.js';

describeAdapterContract(koaHarness('Koa 3', Koa));
describeAdapterContract(koaHarness('Koa 2', Koa2));
