import { AGGREGATOR } from './aggregator.js';
import type { CfnParameter, CfnResource, CfnValue } from './cloudformation.js';
import { getAtt, ref } from './cloudformation.js';
import type { AggregatorTemplateOptions, AlarmTopicOption } from './options.js';
import { TABLE } from './table.js';

/** Logical id of the SNS topic created for alarms. */
export const ALARM_TOPIC = 'AlarmTopic';

/** Share of the function timeout above which the duration alarm fires. */
export const DURATION_ALARM_SHARE = 0.8;

/** Parameters of alarms: the e-mail subscribed to a created topic. */
export function alarmParameters(topic: AlarmTopicOption): Record<string, CfnParameter> {
  if (topic !== 'create') return {};
  return {
    AlarmEmail: {
      Type: 'String',
      Description: 'E-mail address subscribed to the alarm topic (empty: no subscription)',
      Default: '',
    },
  };
}

/** Conditions used by the alarm resources. */
export function alarmConditions(topic: AlarmTopicOption): Record<string, CfnValue> {
  if (topic !== 'create') return {};
  return { HasAlarmEmail: { 'Fn::Not': [{ 'Fn::Equals': [ref('AlarmEmail'), ''] }] } };
}

interface AlarmSpec {
  readonly description: string;
  readonly namespace: string;
  readonly metric: string;
  readonly dimensions: { Name: string; Value: CfnValue }[];
  readonly statistic: 'Sum' | 'Maximum';
  readonly threshold: number;
  readonly periodSeconds: number;
  readonly evaluationPeriods: number;
}

function alarm(spec: AlarmSpec, actions: CfnValue[]): CfnResource {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmDescription: spec.description,
      Namespace: spec.namespace,
      MetricName: spec.metric,
      Dimensions: spec.dimensions,
      Statistic: spec.statistic,
      Period: spec.periodSeconds,
      EvaluationPeriods: spec.evaluationPeriods,
      Threshold: spec.threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: actions,
      OKActions: actions,
    },
  };
}

/**
 * Alarms on what needs a person: throttled reads or writes on the table
 * (capacity too low, or a hot key beyond a partition's limit), aggregator
 * errors, aggregator runs near their timeout, the aggregator falling behind
 * the stream, and records given up on in the dead-letter queue. Optionally
 * an SNS topic they notify.
 */
export function alarmResources(
  topic: AlarmTopicOption,
  aggregator: Required<AggregatorTemplateOptions> | undefined,
): Record<string, CfnResource> {
  const resources: Record<string, CfnResource> = {};
  let actions: CfnValue[] = [];
  if (topic === 'create') {
    resources[ALARM_TOPIC] = { Type: 'AWS::SNS::Topic', Properties: { DisplayName: 'Tollgate alarms' } };
    resources['AlarmEmailSubscription'] = {
      Type: 'AWS::SNS::Subscription',
      Condition: 'HasAlarmEmail',
      Properties: { TopicArn: ref(ALARM_TOPIC), Protocol: 'email', Endpoint: ref('AlarmEmail') },
    };
    actions = [ref(ALARM_TOPIC)];
  } else if (topic !== 'none') {
    actions = [topic.arn];
  }

  const table = [{ Name: 'TableName', Value: ref(TABLE) }];
  for (const kind of ['Read', 'Write'] as const) {
    resources[`${kind}ThrottleAlarm`] = alarm(
      {
        description: `Tollgate: ${kind.toLowerCase()} requests on the table are being throttled`,
        namespace: 'AWS/DynamoDB',
        metric: `${kind}ThrottleEvents`,
        dimensions: table,
        statistic: 'Sum',
        threshold: 1,
        periodSeconds: 60,
        evaluationPeriods: 5,
      },
      actions,
    );
  }
  if (aggregator === undefined) return resources;

  const fn = [{ Name: 'FunctionName', Value: ref(AGGREGATOR.function) }];
  resources['AggregatorErrorsAlarm'] = alarm(
    {
      description:
        'Tollgate: the usage aggregator failed (batches are retried, then sent to the dead-letter queue)',
      namespace: 'AWS/Lambda',
      metric: 'Errors',
      dimensions: fn,
      statistic: 'Sum',
      threshold: 1,
      periodSeconds: 300,
      evaluationPeriods: 1,
    },
    actions,
  );
  resources['AggregatorDurationAlarm'] = alarm(
    {
      description: `Tollgate: usage aggregator runs took over ${DURATION_ALARM_SHARE * 100}% of its timeout`,
      namespace: 'AWS/Lambda',
      metric: 'Duration',
      dimensions: fn,
      statistic: 'Maximum',
      threshold: Math.floor(aggregator.timeoutSeconds * 1000 * DURATION_ALARM_SHARE),
      periodSeconds: 300,
      evaluationPeriods: 1,
    },
    actions,
  );
  resources['AggregatorIteratorAgeAlarm'] = alarm(
    {
      description: 'Tollgate: the usage aggregator is more than 15 minutes behind the stream',
      namespace: 'AWS/Lambda',
      metric: 'IteratorAge',
      dimensions: fn,
      statistic: 'Maximum',
      threshold: 900_000,
      periodSeconds: 300,
      evaluationPeriods: 1,
    },
    actions,
  );
  resources['DeadLetterQueueAlarm'] = alarm(
    {
      description: 'Tollgate: stream records the aggregator gave up on are waiting in the dead-letter queue',
      namespace: 'AWS/SQS',
      metric: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ Name: 'QueueName', Value: getAtt(AGGREGATOR.deadLetterQueue, 'QueueName') }],
      statistic: 'Maximum',
      threshold: 1,
      periodSeconds: 300,
      evaluationPeriods: 1,
    },
    actions,
  );
  return resources;
}
