import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Change,
  type CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
  ListStacksCommand,
  type Parameter,
  type Stack,
  type StackEvent,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { CliError, EXIT } from '../exit-codes.js';

/** What the deployer needs besides the client. */
export interface DeployerOptions {
  client: CloudFormationClient;
  /** Pause between polls, in ms. */
  pollIntervalMs: number;
  /** Receives every new stack event, oldest first. */
  onEvent?: ((event: StackEvent) => void) | undefined;
  /** Receives phase changes ("creating change set", ...). */
  onPhase?: ((text: string) => void) | undefined;
  /** Clock for "events since", injectable for tests. */
  now?: (() => Date) | undefined;
}

/** Options of {@link deployStack}. */
export interface DeployStackOptions extends DeployerOptions {
  stackName: string;
  templateBody: string;
  /** Parameter values to set; others keep their previous value on update (or their default). */
  parameters: Record<string, string>;
  /** Names of the template's parameters. */
  templateParameters: readonly string[];
  /** Parameters without a default: a new stack needs a value for each. */
  requiredParameters?: readonly string[] | undefined;
  /** Create the change set, report it and delete it without executing. */
  dryRun?: boolean | undefined;
}

/** Result of a deployment. */
export interface DeployResult {
  stackName: string;
  stackId: string | undefined;
  operation: 'create' | 'update' | 'none';
  status: string;
  changes: { action: string; logicalId: string; type: string; replacement: string }[];
  executed: boolean;
  outputs: Record<string, string>;
}

const SUCCESS: ReadonlySet<string> = new Set([
  'CREATE_COMPLETE',
  'UPDATE_COMPLETE',
  'DELETE_COMPLETE',
  'IMPORT_COMPLETE',
]);

/** True for a status that will not change without a new operation. */
export function isTerminal(status: string): boolean {
  return !status.endsWith('_IN_PROGRESS');
}

/** The live stack of that name (deleted stacks excluded), found by listing, not by error matching. */
export async function findStack(client: CloudFormationClient, stackName: string): Promise<Stack | undefined> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListStacksCommand({ NextToken: token }));
    const summary = page.StackSummaries?.find(
      (stack) => stack.StackName === stackName && stack.StackStatus !== 'DELETE_COMPLETE',
    );
    if (summary?.StackId !== undefined) {
      const described = await client.send(new DescribeStacksCommand({ StackName: summary.StackId }));
      return described.Stacks?.[0];
    }
    token = page.NextToken;
  } while (token !== undefined);
  return undefined;
}

/**
 * Creates or updates a stack through a change set, then follows its events
 * until it settles. An update whose template and parameters equal the
 * deployed ones is skipped without a change set.
 */
export async function deployStack(options: DeployStackOptions): Promise<DeployResult> {
  const { client, stackName } = options;
  const existing = await findStack(client, stackName);
  if (existing?.StackStatus === 'ROLLBACK_COMPLETE' || existing?.StackStatus === 'ROLLBACK_FAILED') {
    throw new CliError(
      EXIT.conflict,
      'ERR_TOLLGATE_CLI_STACK_FAILED_CREATE',
      `Stack ${stackName} failed to create (${existing.StackStatus}); delete it (tollgate delete --stack ${stackName}) and deploy again`,
    );
  }
  if (existing?.StackStatus !== undefined && !isTerminal(existing.StackStatus)) {
    throw new CliError(
      EXIT.conflict,
      'ERR_TOLLGATE_CLI_STACK_BUSY',
      `Stack ${stackName} is ${existing.StackStatus}; wait for it`,
    );
  }
  const create = existing === undefined || existing.StackStatus === 'REVIEW_IN_PROGRESS';
  const parameters = stackParameters(options, create ? undefined : existing);
  const missing = create
    ? (options.requiredParameters ?? []).filter((name) => options.parameters[name] === undefined)
    : [];
  if (missing.length > 0) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `A new stack needs a value for ${missing.join(', ')} (e.g. --parameter ${missing[0]}=...; see docs/deploy.md)`,
    );
  }

  if (
    !create &&
    existing !== undefined &&
    (await unchanged(client, existing, options.templateBody, parameters))
  ) {
    return {
      stackName,
      stackId: existing.StackId,
      operation: 'none',
      status: existing.StackStatus ?? 'UNKNOWN',
      changes: [],
      executed: false,
      outputs: outputsOf(existing),
    };
  }

  const changeSetName = `tollgate-${(options.now ?? (() => new Date()))().getTime()}`;
  options.onPhase?.(`Creating change set ${changeSetName}`);
  const created = await client.send(
    new CreateChangeSetCommand({
      StackName: stackName,
      ChangeSetName: changeSetName,
      ChangeSetType: create ? 'CREATE' : 'UPDATE',
      TemplateBody: options.templateBody,
      Parameters: parameters,
      Capabilities: ['CAPABILITY_IAM'],
      Description: 'tollgate deploy',
    }),
  );
  const changeSetId = created.Id ?? changeSetName;
  const stackId = created.StackId;
  let changeSet = await client.send(
    new DescribeChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }),
  );
  while (changeSet.Status !== 'CREATE_COMPLETE' && changeSet.Status !== 'FAILED') {
    await sleep(options.pollIntervalMs);
    changeSet = await client.send(
      new DescribeChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }),
    );
  }
  if (changeSet.Status === 'FAILED') {
    throw new CliError(
      EXIT.deployFailed,
      'ERR_TOLLGATE_CLI_CHANGE_SET_FAILED',
      `Change set ${changeSetName} failed: ${changeSet.StatusReason ?? 'no reason given'}`,
    );
  }
  const changes = describeChanges(changeSet.Changes ?? []);
  if (options.dryRun === true) {
    await client.send(new DeleteChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }));
    return {
      stackName,
      stackId,
      operation: create ? 'create' : 'update',
      status: 'NOT_EXECUTED',
      changes,
      executed: false,
      outputs: {},
    };
  }
  const since = (options.now ?? (() => new Date()))();
  options.onPhase?.(`Executing change set (${changes.length} changes)`);
  await client.send(new ExecuteChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }));
  const final = await followStack(options, stackId ?? stackName, since);
  const result: DeployResult = {
    stackName,
    stackId,
    operation: create ? 'create' : 'update',
    status: final.StackStatus ?? 'UNKNOWN',
    changes,
    executed: true,
    outputs: outputsOf(final),
  };
  if (!SUCCESS.has(result.status)) {
    throw new CliError(
      EXIT.deployFailed,
      'ERR_TOLLGATE_CLI_DEPLOY_FAILED',
      `Stack ${stackName} ended in ${result.status}${final.StackStatusReason ? `: ${final.StackStatusReason}` : ''}`,
    );
  }
  return result;
}

/** Deletes a stack and follows its events until it is gone. */
export async function deleteStack(
  options: DeployerOptions & { stackName: string },
): Promise<{ stackId: string; status: string }> {
  const existing = await findStack(options.client, options.stackName);
  if (existing?.StackId === undefined) {
    throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_CLI_NO_STACK', `No stack ${options.stackName}`);
  }
  const since = (options.now ?? (() => new Date()))();
  options.onPhase?.(`Deleting stack ${options.stackName} (the table is retained)`);
  await options.client.send(new DeleteStackCommand({ StackName: existing.StackId }));
  const final = await followStack(options, existing.StackId, since);
  const status = final.StackStatus ?? 'UNKNOWN';
  if (status !== 'DELETE_COMPLETE') {
    throw new CliError(
      EXIT.deployFailed,
      'ERR_TOLLGATE_CLI_DELETE_FAILED',
      `Stack ${options.stackName} ended in ${status}${final.StackStatusReason ? `: ${final.StackStatusReason}` : ''}`,
    );
  }
  return { stackId: existing.StackId, status };
}

/** A stack's status, outputs and resources. */
export interface StackReport {
  stackName: string;
  stackId: string | undefined;
  status: string;
  reason: string | undefined;
  updated: string | undefined;
  parameters: Record<string, string>;
  outputs: Record<string, string>;
  resources: { logicalId: string; type: string; status: string }[];
}

/** Reads a stack's status, parameters, outputs and resources. */
export async function stackReport(client: CloudFormationClient, stackName: string): Promise<StackReport> {
  const stack = await findStack(client, stackName);
  if (stack === undefined)
    throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_CLI_NO_STACK', `No stack ${stackName}`);
  const resources = await client.send(
    new DescribeStackResourcesCommand({ StackName: stack.StackId ?? stackName }),
  );
  return {
    stackName,
    stackId: stack.StackId,
    status: stack.StackStatus ?? 'UNKNOWN',
    reason: stack.StackStatusReason,
    updated: (stack.LastUpdatedTime ?? stack.CreationTime)?.toISOString(),
    parameters: Object.fromEntries(
      (stack.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? '']),
    ),
    outputs: outputsOf(stack),
    resources: (resources.StackResources ?? []).map((resource) => ({
      logicalId: resource.LogicalResourceId ?? '',
      type: resource.ResourceType ?? '',
      status: resource.ResourceStatus ?? '',
    })),
  };
}

/** Polls events and status until the stack settles; returns the settled stack. */
async function followStack(options: DeployerOptions, stackId: string, since: Date): Promise<Stack> {
  const seen = new Set<string>();
  for (;;) {
    await reportNewEvents(options, stackId, since, seen);
    const described = await options.client.send(new DescribeStacksCommand({ StackName: stackId }));
    const stack = described.Stacks?.[0];
    const status: StackStatus | string = stack?.StackStatus ?? 'UNKNOWN';
    if (stack !== undefined && isTerminal(status)) {
      await reportNewEvents(options, stackId, since, seen);
      return stack;
    }
    await sleep(options.pollIntervalMs);
  }
}

async function reportNewEvents(
  options: DeployerOptions,
  stackId: string,
  since: Date,
  seen: Set<string>,
): Promise<void> {
  const fresh: StackEvent[] = [];
  let token: string | undefined;
  outer: do {
    const page = await options.client.send(
      new DescribeStackEventsCommand({ StackName: stackId, NextToken: token }),
    );
    // Newest first: stop at the first event seen before or older than the operation.
    for (const event of page.StackEvents ?? []) {
      if (event.EventId === undefined || seen.has(event.EventId)) break outer;
      if (event.Timestamp !== undefined && event.Timestamp < since) break outer;
      fresh.push(event);
    }
    token = page.NextToken;
  } while (token !== undefined);
  for (const event of fresh.reverse()) {
    seen.add(event.EventId!);
    options.onEvent?.(event);
  }
}

function stackParameters(options: DeployStackOptions, existing: Stack | undefined): Parameter[] {
  const previous = new Set((existing?.Parameters ?? []).map((p) => p.ParameterKey));
  const result: Parameter[] = [];
  for (const name of options.templateParameters) {
    const value = options.parameters[name];
    if (value !== undefined) result.push({ ParameterKey: name, ParameterValue: value });
    else if (previous.has(name)) result.push({ ParameterKey: name, UsePreviousValue: true });
  }
  const unknown = Object.keys(options.parameters).filter(
    (name) => !options.templateParameters.includes(name),
  );
  if (unknown.length > 0) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `The template has no parameter ${unknown.join(', ')} (it has ${options.templateParameters.join(', ')})`,
    );
  }
  return result;
}

async function unchanged(
  client: CloudFormationClient,
  stack: Stack,
  body: string,
  parameters: Parameter[],
): Promise<boolean> {
  if (parameters.some((p) => p.UsePreviousValue !== true && !sameValue(stack, p))) return false;
  const deployed = await client.send(
    new GetTemplateCommand({ StackName: stack.StackId, TemplateStage: 'Original' }),
  );
  return deployed.TemplateBody === body;
}

function sameValue(stack: Stack, parameter: Parameter): boolean {
  return (stack.Parameters ?? []).some(
    (p) => p.ParameterKey === parameter.ParameterKey && p.ParameterValue === parameter.ParameterValue,
  );
}

function describeChanges(changes: Change[]): DeployResult['changes'] {
  return changes.map((change) => ({
    action: change.ResourceChange?.Action ?? '',
    logicalId: change.ResourceChange?.LogicalResourceId ?? '',
    type: change.ResourceChange?.ResourceType ?? '',
    replacement: change.ResourceChange?.Replacement ?? '',
  }));
}

function outputsOf(stack: Stack): Record<string, string> {
  return Object.fromEntries(
    (stack.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
  );
}
