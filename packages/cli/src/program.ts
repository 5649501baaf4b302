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
import type { CliContext } from './context.js';
import { EXIT, errorCodeFor, exitCodeFor } from './exit-codes.js';
import type { Streams } from './output.js';

/** The CLI's version, printed by `--version`. */
export const VERSION = '0.1.0';

/** Builds the `tollgate` command tree. Commands do their work in async actions; nothing runs here. */
export function createProgram(context: CliContext): Command {
  const program = new Command('tollgate')
    .description(
      'Tollgate: distributed rate limiting on DynamoDB. Development, operations and capacity planning.',
    )
    .version(VERSION)
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => context.streams.stdout.write(text),
      writeErr: (text) => context.streams.stderr.write(text),
    });
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

/** Output streams, help after errors and no `process.exit` for every command (addCommand does not inherit them). */
function configureEverywhere(command: Command, context: CliContext): void {
  command
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => context.streams.stdout.write(text),
      writeErr: (text) => context.streams.stderr.write(text),
    });
  for (const sub of command.commands) configureEverywhere(sub, context);
}

/** Options of {@link runCli}. */
export interface RunOptions {
  streams?: Streams;
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Runs the CLI on `argv` (as `process.argv`: node, script, arguments) and
 * resolves with the exit code; never calls `process.exit`. Errors are
 * printed as one line (`--json`: a JSON object on stderr) with an exit code
 * from `EXIT`.
 *
 * @example
 * process.exitCode = await runCli(process.argv);
 */
export async function runCli(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const streams = options.streams ?? { stdout: process.stdout, stderr: process.stderr };
  const context: CliContext = { streams, env: options.env ?? process.env };
  const json = argv.includes('--json');
  const program = createProgram(context);
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
      // Commander has printed the problem already.
      return EXIT.usage;
    }
    const exitCode = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    if (message !== '') {
      if (json)
        streams.stderr.write(`${JSON.stringify({ error: { code: errorCodeFor(error), message } })}\n`);
      else streams.stderr.write(`tollgate: ${message}\n`);
    }
    return exitCode;
  }
}
