import { BUCKET_SK_PREFIX, SK } from '../schema.js';
import type { CfnParameter, CfnResource } from './cloudformation.js';
import { getAtt, ref } from './cloudformation.js';
import { AGGREGATOR_TABLE_ACTIONS, STREAM_READ_ACTIONS } from './iam-actions.js';
import type { AggregatorTemplateOptions } from './options.js';
import { TABLE, TABLE_ARN } from './table.js';

/** Logical ids of the aggregator's resources. */
export const AGGREGATOR = {
  function: 'AggregatorFunction',
  role: 'AggregatorRole',
  logGroup: 'AggregatorLogGroup',
  eventSourceMapping: 'AggregatorEventSourceMapping',
  deadLetterQueue: 'AggregatorDeadLetterQueue',
} as const;

/** Parameters locating the aggregator's code and its snapshot retention. */
export function aggregatorParameters(): Record<string, CfnParameter> {
  return {
    AggregatorCodeS3Bucket: {
      Type: 'String',
      Description: 'S3 bucket holding the aggregator bundle (see docs/deploy.md: "The aggregator\'s code")',
      AllowedPattern: '.+',
    },
    AggregatorCodeS3Key: {
      Type: 'String',
      Description: 'S3 key of the aggregator bundle (a zip whose aggregator.js exports `handler`)',
      AllowedPattern: '.+',
    },
    HourlyUsageRetentionDays: {
      Type: 'Number',
      Description: 'Days to keep hourly usage snapshots after their hour ends (0: forever)',
      Default: 35,
      MinValue: 0,
    },
    DailyUsageRetentionDays: {
      Type: 'Number',
      Description: 'Days to keep daily usage snapshots after their day ends (0: forever)',
      Default: 0,
      MinValue: 0,
    },
  };
}

/**
 * The usage aggregator: its log group, an execution role that can only
 * update items of the table, read its stream, write its logs and send to
 * its dead-letter queue; the function; and the event source mapping that
 * reports partial batch failures, bisects failing batches, stops retrying
 * after a limit and sends what it gives up on to the dead-letter queue. A
 * filter passes only writes of bucket items, so snapshot writes do not
 * invoke the function.
 */
export function aggregatorResources(
  options: Required<AggregatorTemplateOptions>,
): Record<string, CfnResource> {
  return {
    [AGGREGATOR.deadLetterQueue]: {
      Type: 'AWS::SQS::Queue',
      Properties: { MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true },
    },
    [AGGREGATOR.logGroup]: {
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    },
    [AGGREGATOR.role]: {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        },
        Policies: [
          {
            PolicyName: 'tollgate-aggregator',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Action: [...AGGREGATOR_TABLE_ACTIONS], Resource: TABLE_ARN },
                { Effect: 'Allow', Action: [...STREAM_READ_ACTIONS], Resource: getAtt(TABLE, 'StreamArn') },
                { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
                {
                  Effect: 'Allow',
                  Action: 'sqs:SendMessage',
                  Resource: getAtt(AGGREGATOR.deadLetterQueue, 'Arn'),
                },
                {
                  Effect: 'Allow',
                  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                  Resource: getAtt(AGGREGATOR.logGroup, 'Arn'),
                },
              ],
            },
          },
        ],
      },
    },
    [AGGREGATOR.function]: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Description:
          'Tollgate usage aggregator: DynamoDB stream of bucket writes -> hourly and daily usage snapshots',
        Runtime: options.runtime,
        Architectures: [options.architecture],
        Handler: 'aggregator.handler',
        Code: { S3Bucket: ref('AggregatorCodeS3Bucket'), S3Key: ref('AggregatorCodeS3Key') },
        Role: getAtt(AGGREGATOR.role, 'Arn'),
        MemorySize: options.memoryMb,
        Timeout: options.timeoutSeconds,
        LoggingConfig: { LogGroup: ref(AGGREGATOR.logGroup), LogFormat: 'JSON' },
        Environment: {
          Variables: {
            TOLLGATE_TABLE_NAME: ref(TABLE),
            TOLLGATE_HOURLY_RETENTION_DAYS: ref('HourlyUsageRetentionDays'),
            TOLLGATE_DAILY_RETENTION_DAYS: ref('DailyUsageRetentionDays'),
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      },
    },
    [AGGREGATOR.eventSourceMapping]: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        EventSourceArn: getAtt(TABLE, 'StreamArn'),
        FunctionName: ref(AGGREGATOR.function),
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: options.batchSize,
        MaximumBatchingWindowInSeconds: options.batchingWindowSeconds,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: options.maximumRetryAttempts,
        MaximumRecordAgeInSeconds: options.maximumRecordAgeSeconds,
        ParallelizationFactor: options.parallelizationFactor,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: getAtt(AGGREGATOR.deadLetterQueue, 'Arn') } },
        FilterCriteria: {
          Filters: [
            {
              Pattern: JSON.stringify({
                eventName: ['INSERT', 'MODIFY'],
                dynamodb: { Keys: { [SK]: { S: [{ prefix: BUCKET_SK_PREFIX }] } } },
              }),
            },
          ],
        },
      },
    },
  };
}
