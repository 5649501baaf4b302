import type {
  CloudFormationClient,
  CloudFormationClientConfig,
  StackEvent,
} from '@aws-sdk/client-cloudformation';
import { buildTemplate } from '@tollgate/dynamodb';
import { Command, Option } from 'commander';
import { type CliContext, outputFor, withJson, withTimeout } from '../context.js';
import { withDeadline } from '../deadline.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { details, table } from '../output.js';
import { renderTemplate } from './template.js';
import { type TemplateFlags, templateOptionsFrom, withTemplateFlags } from './template-options.js';

interface StackOptions {
  stack: string;
  region?: string;
  pollInterval: string;
  timeout: number;
  json?: boolean;
}

interface DeployOptions extends StackOptions, TemplateFlags {
  parameter: string[];
  tableName?: string;
  codeBucket?: string;
  codeKey?: string;
  alarmEmail?: string;
  dryRun?: boolean;
}

function withStack(command: Command): Command {
  return withJson(
    withTimeout(
      command
        .requiredOption('--stack <name>', 'CloudFormation stack name')
        .addOption(new Option('--region <region>', 'AWS region').env('AWS_REGION'))
        .option('--poll-interval <ms>', 'pause between status polls', '5000'),
      'CloudFormation',
    ),
  );
}

/**
 * The CloudFormation client (every request with the `--timeout` deadline) and
 * the deployer, loaded only by the commands that use them.
 */
async function cloudFormation(options: StackOptions): Promise<{
  client: CloudFormationClient;
  deployer: typeof import('../deploy/stack-deployer.js');
}> {
  const [{ CloudFormationClient: Client }, deployer] = await Promise.all([
    import('@aws-sdk/client-cloudformation'),
    import('../deploy/stack-deployer.js'),
  ]);
  const config: CloudFormationClientConfig = {};
  if (options.region !== undefined) config.region = options.region;
  return { client: withDeadline(new Client(config), options.timeout), deployer };
}

function eventPrinter(output: Output): (event: StackEvent) => void {
  return (event) =>
    output.note(
      [
        event.Timestamp?.toISOString().slice(11, 19) ?? '',
        (event.ResourceStatus ?? '').padEnd(28),
        (event.LogicalResourceId ?? '').padEnd(32),
        event.ResourceType ?? '',
        event.ResourceStatusReason === undefined ? '' : `- ${event.ResourceStatusReason}`,
      ].join(' '),
    );
}

function parseParameters(options: DeployOptions): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const pair of options.parameter) {
    const index = pair.indexOf('=');
    if (index <= 0) {
      throw new CliError(
        EXIT.usage,
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected --parameter Key=Value, got "${pair}"`,
      );
    }
    parameters[pair.slice(0, index)] = pair.slice(index + 1);
  }
  if (options.tableName !== undefined) parameters['TableName'] = options.tableName;
  if (options.codeBucket !== undefined) parameters['AggregatorCodeS3Bucket'] = options.codeBucket;
  if (options.codeKey !== undefined) parameters['AggregatorCodeS3Key'] = options.codeKey;
  if (options.alarmEmail !== undefined) parameters['AlarmEmail'] = options.alarmEmail;
  return parameters;
}

/** `tollgate deploy`, `tollgate delete` and `tollgate status`, all with `--stack`. */
export function stackCommands(context: CliContext): Command[] {
  const deploy = withStack(
    withTemplateFlags(
      new Command('deploy')
        .description('create or update the stack from `tollgate template`, following its events until done')
        .option(
          '-p, --parameter <Key=Value>',
          'template parameter (repeatable); unset ones keep their previous value',
          (value: string, previous: string[] = []) => [...previous, value],
          [],
        )
        .option('--table-name <name>', 'shortcut for --parameter TableName=<name>')
        .option('--code-bucket <bucket>', 'shortcut for --parameter AggregatorCodeS3Bucket=<bucket>')
        .option('--code-key <key>', 'shortcut for --parameter AggregatorCodeS3Key=<key>')
        .option('--alarm-email <address>', 'shortcut for --parameter AlarmEmail=<address>')
        .option('--dry-run', 'show the changes, then delete the change set without executing it'),
    ),
  ).action(async (options: DeployOptions) => {
    const output = outputFor(options, context);
    const template = buildTemplate(templateOptionsFrom(options));
    const { client, deployer } = await cloudFormation(options);
    try {
      const result = await deployer.deployStack({
        client,
        stackName: options.stack,
        templateBody: renderTemplate(template),
        templateParameters: Object.keys(template.Parameters),
        requiredParameters: Object.entries(template.Parameters)
          .filter(([, parameter]) => parameter.Default === undefined)
          .map(([name]) => name),
        parameters: parseParameters(options),
        dryRun: options.dryRun,
        pollIntervalMs: Number(options.pollInterval),
        onEvent: eventPrinter(output),
        onPhase: (text) => output.note(text),
      });
      output.result(result, () => {
        if (result.operation === 'none') return `Stack ${result.stackName} is up to date (${result.status})`;
        const changes =
          result.changes.length === 0
            ? 'no resource changes'
            : table(
                ['action', 'resource', 'type', 'replacement'],
                result.changes.map((c) => [c.action, c.logicalId, c.type, c.replacement]),
              );
        const verdict = result.executed
          ? `Stack ${result.stackName}: ${result.status}`
          : `Dry run: change set for ${result.stackName} not executed`;
        const outputs = Object.entries(result.outputs);
        return [changes, verdict, ...(outputs.length > 0 ? [table(['output', 'value'], outputs)] : [])].join(
          '\n',
        );
      });
    } finally {
      client.destroy();
    }
  });

  const remove = withStack(
    new Command('delete').description(
      'delete the stack, following its events; the table is retained (DeletionPolicy: Retain)',
    ),
  ).action(async (options: StackOptions) => {
    const output = outputFor(options, context);
    const { client, deployer } = await cloudFormation(options);
    try {
      const result = await deployer.deleteStack({
        client,
        stackName: options.stack,
        pollIntervalMs: Number(options.pollInterval),
        onEvent: eventPrinter(output),
        onPhase: (text) => output.note(text),
      });
      output.result(
        { stackName: options.stack, ...result },
        () => `Stack ${options.stack}: ${result.status}`,
      );
    } finally {
      client.destroy();
    }
  });

  const status = withStack(
    new Command('status').description("show the stack's status, outputs and resources"),
  ).action(async (options: StackOptions) => {
    const { client, deployer } = await cloudFormation(options);
    try {
      const report = await deployer.stackReport(client, options.stack);
      outputFor(options, context).result(report, () =>
        [
          details([
            ['stack', report.stackName],
            ['status', report.status],
            ['reason', report.reason],
            ['updated', report.updated],
          ]),
          table(['output', 'value'], Object.entries(report.outputs)),
          table(
            ['resource', 'type', 'status'],
            report.resources.map((r) => [r.logicalId, r.type, r.status]),
          ),
        ].join('\n'),
      );
    } finally {
      client.destroy();
    }
  });
  return [deploy, remove, status];
}
