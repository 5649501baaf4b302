// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here, not JavaScript.
import { CHILDREN_INDEX, GSI1PK, GSI1SK, PK, SK, TTL } from '../schema.js';
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
  const index: { [key: string]: CfnValue } = {
    IndexName: CHILDREN_INDEX,
    KeySchema: [
      { AttributeName: GSI1PK, KeyType: 'HASH' },
      { AttributeName: GSI1SK, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  };
  if (provisioned) {
    index['ProvisionedThroughput'] = {
      ReadCapacityUnits: ref('IndexReadCapacityMin'),
      WriteCapacityUnits: ref('IndexWriteCapacityMin'),
    };
  }
  const properties: { [key: string]: CfnValue } = {
    TableName: ref('TableName'),
    BillingMode: provisioned ? 'PROVISIONED' : 'PAY_PER_REQUEST',
    AttributeDefinitions: [PK, SK, GSI1PK, GSI1SK].map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    })),
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' },
      { AttributeName: SK, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [index],
    StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
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
