// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here, not JavaScript.
import { TTL } from '../schema.js';
import { tableDefinition } from '../table.js';
import { type CfnResource, type CfnValue, getAtt, ref, sub } from './cloudformation.js';
import type { ResolvedTemplateOptions } from './options.js';

/** Logical id of the table. */
export const TABLE = 'Table';

/** The table's ARN and its index ARNs, for policies. */
export const TABLE_ARN: CfnValue = getAtt(TABLE, 'Arn');
/** ARN pattern of the table's indexes. */
export const TABLE_INDEXES_ARN: CfnValue = sub('${Table.Arn}/index/*');

/**
 * The table: the key layout of `schema.ts` (PK/SK, the children index on
 * GSI1PK/GSI1SK), TTL on `ttl`, a NEW_AND_OLD_IMAGES stream for the
 * aggregator, point-in-time recovery and deletion protection. Retained when
 * the stack is deleted or the table replaced: usage and limits outlive stacks.
 */
export function tableResource(options: ResolvedTemplateOptions): CfnResource {
  const provisioned = options.billingMode === 'provisioned';
  // Keys, index and stream come from the same definition `createTable()` uses.
  const definition = tableDefinition('template');
  const indexes: CfnValue[] = (definition.GlobalSecondaryIndexes ?? []).map((index) => ({
    IndexName: index.IndexName ?? '',
    KeySchema: (index.KeySchema ?? []).map((key) => ({
      AttributeName: key.AttributeName ?? '',
      KeyType: key.KeyType ?? '',
    })),
    Projection: { ProjectionType: index.Projection?.ProjectionType ?? 'ALL' },
    ...(provisioned
      ? {
          ProvisionedThroughput: {
            ReadCapacityUnits: ref('IndexReadCapacityMin'),
            WriteCapacityUnits: ref('IndexWriteCapacityMin'),
          },
        }
      : {}),
  }));
  const properties: { [key: string]: CfnValue } = {
    TableName: ref('TableName'),
    BillingMode: provisioned ? 'PROVISIONED' : 'PAY_PER_REQUEST',
    AttributeDefinitions: (definition.AttributeDefinitions ?? []).map((attribute) => ({
      AttributeName: attribute.AttributeName ?? '',
      AttributeType: attribute.AttributeType ?? '',
    })),
    KeySchema: (definition.KeySchema ?? []).map((key) => ({
      AttributeName: key.AttributeName ?? '',
      KeyType: key.KeyType ?? '',
    })),
    GlobalSecondaryIndexes: indexes,
    StreamSpecification: {
      StreamViewType: definition.StreamSpecification?.StreamViewType ?? 'NEW_AND_OLD_IMAGES',
    },
    TimeToLiveSpecification: { AttributeName: TTL, Enabled: true },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: options.pointInTimeRecovery },
    DeletionProtectionEnabled: options.deletionProtection,
  };
  if (provisioned) {
    properties['ProvisionedThroughput'] = {
      ReadCapacityUnits: ref('ReadCapacityMin'),
      WriteCapacityUnits: ref('WriteCapacityMin'),
    };
  }
  return {
    Type: 'AWS::DynamoDB::Table',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: properties,
  };
}
