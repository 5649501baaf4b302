import type { AlarmTopicOption, TemplateOptions } from '@tollgate/dynamodb';
import { type Command, Option } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

/** Command-line form of the template's build options. */
export interface TemplateFlags {
  billingMode: 'on-demand' | 'provisioned';
  aggregator: boolean;
  alarmTopic: string;
  batchSize?: string;
  batchingWindow?: string;
  maxRetries?: string;
  maxRecordAge?: string;
  parallelization?: string;
  lambdaMemory?: string;
  lambdaTimeout?: string;
  runtime?: string;
  deletionProtection: boolean;
  pitr: boolean;
}

/** Adds the template's build options (shared by `template` and `deploy`). */
export function withTemplateFlags(command: Command): Command {
  return command
    .addOption(
      new Option('--billing-mode <mode>', 'table billing')
        .choices(['on-demand', 'provisioned'])
        .default('on-demand'),
    )
    .option(
      '--no-aggregator',
      'leave out the usage aggregator (Lambda, event source mapping, dead-letter queue)',
    )
    .option(
      '--alarm-topic <topic>',
      '"create" an SNS topic, "none", or the ARN of an existing topic',
      'create',
    )
    .option('--batch-size <n>', 'stream records per aggregator invocation (default 100)')
    .option('--batching-window <seconds>', 'seconds to gather records before invoking (default 5)')
    .option('--max-retries <n>', 'retries of a failing batch before the dead-letter queue (default 10)')
    .option(
      '--max-record-age <seconds>',
      'records older than this go to the dead-letter queue (default 86400)',
    )
    .option('--parallelization <n>', 'concurrent batches per shard, 1-10 (default 1)')
    .option('--lambda-memory <mb>', 'aggregator memory in MB (default 256)')
    .option('--lambda-timeout <seconds>', 'aggregator timeout (default 60)')
    .option('--runtime <runtime>', 'Lambda runtime (default nodejs22.x)')
    .option('--no-deletion-protection', 'allow the table to be deleted')
    .option('--no-pitr', 'turn off point-in-time recovery');
}

/** Converts the flags to `buildTemplate` options. */
export function templateOptionsFrom(flags: TemplateFlags): TemplateOptions {
  const aggregator: Record<string, number | string> = {};
  const numeric: [keyof TemplateFlags, string][] = [
    ['batchSize', 'batchSize'],
    ['batchingWindow', 'batchingWindowSeconds'],
    ['maxRetries', 'maximumRetryAttempts'],
    ['maxRecordAge', 'maximumRecordAgeSeconds'],
    ['parallelization', 'parallelizationFactor'],
    ['lambdaMemory', 'memoryMb'],
    ['lambdaTimeout', 'timeoutSeconds'],
  ];
  for (const [flag, option] of numeric) {
    const value = flags[flag];
    if (typeof value !== 'string') continue;
    if (!/^\d+$/.test(value)) {
      throw new CliError(
        EXIT.usage,
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected --${kebab(flag)} to be a whole number, got "${value}"`,
      );
    }
    aggregator[option] = Number(value);
  }
  if (flags.runtime !== undefined) aggregator['runtime'] = flags.runtime;
  let alarmTopic: AlarmTopicOption;
  if (flags.alarmTopic === 'create' || flags.alarmTopic === 'none') alarmTopic = flags.alarmTopic;
  else alarmTopic = { arn: flags.alarmTopic };
  return {
    billingMode: flags.billingMode,
    aggregator: flags.aggregator ? aggregator : false,
    alarmTopic,
    deletionProtection: flags.deletionProtection,
    pointInTimeRecovery: flags.pitr,
  };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
