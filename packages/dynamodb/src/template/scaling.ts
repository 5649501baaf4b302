// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here, not JavaScript.
import type { CfnParameter, CfnResource } from './cloudformation.js';
import { ref, sub } from './cloudformation.js';
import { TABLE } from './table.js';

interface ScaledDimension {
  /** Logical id prefix, e.g. `TableRead`. */
  readonly id: string;
  /** Parameter prefix, e.g. `ReadCapacity`. */
  readonly parameter: string;
  readonly resourceId: string;
  readonly dimension: string;
  readonly metric: string;
}

const DIMENSIONS: readonly ScaledDimension[] = [
  {
    id: 'TableRead',
    parameter: 'ReadCapacity',
    resourceId: 'table/${Table}',
    dimension: 'dynamodb:table:ReadCapacityUnits',
    metric: 'DynamoDBReadCapacityUtilization',
  },
  {
    id: 'TableWrite',
    parameter: 'WriteCapacity',
    resourceId: 'table/${Table}',
    dimension: 'dynamodb:table:WriteCapacityUnits',
    metric: 'DynamoDBWriteCapacityUtilization',
  },
  {
    id: 'IndexRead',
    parameter: 'IndexReadCapacity',
    resourceId: 'table/${Table}/index/GSI1',
    dimension: 'dynamodb:index:ReadCapacityUnits',
    metric: 'DynamoDBReadCapacityUtilization',
  },
  {
    id: 'IndexWrite',
    parameter: 'IndexWriteCapacity',
    resourceId: 'table/${Table}/index/GSI1',
    dimension: 'dynamodb:index:WriteCapacityUnits',
    metric: 'DynamoDBWriteCapacityUtilization',
  },
];

/** Parameters of provisioned mode: min/max per dimension and the target utilization. */
export function scalingParameters(): Record<string, CfnParameter> {
  const defaults: Record<string, [number, number]> = {
    ReadCapacity: [5, 1000],
    WriteCapacity: [5, 1000],
    IndexReadCapacity: [1, 50],
    IndexWriteCapacity: [1, 50],
  };
  const parameters: Record<string, CfnParameter> = {};
  for (const { parameter } of DIMENSIONS) {
    const [min, max] = defaults[parameter]!;
    parameters[`${parameter}Min`] = {
      Type: 'Number',
      Description: `Provisioned ${parameter} units at the least (also the initial capacity)`,
      Default: min,
      MinValue: 1,
    };
    parameters[`${parameter}Max`] = {
      Type: 'Number',
      Description: `Provisioned ${parameter} units at the most (auto scaling ceiling)`,
      Default: max,
      MinValue: 1,
    };
  }
  parameters['TargetUtilization'] = {
    Type: 'Number',
    Description: 'Auto scaling target: consumed / provisioned capacity, in percent',
    Default: 70,
    MinValue: 20,
    MaxValue: 90,
  };
  return parameters;
}

/**
 * Application Auto Scaling targets and target-tracking policies for the
 * table and its index (reads and writes). The service-linked role of
 * Application Auto Scaling is used, so no role is created.
 */
export function scalingResources(): Record<string, CfnResource> {
  const resources: Record<string, CfnResource> = {};
  for (const dimension of DIMENSIONS) {
    const target = `${dimension.id}ScalableTarget`;
    resources[target] = {
      Type: 'AWS::ApplicationAutoScaling::ScalableTarget',
      DependsOn: TABLE,
      Properties: {
        ServiceNamespace: 'dynamodb',
        ResourceId: sub(dimension.resourceId),
        ScalableDimension: dimension.dimension,
        MinCapacity: ref(`${dimension.parameter}Min`),
        MaxCapacity: ref(`${dimension.parameter}Max`),
      },
    };
    resources[`${dimension.id}ScalingPolicy`] = {
      Type: 'AWS::ApplicationAutoScaling::ScalingPolicy',
      Properties: {
        PolicyName: sub(`\${AWS::StackName}-${dimension.id}`),
        PolicyType: 'TargetTrackingScaling',
        ScalingTargetId: ref(target),
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: ref('TargetUtilization'),
          PredefinedMetricSpecification: { PredefinedMetricType: dimension.metric },
          ScaleInCooldown: 60,
          ScaleOutCooldown: 60,
        },
      },
    };
  }
  return resources;
}
