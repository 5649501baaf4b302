import { isTollgateError } from '@tollgate/core';
import { Command, CommanderError } from 'commander';
import { aggregateCommand } from './commands/aggregate.js';
import { benchCommand } from './commands/bench.js';
import { capacityCommand } from './commands/capacity.js';
import { stackCommands } from './commands/deploy.js';
import { entityCommand } from './commands/entity.js';
import { limitsCommand } from './commands/limits.js';
import { localCommand } from './commands/local.js';
import { tableCommand } from './commands/table.js';
import { templateCommand } from './commands/template.js';
import { usageCommand } from './commands/usage.js';
import { type CliContext, serviceTarget } from './context.js';
import { describeFailure, EXIT } from './exit-codes.js';
import type { Streams } from './output.js';

/** The CLI's version, printed by `--version`. */
export const VERSION = '0.1.0';

/** Builds the `tollgate` command tree. Commands do their work in async actions; nothing runs here. */
export function createProgram(context: CliContext): Command {
  const program = new Command('tollgate')
    .description(
      'Tollgate: distributed rate limiting on DynamoDB. Development, operations and capacity planning.',
    )
    .version(VERSION);
  const commands = [
    localCommand(context),
    tableCommand(context),
    entityCommand(context),
    limitsCommand(context),
    usageCommand(context),
    aggregateCommand(context),
    templateCommand(context),
    ...stackCommands(context),
    capacityCommand(context),
    benchCommand(context),
  ];
  for (const command of commands) program.addCommand(command);
  configureEverywhere(program, context);
  return program;
}

/** Output streams and no `process.exit` for every command (addCommand does not inherit them). */
function configureEverywhere(command: Command, context: CliContext): void {
  command.exitOverride().configureOutput({
    writeOut: (text) => context.streams.stdout.write(text),
    writeErr: (text) => context.streams.stderr.write(text),
  });
  for (const sub of command.commands) configureEverywhere(sub, context);
}

function everyCommand(command: Command): Command[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

/** Options of {@link runCli}. */
export interface RunOptions {
  streams?: Streams;
  env?: Readonly<Record<string, string | undefined>>;
}

/** `tollgate limits get`, for a command's help hint. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current !== null; current = current.parent) {
    names.unshift(current.name());
  }
  return names.join(' ');
}

/** The flag (or argument) a field of a library `ValidationError` came from in this command. */
function flagFor(command: Command, field: string): string | undefined {
  const option = command.options.find((candidate) => candidate.attributeName() === field);
  if (option?.long !== undefined) return option.long;
  if (command.registeredArguments.some((argument) => argument.name() === 'id')) {
    if (field === 'id' || field === 'entity') return '<id>';
  }
  return FIELD_FLAGS[field];
}

const FIELD_FLAGS: Readonly<Record<string, string>> = {
  timeoutMs: '--timeout',
  tableName: '--table',
  limit: '--limit',
};

/** A library message that names an option by its field (`` `entity` ``) names the flag instead. */
function withFlags(message: string, error: unknown, command: Command | undefined): string {
  const field = (error as { field?: unknown }).field;
  if (command === undefined || !isTollgateError(error) || typeof field !== 'string') return message;
  const flag = flagFor(command, field);
  if (flag === undefined) return message;
  const named = message.replaceAll(`\`${field}\``, flag);
  return named === message ? `${flag}: ${message}` : named;
}

/**
 * Runs the CLI on `argv` (as `process.argv`: node, script, arguments) and
 * resolves with the exit code; never calls `process.exit`. Every error,
 * usage errors from the command line included, is printed as one line
 * starting with `tollgate:` (with `--json`: one JSON object
 * `{"error":{"code","message"[,"reason"]}}` on stderr), with an exit code
 * from `EXIT` chosen by `describeFailure`.
 *
 * @example
 * process.exitCode = await runCli(process.argv);
 */
export async function runCli(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const streams = options.streams ?? { stdout: process.stdout, stderr: process.stderr };
  const context: CliContext = { streams, env: options.env ?? process.env };
  const json = argv.includes('--json');
  const program = createProgram(context);
  let usageError: { message: string; command: Command } | undefined;
  let invoked: Command | undefined;
  for (const command of everyCommand(program)) {
    command.configureOutput({
      // Printed below, with the prefix (or as JSON), once the parse has failed.
      outputError: (text) => {
        usageError ??= { message: text.trim().replace(/^error: /, ''), command };
      },
      // With --json, commander's own text (help after a missing command) would not be JSON.
      ...(json ? { writeErr: () => undefined } : {}),
    });
  }
  program.hook('preAction', (_, actionCommand) => {
    invoked = actionCommand;
  });
  const report = (failure: { code: string; message: string; reason?: string | undefined }) => {
    if (json) {
      const { code, message, reason } = failure;
      streams.stderr.write(
        `${JSON.stringify({ error: { code, message, ...(reason === undefined ? {} : { reason }) } })}\n`,
      );
    } else streams.stderr.write(`tollgate: ${failure.message}\n`);
  };
  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.exitCode === 0
      ) {
        return EXIT.ok;
      }
      const message =
        usageError === undefined
          ? 'missing command (see --help for the list)'
          : `${usageError.message} (see \`${commandPath(usageError.command)} --help\`)`;
      report({ code: USAGE_CODE, message });
      return EXIT.usage;
    }
    const failure = describeFailure(error, invoked === undefined ? undefined : serviceTarget(invoked));
    // An empty message is a result printed already (e.g. `local status`: not running).
    if (failure.message !== '') report({ ...failure, message: withFlags(failure.message, error, invoked) });
    return failure.exitCode;
  }
}

/** The code of a command line that cannot be parsed (unknown option or command, missing argument). */
export const USAGE_CODE = 'ERR_TOLLGATE_CLI_USAGE';
