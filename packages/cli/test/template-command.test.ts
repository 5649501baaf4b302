import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runInProcess } from './run-in-process.js';

describe('tollgate template', () => {
  it('prints YAML CloudFormation with the chosen billing mode and aggregator settings', async () => {
    const { code, stdout } = await runInProcess([
      'template',
      '--billing-mode',
      'provisioned',
      '--batch-size',
      '250',
      '--alarm-topic',
      'none',
    ]);
    expect(code).toBe(0);
    const template = parse(stdout);
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(template.Resources.Table.Properties.BillingMode).toBe('PROVISIONED');
    expect(template.Resources.AggregatorEventSourceMapping.Properties.BatchSize).toBe(250);
    expect(template.Resources.AlarmTopic).toBeUndefined();
  });

  it('prints JSON on request, and leaves out the aggregator with --no-aggregator', async () => {
    const { stdout } = await runInProcess(['template', '--format', 'json', '--no-aggregator']);
    const template = JSON.parse(stdout);
    expect(template.Resources.AggregatorFunction).toBeUndefined();
    expect(template.Resources.Table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('exits 2 for an option value Lambda would refuse', async () => {
    const { code, stderr } = await runInProcess(['template', '--batch-size', '0']);
    expect(code).toBe(2);
    expect(stderr).toContain('aggregator.batchSize');
  });
});
