import { Command } from 'commander';
import { type CliContext, outputFor, withJson } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import {
  answers,
  isAlive,
  readState,
  startLocalInstance,
  stateDirectory,
  stopLocalInstance,
} from '../local/local-instance.js';
import { details } from '../output.js';

interface LocalOptions {
  stateDir?: string;
  json?: boolean;
}

interface StartOptions extends LocalOptions {
  port: string;
  dbPath?: string;
  inMemory?: boolean;
  readyTimeout: string;
}

function withStateDir(command: Command): Command {
  return withJson(
    command.option('--state-dir <dir>', 'where the pid and port are recorded (default ~/.tollgate)'),
  );
}

/** `tollgate local start|stop|status`: DynamoDB Local for development. */
export function localCommand(context: CliContext): Command {
  const command = new Command('local').description(
    'run DynamoDB Local (bundled jar; needs java 17+) for development',
  );

  withStateDir(
    command
      .command('start')
      .description('start DynamoDB Local in the background and print the endpoint to use')
      .option('--port <port>', 'port to listen on', '8000')
      .option('--db-path <dir>', 'keep the database in files under this directory (default: in memory)')
      .option('--in-memory', 'keep the database in memory (the default)')
      .option('--ready-timeout <ms>', 'longest wait for it to answer', '60000'),
  ).action(async (options: StartOptions) => {
    if (options.inMemory === true && options.dbPath !== undefined) {
      throw new CliError(
        EXIT.usage,
        'ERR_TOLLGATE_INVALID_OPTION',
        'Use either --in-memory or --db-path, not both',
      );
    }
    const output = outputFor(options, context);
    const readySeconds = Math.ceil(Number(options.readyTimeout) / 1000);
    const progress = output.progress('Starting DynamoDB Local (seconds)', readySeconds);
    try {
      const state = await startLocalInstance({
        stateDir: stateDirectory(options.stateDir, context.env),
        port: Number(options.port),
        dbPath: options.dbPath,
        readyTimeoutMs: Number(options.readyTimeout),
        onWait: (waited) =>
          progress.update(Math.min(59, Math.floor(waited / 1000)), 'waiting for it to answer'),
      });
      progress.stop();
      output.result({ running: true, ...state }, () =>
        [
          `DynamoDB Local is running at ${state.endpoint} (pid ${state.pid}, ${state.dbPath === undefined ? 'in memory' : `files in ${state.dbPath}`})`,
          `Use it with:  export TOLLGATE_ENDPOINT=${state.endpoint}`,
        ].join('\n'),
      );
    } finally {
      progress.stop();
    }
  });

  withStateDir(
    command.command('stop').description('stop the DynamoDB Local started by `local start`'),
  ).action(async (options: LocalOptions) => {
    const state = await stopLocalInstance(stateDirectory(options.stateDir, context.env));
    outputFor(options, context).result(
      { running: false, stopped: true, ...state },
      () => `Stopped DynamoDB Local at ${state.endpoint} (pid ${state.pid})`,
    );
  });

  withStateDir(
    command.command('status').description('tell whether DynamoDB Local is running (exit 0) or not (exit 3)'),
  ).action(async (options: LocalOptions) => {
    const state = await readState(stateDirectory(options.stateDir, context.env));
    const output = outputFor(options, context);
    const alive = state !== undefined && isAlive(state.pid);
    const answering = alive && (await answers(state.endpoint));
    if (state === undefined || !alive) {
      output.result({ running: false }, () => 'DynamoDB Local is not running');
      throw new CliError(EXIT.notFound, 'ERR_TOLLGATE_CLI_LOCAL_NOT_RUNNING', '', {});
    }
    output.result({ running: true, answering, ...state }, () =>
      details([
        ['endpoint', state.endpoint],
        ['pid', state.pid],
        ['answering', answering ? 'yes' : 'no'],
        ['database', state.dbPath ?? 'in memory'],
        ['started', state.startedAt],
      ]),
    );
  });
  return command;
}
