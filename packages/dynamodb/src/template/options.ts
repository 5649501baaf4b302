import { describeValue, ValidationError } from '@tollgate/core';

/** How the table is billed. */
export type BillingModeOption = 'on-demand' | 'provisioned';

/** The aggregator Lambda and its event source mapping. */
export interface AggregatorTemplateOptions {
  /** Records per invocation (1–10 000). Default 100. */
  batchSize?: number;
  /** Seconds to gather records before invoking (0–300). Default 5. */
  batchingWindowSeconds?: number;
  /** Retries of a failed batch before it goes to the dead-letter queue (0–10 000). Default 10. */
  maximumRetryAttempts?: number;
  /** Records older than this (seconds, 60–604 800) go to the dead-letter queue unprocessed. Default 86 400. */
  maximumRecordAgeSeconds?: number;
  /** Concurrent batches per shard (1–10). Default 1. */
  parallelizationFactor?: number;
  /** Function memory in MB. Default 256. */
  memoryMb?: number;
  /** Function timeout in seconds. Default 60. */
  timeoutSeconds?: number;
  /** Lambda runtime. Default `nodejs22.x`. */
  runtime?: string;
  /** Default `arm64`. */
  architecture?: 'arm64' | 'x86_64';
}

/** Where alarms notify. */
export type AlarmTopicOption =
  /** Create an SNS topic (with an optional e-mail subscription parameter). */
  | 'create'
  /** Alarms without actions. */
  | 'none'
  /** Notify an existing topic. */
  | { arn: string };

/** Options of `buildTemplate`. Every field has a production-minded default. */
export interface TemplateOptions {
  /** Template description. */
  description?: string;
  /** Default `on-demand`. */
  billingMode?: BillingModeOption;
  /** Include the usage aggregator (Lambda, event source mapping, dead-letter queue). Default true. */
  aggregator?: boolean | AggregatorTemplateOptions;
  /** Default `create`. */
  alarmTopic?: AlarmTopicOption;
  /** Default true. */
  deletionProtection?: boolean;
  /** Default true. */
  pointInTimeRecovery?: boolean;
}

/** {@link TemplateOptions} with every default filled in. */
export interface ResolvedTemplateOptions {
  description: string;
  billingMode: BillingModeOption;
  aggregator: Required<AggregatorTemplateOptions> | undefined;
  alarmTopic: AlarmTopicOption;
  deletionProtection: boolean;
  pointInTimeRecovery: boolean;
}

/** Defaults of the aggregator's function and event source mapping. */
export const AGGREGATOR_DEFAULTS: Readonly<Required<AggregatorTemplateOptions>> = Object.freeze({
  batchSize: 100,
  batchingWindowSeconds: 5,
  maximumRetryAttempts: 10,
  maximumRecordAgeSeconds: 86_400,
  parallelizationFactor: 1,
  memoryMb: 256,
  timeoutSeconds: 60,
  runtime: 'nodejs22.x',
  architecture: 'arm64',
});

const RANGES: Record<keyof Omit<AggregatorTemplateOptions, 'runtime' | 'architecture'>, [number, number]> = {
  batchSize: [1, 10_000],
  batchingWindowSeconds: [0, 300],
  maximumRetryAttempts: [0, 10_000],
  maximumRecordAgeSeconds: [60, 604_800],
  parallelizationFactor: [1, 10],
  memoryMb: [128, 10_240],
  timeoutSeconds: [1, 900],
};

/** Fills in defaults and validates ranges (the limits Lambda and CloudFormation enforce). */
export function resolveTemplateOptions(options: TemplateOptions = {}): ResolvedTemplateOptions {
  const billingMode = options.billingMode ?? 'on-demand';
  if (billingMode !== 'on-demand' && billingMode !== 'provisioned') {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`billingMode\` to be "on-demand" or "provisioned", got ${describeValue(billingMode)}`,
      'billingMode',
    );
  }
  let aggregator: Required<AggregatorTemplateOptions> | undefined;
  if (options.aggregator !== false) {
    const given = options.aggregator === true || options.aggregator === undefined ? {} : options.aggregator;
    aggregator = { ...AGGREGATOR_DEFAULTS, ...given };
    for (const [field, [min, max]] of Object.entries(RANGES)) {
      const value = aggregator[field as keyof typeof RANGES];
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new ValidationError(
          'ERR_TOLLGATE_INVALID_OPTION',
          `Expected \`aggregator.${field}\` to be an integer from ${min} to ${max}, got ${describeValue(value)}`,
          `aggregator.${field}`,
        );
      }
    }
  }
  const alarmTopic = options.alarmTopic ?? 'create';
  if (typeof alarmTopic === 'object' && !/^arn:aws[\w-]*:sns:/.test(alarmTopic.arn)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`alarmTopic.arn\` to be an SNS topic ARN, got ${describeValue(alarmTopic.arn)}`,
      'alarmTopic',
    );
  }
  return {
    description:
      options.description ??
      'Tollgate rate limiter: DynamoDB table, usage aggregator, alarms and IAM policies',
    billingMode,
    aggregator,
    alarmTopic,
    deletionProtection: options.deletionProtection ?? true,
    pointInTimeRecovery: options.pointInTimeRecovery ?? true,
  };
}
