// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` is CloudFormation Fn::Sub syntax here, not JavaScript.
import { type CfnResource, type CfnValue, sub } from './cloudformation.js';
import { ACQUIRE_ACTIONS, ADMIN_ACTIONS, READ_ONLY_ACTIONS } from './iam-actions.js';
import { TABLE_ARN, TABLE_INDEXES_ARN } from './table.js';

/** Logical ids of the three managed policies. */
export const POLICIES = {
  acquire: 'AcquirePolicy',
  readOnly: 'ReadOnlyPolicy',
  admin: 'AdminPolicy',
} as const;

function managedPolicy(
  description: CfnValue,
  actions: readonly string[],
  resources: CfnValue[],
): CfnResource {
  return {
    Type: 'AWS::IAM::ManagedPolicy',
    Properties: {
      Description: description,
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: [...actions], Resource: resources }],
      },
    },
  };
}

/**
 * Three least-privilege managed policies to attach to the roles of callers:
 * the application's request path (table only: it never reads the index),
 * read-only tooling, and administration.
 */
export function policyResources(): Record<string, CfnResource> {
  return {
    [POLICIES.acquire]: managedPolicy(
      sub('Tollgate ${AWS::StackName}: acquire, adjust and read limits (application request path)'),
      ACQUIRE_ACTIONS,
      [TABLE_ARN],
    ),
    [POLICIES.readOnly]: managedPolicy(
      sub('Tollgate ${AWS::StackName}: read entities, limits and usage'),
      READ_ONLY_ACTIONS,
      [TABLE_ARN, TABLE_INDEXES_ARN],
    ),
    [POLICIES.admin]: managedPolicy(
      sub('Tollgate ${AWS::StackName}: administer entities and limits'),
      ADMIN_ACTIONS,
      [TABLE_ARN, TABLE_INDEXES_ARN],
    ),
  };
}
