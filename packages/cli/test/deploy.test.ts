import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
  ListStacksCommand,
  type ResourceStatus,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runInProcess } from './run-in-process.js';

const cloudFormation = mockClient(CloudFormationClient);
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/tollgate/abc';
const base = ['--stack', 'tollgate', '--region', 'us-east-1', '--poll-interval', '0'];
const codeParameters = ['--code-bucket', 'artifacts', '--code-key', 'aggregator.zip'];

function event(id: string, status: string, logicalId: string, seconds: number): StackEvent {
  return {
    EventId: id,
    StackId: STACK_ID,
    StackName: 'tollgate',
    LogicalResourceId: logicalId,
    ResourceType: logicalId === 'tollgate' ? 'AWS::CloudFormation::Stack' : 'AWS::DynamoDB::Table',
    ResourceStatus: status as ResourceStatus,
    Timestamp: new Date(Date.now() + seconds * 1000),
  };
}

beforeEach(() => {
  cloudFormation.reset();
});

afterEach(() => {
  cloudFormation.reset();
});

describe('tollgate deploy (CloudFormation mocked)', () => {
  it('creates a new stack through a change set and streams its events until CREATE_COMPLETE', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    cloudFormation.on(CreateChangeSetCommand).resolves({ Id: 'cs-1', StackId: STACK_ID });
    cloudFormation
      .on(DescribeChangeSetCommand)
      .resolvesOnce({ Status: 'CREATE_IN_PROGRESS' })
      .resolves({
        Status: 'CREATE_COMPLETE',
        Changes: [
          {
            Type: 'Resource',
            ResourceChange: {
              Action: 'Add',
              LogicalResourceId: 'Table',
              ResourceType: 'AWS::DynamoDB::Table',
            },
          },
        ],
      });
    cloudFormation.on(ExecuteChangeSetCommand).resolves({});
    cloudFormation
      .on(DescribeStackEventsCommand)
      .resolvesOnce({ StackEvents: [event('e1', 'CREATE_IN_PROGRESS', 'tollgate', 1)] })
      .resolves({
        StackEvents: [
          event('e3', 'CREATE_COMPLETE', 'tollgate', 3),
          event('e2', 'CREATE_COMPLETE', 'Table', 2),
          event('e1', 'CREATE_IN_PROGRESS', 'tollgate', 1),
        ],
      });
    cloudFormation
      .on(DescribeStacksCommand)
      .resolvesOnce({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'CREATE_IN_PROGRESS',
            CreationTime: new Date(),
          },
        ],
      })
      .resolves({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: [{ OutputKey: 'TableName', OutputValue: 'tollgate' }],
          },
        ],
      });

    const result = await runInProcess([
      'deploy',
      ...base,
      ...codeParameters,
      '--billing-mode',
      'provisioned',
      '--json',
    ]);

    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(output).toMatchObject({
      operation: 'create',
      status: 'CREATE_COMPLETE',
      executed: true,
      outputs: { TableName: 'tollgate' },
      changes: [{ action: 'Add', logicalId: 'Table', type: 'AWS::DynamoDB::Table' }],
    });
    const [create] = cloudFormation.commandCalls(CreateChangeSetCommand);
    expect(create!.args[0].input).toMatchObject({
      StackName: 'tollgate',
      ChangeSetType: 'CREATE',
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: [
        { ParameterKey: 'AggregatorCodeS3Bucket', ParameterValue: 'artifacts' },
        { ParameterKey: 'AggregatorCodeS3Key', ParameterValue: 'aggregator.zip' },
      ],
    });
    const template = parse(create!.args[0].input.TemplateBody!);
    expect(template.Resources.Table.Properties.BillingMode).toBe('PROVISIONED');
    expect(cloudFormation.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
  });

  it('prints each stack event once, oldest first, for people', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    cloudFormation.on(CreateChangeSetCommand).resolves({ Id: 'cs-1', StackId: STACK_ID });
    cloudFormation.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cloudFormation.on(ExecuteChangeSetCommand).resolves({});
    cloudFormation
      .on(DescribeStackEventsCommand)
      .resolvesOnce({ StackEvents: [event('e1', 'CREATE_IN_PROGRESS', 'tollgate', 1)] })
      .resolves({
        StackEvents: [
          event('e2', 'CREATE_COMPLETE', 'tollgate', 2),
          event('e1', 'CREATE_IN_PROGRESS', 'tollgate', 1),
        ],
      });
    cloudFormation
      .on(DescribeStacksCommand)
      .resolvesOnce({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'CREATE_IN_PROGRESS',
            CreationTime: new Date(),
          },
        ],
      })
      .resolves({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date(),
          },
        ],
      });

    const result = await runInProcess(['deploy', ...base, ...codeParameters]);

    expect(result.code).toBe(0);
    const lines = result.stderr.split('\n').filter((line) => /CREATE_(IN_PROGRESS|COMPLETE) /.test(line));
    expect(lines.map((line) => line.split(/\s+/)[1])).toEqual(['CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
    expect(result.stdout).toContain('Stack tollgate: CREATE_COMPLETE');
  });

  it('updates an existing stack, keeping parameters that are not given', async () => {
    cloudFormation.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    });
    cloudFormation
      .on(DescribeStacksCommand)
      .resolvesOnce({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'CREATE_COMPLETE',
            CreationTime: new Date(),
            Parameters: [
              { ParameterKey: 'TableName', ParameterValue: 'tollgate' },
              { ParameterKey: 'AggregatorCodeS3Bucket', ParameterValue: 'artifacts' },
              { ParameterKey: 'AggregatorCodeS3Key', ParameterValue: 'v1.zip' },
            ],
          },
        ],
      })
      .resolves({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(),
          },
        ],
      });
    cloudFormation.on(GetTemplateCommand).resolves({ TemplateBody: 'old' });
    cloudFormation.on(CreateChangeSetCommand).resolves({ Id: 'cs-2', StackId: STACK_ID });
    cloudFormation.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cloudFormation.on(ExecuteChangeSetCommand).resolves({});
    cloudFormation.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });

    const result = await runInProcess(['deploy', ...base, '--code-key', 'v2.zip', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ operation: 'update', status: 'UPDATE_COMPLETE' });
    const [create] = cloudFormation.commandCalls(CreateChangeSetCommand);
    expect(create!.args[0].input.ChangeSetType).toBe('UPDATE');
    expect(create!.args[0].input.Parameters).toEqual([
      { ParameterKey: 'TableName', UsePreviousValue: true },
      { ParameterKey: 'AggregatorCodeS3Bucket', UsePreviousValue: true },
      { ParameterKey: 'AggregatorCodeS3Key', ParameterValue: 'v2.zip' },
    ]);
  });

  it('does nothing when the deployed template and parameters are the same', async () => {
    const first = await runInProcess(['template']);
    cloudFormation.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    });
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Parameters: [{ ParameterKey: 'AggregatorCodeS3Key', ParameterValue: 'v1.zip' }],
        },
      ],
    });
    cloudFormation.on(GetTemplateCommand).resolves({ TemplateBody: first.stdout });

    const result = await runInProcess(['deploy', ...base, '--code-key', 'v1.zip']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('up to date');
    expect(cloudFormation.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });

  it('exits 6 when the stack rolls back, with the reason', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    cloudFormation.on(CreateChangeSetCommand).resolves({ Id: 'cs-1', StackId: STACK_ID });
    cloudFormation.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    cloudFormation.on(ExecuteChangeSetCommand).resolves({});
    cloudFormation.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'ROLLBACK_COMPLETE',
          StackStatusReason: 'The following resource(s) failed to create: [AggregatorFunction]',
          CreationTime: new Date(),
        },
      ],
    });

    const result = await runInProcess(['deploy', ...base, ...codeParameters, '--json']);

    expect(result.code).toBe(6);
    expect(JSON.parse(result.stderr)).toMatchObject({
      error: {
        code: 'ERR_TOLLGATE_CLI_DEPLOY_FAILED',
        message: expect.stringContaining('AggregatorFunction'),
      },
    });
  });

  it('with --dry-run, reports the changes and deletes the change set without executing it', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    cloudFormation.on(CreateChangeSetCommand).resolves({ Id: 'cs-1', StackId: STACK_ID });
    cloudFormation.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      Changes: [
        {
          ResourceChange: { Action: 'Add', LogicalResourceId: 'Table', ResourceType: 'AWS::DynamoDB::Table' },
        },
      ],
    });
    cloudFormation.on(DeleteChangeSetCommand).resolves({});

    const result = await runInProcess(['deploy', ...base, ...codeParameters, '--dry-run', '--json']);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ executed: false, status: 'NOT_EXECUTED' });
    expect(cloudFormation.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
    expect(cloudFormation.commandCalls(DeleteChangeSetCommand)).toHaveLength(1);
  });

  it('exits 2 before calling CloudFormation when a new stack lacks a required parameter', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    const result = await runInProcess(['deploy', ...base, '--code-bucket', 'artifacts']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('AggregatorCodeS3Key');
    expect(cloudFormation.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });

  it('exits 2 for a parameter the template does not have', async () => {
    cloudFormation.on(ListStacksCommand).resolves({ StackSummaries: [] });
    const result = await runInProcess(['deploy', ...base, '-p', 'Nope=1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no parameter Nope');
  });
});

describe('tollgate delete and status (CloudFormation mocked)', () => {
  it('deletes the stack and follows it to DELETE_COMPLETE', async () => {
    cloudFormation.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    });
    cloudFormation
      .on(DescribeStacksCommand)
      .resolvesOnce({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(),
          },
        ],
      })
      .resolvesOnce({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'DELETE_IN_PROGRESS',
            CreationTime: new Date(),
          },
        ],
      })
      .resolves({
        Stacks: [
          {
            StackName: 'tollgate',
            StackId: STACK_ID,
            StackStatus: 'DELETE_COMPLETE',
            CreationTime: new Date(),
          },
        ],
      });
    cloudFormation.on(DeleteStackCommand).resolves({});
    cloudFormation.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });

    const result = await runInProcess(['delete', ...base, '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'DELETE_COMPLETE' });
    expect(cloudFormation.commandCalls(DeleteStackCommand)[0]!.args[0].input).toEqual({
      StackName: STACK_ID,
    });
  });

  it('exits 3 for a stack that does not exist', async () => {
    cloudFormation.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'DELETE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    });
    expect((await runInProcess(['delete', ...base])).code).toBe(3);
    expect((await runInProcess(['status', ...base])).code).toBe(3);
  });

  it('shows status, outputs and resources', async () => {
    cloudFormation.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    });
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'tollgate',
          StackId: STACK_ID,
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date('2026-01-01T00:00:00Z'),
          Outputs: [{ OutputKey: 'TableName', OutputValue: 'tollgate' }],
        },
      ],
    });
    cloudFormation.on(DescribeStackResourcesCommand).resolves({
      StackResources: [
        {
          LogicalResourceId: 'Table',
          ResourceType: 'AWS::DynamoDB::Table',
          ResourceStatus: 'CREATE_COMPLETE',
          Timestamp: new Date(),
        },
      ],
    });

    const result = await runInProcess(['status', ...base, '--json']);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      status: 'CREATE_COMPLETE',
      outputs: { TableName: 'tollgate' },
      resources: [{ logicalId: 'Table', type: 'AWS::DynamoDB::Table', status: 'CREATE_COMPLETE' }],
    });
  });
});
