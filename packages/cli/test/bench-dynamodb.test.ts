import { createTestTable, type DynamoDBLocal, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from './run-in-process.js';

describe('tollgate bench against DynamoDB Local', () => {
  let local: DynamoDBLocal;
  let table: string;

  beforeAll(async () => {
    local = await useDynamoDBLocal();
    table = await createTestTable(local.client, 'bench');
  });

  afterAll(async () => {
    await local?.stop();
  });

  it('admits exactly the bucket on one hot key, limits the rest, and reports latency and units per call', async () => {
    const { code, stdout, stderr } = await runInProcess([
      'bench',
      '--endpoint',
      local.endpoint,
      '--table',
      table,
      '--requests',
      '40',
      '--concurrency',
      '4',
      '--distribution',
      'hot',
      '-l',
      'rpm:10/hour',
      '--json',
    ]);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ decisions: 40, admitted: 10, limited: 30, errors: 0 });
    expect(result.latencyMs.p50).toBeGreaterThan(0);
    expect(result.latencyMs.p99).toBeGreaterThanOrEqual(result.latencyMs.p50);
    // One unit per successful write; concurrent admitted charges share a write (coalescing), so at
    // most ten. Rejected writes report no capacity on DynamoDB Local.
    expect(result.storeStats.charge.writeCapacityUnits).toBeGreaterThanOrEqual(1);
    expect(result.storeStats.charge.writeCapacityUnits).toBeLessThanOrEqual(10);
    expect(result.unitsPerCall.charge.roundTrips).toBeGreaterThan(0);
    expect(result.defaultLimits).toEqual(['rpm:10/hour']);
    expect(result.appliedLimits).toEqual([
      { spec: 'rpm:10/hour', depth: 0, source: 'default', decisions: 40 },
    ]);
    expect(result.decisionsWithStoredLimits).toBe(0);
  });
});
