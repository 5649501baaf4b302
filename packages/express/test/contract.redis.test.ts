import { describeAdapterContract, redisStoreFactory } from '@tollgate/test-utils';
import express from 'express';
import express4 from 'express4';
import { expressHarness } from './harness.js';

const store = redisStoreFactory();
describeAdapterContract(expressHarness('Express 5', express), { store });
describeAdapterContract(expressHarness('Express 4', express4), { store });
