// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here, not JavaScript.
import { AGGREGATOR, aggregatorParameters, aggregatorResources } from './aggregator.js';
import { ALARM_TOPIC, alarmConditions, alarmParameters, alarmResources } from './alarms.js';
import type { CfnOutput, CloudFormationTemplate } from './cloudformation.js';
import { getAtt, ref, sub } from './cloudformation.js';
import { resolveTemplateOptions, type TemplateOptions } from './options.js';
import { POLICIES, policyResources } from './policies.js';
import { scalingParameters, scalingResources } from './scaling.js';
import { TABLE, tableResource } from './table.js';

/**
 * The CloudFormation template for a production Tollgate table, as a plain
 * object (render it with any YAML or JSON writer; `tollgate template` prints
 * YAML). Structural choices (billing mode, whether to include the aggregator,
 * where alarms go) are options; values an operator tunes per stack (table
 * name, capacity bounds, code location, retention, alarm e-mail) are
 * template parameters.
 *
 * @example
 * import { stringify } from 'yaml';
 * const yaml = stringify(buildTemplate({ billingMode: 'provisioned' }));
 */
export function buildTemplate(options: TemplateOptions = {}): CloudFormationTemplate {
  const resolved = resolveTemplateOptions(options);
  const template: CloudFormationTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: resolved.description,
    Parameters: {
      TableName: {
        Type: 'String',
        Description: 'Name of the DynamoDB table',
        Default: 'tollgate',
        AllowedPattern: '[a-zA-Z0-9_.-]{3,255}',
      },
    },
    Conditions: {},
    Resources: { [TABLE]: tableResource(resolved) },
    Outputs: {},
  };
  if (resolved.billingMode === 'provisioned') {
    Object.assign(template.Parameters, scalingParameters());
    Object.assign(template.Resources, scalingResources());
  }
  Object.assign(template.Resources, policyResources());
  if (resolved.aggregator !== undefined) {
    Object.assign(template.Parameters, aggregatorParameters());
    Object.assign(template.Resources, aggregatorResources(resolved.aggregator));
  }
  Object.assign(template.Parameters, alarmParameters(resolved.alarmTopic));
  Object.assign(template.Conditions, alarmConditions(resolved.alarmTopic));
  Object.assign(template.Resources, alarmResources(resolved.alarmTopic, resolved.aggregator));
  template.Outputs = outputs(resolved.aggregator !== undefined, resolved.alarmTopic === 'create');
  return template;
}

function outputs(aggregator: boolean, topic: boolean): Record<string, CfnOutput> {
  const result: Record<string, CfnOutput> = {
    TableName: { Description: "Table name (the store's `tableName`)", Value: ref(TABLE) },
    TableArn: { Description: 'Table ARN', Value: getAtt(TABLE, 'Arn') },
    StreamArn: { Description: 'Stream ARN read by the aggregator', Value: getAtt(TABLE, 'StreamArn') },
    AcquirePolicyArn: {
      Description: 'Managed policy for application roles (acquire path only)',
      Value: ref(POLICIES.acquire),
      Export: { Name: sub('${AWS::StackName}-AcquirePolicyArn') },
    },
    ReadOnlyPolicyArn: {
      Description: 'Managed policy for read-only tooling',
      Value: ref(POLICIES.readOnly),
      Export: { Name: sub('${AWS::StackName}-ReadOnlyPolicyArn') },
    },
    AdminPolicyArn: {
      Description: 'Managed policy for administration (the tollgate command)',
      Value: ref(POLICIES.admin),
      Export: { Name: sub('${AWS::StackName}-AdminPolicyArn') },
    },
  };
  if (aggregator) {
    result['AggregatorFunctionName'] = {
      Description: 'Usage aggregator function',
      Value: ref(AGGREGATOR.function),
    };
    result['DeadLetterQueueUrl'] = {
      Description: 'Stream records the aggregator gave up on',
      Value: ref(AGGREGATOR.deadLetterQueue),
    };
  }
  if (topic)
    result['AlarmTopicArn'] = { Description: 'SNS topic the alarms notify', Value: ref(ALARM_TOPIC) };
  return result;
}
