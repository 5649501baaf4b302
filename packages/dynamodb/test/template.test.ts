// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here.
import { ValidationError } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { tableDefinition } from '../src/table.js';
import {
  ACQUIRE_ACTIONS,
  ADMIN_ACTIONS,
  buildTemplate,
  type CfnResource,
  type CfnValue,
  type CloudFormationTemplate,
  READ_ONLY_ACTIONS,
  resolveTemplateOptions,
} from '../src/template/index.js';

const PSEUDO_PARAMETERS = new Set([
  'AWS::AccountId',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

/** Every Ref, GetAtt and Fn::Sub variable in a value, as [name, attribute?]. */
function references(
  value: CfnValue,
  found: [string, string | undefined][] = [],
): [string, string | undefined][] {
  if (Array.isArray(value)) {
    for (const item of value) references(item, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') found.push([inner, undefined]);
      else if (key === 'Fn::GetAtt' && Array.isArray(inner)) found.push([String(inner[0]), String(inner[1])]);
      else if (key === 'Fn::Sub' && typeof inner === 'string') {
        for (const match of inner.matchAll(/\$\{([^}!]+)\}/g)) {
          const [name, attribute] = match[1]!.split('.');
          found.push([name!, attribute]);
        }
      } else references(inner, found);
    }
  }
  return found;
}

function resourcesOfType(template: CloudFormationTemplate, type: string) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

const variants = {
  'on-demand': buildTemplate(),
  provisioned: buildTemplate({ billingMode: 'provisioned' }),
  'without aggregator or topic': buildTemplate({ aggregator: false, alarmTopic: 'none' }),
  'with an existing topic': buildTemplate({ alarmTopic: { arn: 'arn:aws:sns:us-east-1:123456789012:ops' } }),
};

describe.each(Object.entries(variants))('template (%s)', (_, template) => {
  it('has a valid top-level structure and typed resources', () => {
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(Object.keys(template).sort()).toEqual(
      ['AWSTemplateFormatVersion', 'Conditions', 'Description', 'Outputs', 'Parameters', 'Resources'].sort(),
    );
    for (const [id, resource] of Object.entries(template.Resources)) {
      expect(id).toMatch(/^[A-Za-z0-9]+$/);
      expect(resource.Type).toMatch(/^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/);
      expect(typeof resource.Properties).toBe('object');
    }
    for (const parameter of Object.values(template.Parameters)) {
      expect(['String', 'Number']).toContain(parameter.Type);
      expect(parameter.Description.length).toBeGreaterThan(0);
    }
    expect(Object.keys(template.Resources).length).toBeLessThanOrEqual(500);
  });

  it('references only parameters, resources, attributes and conditions that exist', () => {
    const names = new Set([...Object.keys(template.Parameters), ...Object.keys(template.Resources)]);
    for (const [name, attribute] of references(template as unknown as CfnValue)) {
      if (PSEUDO_PARAMETERS.has(name)) continue;
      expect(names, `${name} is referenced`).toContain(name);
      if (attribute !== undefined) expect(template.Resources, `${name}.${attribute}`).toHaveProperty(name);
    }
    for (const resource of Object.values(template.Resources)) {
      if (resource.Condition !== undefined) expect(template.Conditions).toHaveProperty(resource.Condition);
      for (const dependency of [resource.DependsOn ?? []].flat())
        expect(template.Resources).toHaveProperty(dependency);
    }
    for (const parameter of Object.keys(template.Parameters)) {
      const used = references(template.Resources as unknown as CfnValue).some(([name]) => name === parameter);
      const usedInConditions = JSON.stringify(template.Conditions).includes(`"${parameter}"`);
      expect(used || usedInConditions, `parameter ${parameter} is used`).toBe(true);
    }
  });

  it('round-trips through YAML unchanged', () => {
    expect(parse(stringify(template))).toEqual(JSON.parse(JSON.stringify(template)));
  });

  it('grants each managed policy exactly its action list, on the table (and its index where it queries)', () => {
    const policies = Object.fromEntries(resourcesOfType(template, 'AWS::IAM::ManagedPolicy'));
    const statement = (id: string) =>
      (policies[id]!.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement;
    expect(statement('AcquirePolicy')).toEqual([
      { Effect: 'Allow', Action: [...ACQUIRE_ACTIONS], Resource: [{ 'Fn::GetAtt': ['Table', 'Arn'] }] },
    ]);
    expect(statement('ReadOnlyPolicy')).toEqual([
      {
        Effect: 'Allow',
        Action: [...READ_ONLY_ACTIONS],
        Resource: [{ 'Fn::GetAtt': ['Table', 'Arn'] }, { 'Fn::Sub': '${Table.Arn}/index/*' }],
      },
    ]);
    expect(statement('AdminPolicy')).toEqual([
      {
        Effect: 'Allow',
        Action: [...ADMIN_ACTIONS],
        Resource: [{ 'Fn::GetAtt': ['Table', 'Arn'] }, { 'Fn::Sub': '${Table.Arn}/index/*' }],
      },
    ]);
  });

  it('grants no wildcard DynamoDB action anywhere', () => {
    expect(JSON.stringify(template)).not.toMatch(/"dynamodb:\*"|"\*:\*"|"dynamodb:[A-Za-z]*\*"/);
  });

  it('defines the table with the keys, index and stream of tableDefinition, TTL, recovery and deletion protection', () => {
    const table = template.Resources['Table']!;
    const definition = tableDefinition('x');
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties['KeySchema']).toEqual(definition.KeySchema);
    expect(table.Properties['AttributeDefinitions']).toEqual(definition.AttributeDefinitions);
    const [index] = table.Properties['GlobalSecondaryIndexes'] as { [key: string]: unknown }[];
    expect(index).toMatchObject({
      IndexName: definition.GlobalSecondaryIndexes![0]!.IndexName,
      KeySchema: definition.GlobalSecondaryIndexes![0]!.KeySchema,
      Projection: definition.GlobalSecondaryIndexes![0]!.Projection,
    });
    expect(table.Properties['StreamSpecification']).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(table.Properties['TimeToLiveSpecification']).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(table.Properties['PointInTimeRecoverySpecification']).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    expect(table.Properties['DeletionProtectionEnabled']).toBe(true);
  });

  it('alarms on throttled reads and writes', () => {
    const metrics = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(
      ([, alarm]) => alarm.Properties['MetricName'],
    );
    expect(metrics).toEqual(expect.arrayContaining(['ReadThrottleEvents', 'WriteThrottleEvents']));
  });
});

describe('billing mode', () => {
  it('on-demand: PAY_PER_REQUEST, no throughput and no auto scaling', () => {
    const template = variants['on-demand'];
    expect(template.Resources['Table']!.Properties['BillingMode']).toBe('PAY_PER_REQUEST');
    expect(JSON.stringify(template)).not.toContain('ProvisionedThroughput');
    expect(resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalableTarget')).toEqual([]);
    expect(template.Parameters).not.toHaveProperty('TargetUtilization');
  });

  it('provisioned: capacity from parameters, and target tracking on reads and writes of the table and its index', () => {
    const template = variants.provisioned;
    const table = template.Resources['Table']!.Properties;
    expect(table['BillingMode']).toBe('PROVISIONED');
    expect(table['ProvisionedThroughput']).toEqual({
      ReadCapacityUnits: { Ref: 'ReadCapacityMin' },
      WriteCapacityUnits: { Ref: 'WriteCapacityMin' },
    });
    const targets = resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalableTarget').map(
      ([, target]) => [target.Properties['ScalableDimension'], target.Properties['ResourceId']],
    );
    expect(targets).toEqual([
      ['dynamodb:table:ReadCapacityUnits', { 'Fn::Sub': 'table/${Table}' }],
      ['dynamodb:table:WriteCapacityUnits', { 'Fn::Sub': 'table/${Table}' }],
      ['dynamodb:index:ReadCapacityUnits', { 'Fn::Sub': 'table/${Table}/index/GSI1' }],
      ['dynamodb:index:WriteCapacityUnits', { 'Fn::Sub': 'table/${Table}/index/GSI1' }],
    ]);
    const policies = resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(policies).toHaveLength(4);
    for (const [, policy] of policies) {
      expect(policy.Properties['PolicyType']).toBe('TargetTrackingScaling');
      expect(policy.Properties['TargetTrackingScalingPolicyConfiguration']).toMatchObject({
        TargetValue: { Ref: 'TargetUtilization' },
      });
    }
  });
});

describe('aggregator', () => {
  it('maps the stream to the function with batching, bisect on error, a retry limit, partial failures and a DLQ', () => {
    const template = buildTemplate({
      aggregator: { batchSize: 500, batchingWindowSeconds: 10, maximumRetryAttempts: 3 },
    });
    const mapping = template.Resources['AggregatorEventSourceMapping']!.Properties;
    expect(mapping).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
      FunctionName: { Ref: 'AggregatorFunction' },
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 10,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': ['AggregatorDeadLetterQueue', 'Arn'] } },
      },
    });
    const [filter] = (mapping['FilterCriteria'] as { Filters: { Pattern: string }[] }).Filters;
    expect(JSON.parse(filter!.Pattern)).toEqual({
      eventName: ['INSERT', 'MODIFY'],
      dynamodb: { Keys: { SK: { S: [{ prefix: '#BUCKET#' }] } } },
    });
    expect(template.Resources['AggregatorFunction']!.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Handler: 'aggregator.handler',
      Code: { S3Bucket: { Ref: 'AggregatorCodeS3Bucket' }, S3Key: { Ref: 'AggregatorCodeS3Key' } },
    });
  });

  it('lets the function update items of the table and read its stream, nothing else in DynamoDB', () => {
    const role = buildTemplate().Resources['AggregatorRole']!.Properties;
    const [policy] = role['Policies'] as {
      PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] };
    }[];
    const dynamodb = policy!.PolicyDocument.Statement.filter((s) =>
      JSON.stringify(s.Action).includes('dynamodb:'),
    );
    expect(dynamodb).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': ['Table', 'Arn'] } },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
      },
      { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
    ]);
  });

  it('alarms on errors, duration near the timeout, stream lag and DLQ depth, notifying the created topic', () => {
    const template = buildTemplate({ aggregator: { timeoutSeconds: 30 } });
    const alarms: Record<string, CfnResource> = Object.fromEntries(
      resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => [
        String(alarm.Properties['MetricName']),
        alarm,
      ]),
    );
    expect(Object.keys(alarms).sort()).toEqual(
      [
        'ApproximateNumberOfMessagesVisible',
        'Duration',
        'Errors',
        'IteratorAge',
        'ReadThrottleEvents',
        'WriteThrottleEvents',
      ].sort(),
    );
    expect(alarms['Duration']!.Properties['Threshold']).toBe(24_000);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties['AlarmActions']).toEqual([{ Ref: 'AlarmTopic' }]);
    }
    expect(template.Resources['AlarmEmailSubscription']).toMatchObject({ Condition: 'HasAlarmEmail' });
  });

  it('leaves out the function, its queue and its alarms when disabled, and alarm actions without a topic', () => {
    const template = variants['without aggregator or topic'];
    expect(resourcesOfType(template, 'AWS::Lambda::Function')).toEqual([]);
    expect(resourcesOfType(template, 'AWS::SQS::Queue')).toEqual([]);
    expect(resourcesOfType(template, 'AWS::SNS::Topic')).toEqual([]);
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(2);
    for (const [, alarm] of alarms) expect(alarm.Properties['AlarmActions']).toEqual([]);
  });

  it('notifies an existing topic when given its ARN', () => {
    for (const [, alarm] of resourcesOfType(variants['with an existing topic'], 'AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties['AlarmActions']).toEqual(['arn:aws:sns:us-east-1:123456789012:ops']);
    }
  });
});

describe('template options', () => {
  it('rejects values Lambda or CloudFormation would refuse, naming the option', () => {
    expect(() => resolveTemplateOptions({ aggregator: { batchSize: 0 } })).toThrow(ValidationError);
    expect(() => resolveTemplateOptions({ aggregator: { batchingWindowSeconds: 301 } })).toThrow(
      /aggregator.batchingWindowSeconds/,
    );
    expect(() => resolveTemplateOptions({ billingMode: 'reserved' as never })).toThrow(/billingMode/);
    expect(() => resolveTemplateOptions({ alarmTopic: { arn: 'not-an-arn' } })).toThrow(/alarmTopic/);
  });
});
