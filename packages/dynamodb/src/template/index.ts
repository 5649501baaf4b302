export { DURATION_ALARM_SHARE } from './alarms.js';
export { buildTemplate } from './build-template.js';
export type {
  CfnOutput,
  CfnParameter,
  CfnResource,
  CfnValue,
  CloudFormationTemplate,
} from './cloudformation.js';
export {
  ACQUIRE_ACTIONS,
  ADMIN_ACTIONS,
  AGGREGATOR_TABLE_ACTIONS,
  COMMAND_ACTIONS,
  IAM_ACTIONS,
  type IamRole,
  READ_ONLY_ACTIONS,
  STREAM_READ_ACTIONS,
  TRANSACTION_ITEM_ACTIONS,
} from './iam-actions.js';
export { TEMPLATE_LOGICAL_IDS } from './logical-ids.js';
export {
  AGGREGATOR_DEFAULTS,
  type AggregatorTemplateOptions,
  type AlarmTopicOption,
  type BillingModeOption,
  type ResolvedTemplateOptions,
  resolveTemplateOptions,
  type TemplateOptions,
} from './options.js';
