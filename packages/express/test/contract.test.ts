import { describeAdapterContract } from '@tollgate/test-utils';
import express from 'express';
import express4 from 'express4';
import { expressHarness } from './harness.js';

describeAdapterContract(expressHarness('Express 5', express));
describeAdapterContract(expressHarness('Express 4', express4));
