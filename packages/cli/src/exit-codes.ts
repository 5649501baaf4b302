import { isTollgateError } from '@tollgate/core';

/**
 * What the `tollgate` command's exit status means. Stable: scripts may test
 * for them.
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
  /** It exists already or is in the way: entity id taken, table exists, DynamoDB Local already running, entity has children. */
  conflict: 4,
  /** DynamoDB (or DynamoDB Local, or AWS) could not be reached or did not answer in time. */
  unavailable: 5,
  /** A stack deployment or deletion failed and was rolled back. */
  deployFailed: 6,
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

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

/** The exit status for any error a command throws. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (isTollgateError(error)) {
    switch (error.code) {
      case 'ERR_TOLLGATE_ENTITY_NOT_FOUND':
        return EXIT.notFound;
      case 'ERR_TOLLGATE_ENTITY_EXISTS':
      case 'ERR_TOLLGATE_ENTITY_HAS_CHILDREN':
        return EXIT.conflict;
      case 'ERR_TOLLGATE_UNAVAILABLE':
        return EXIT.unavailable;
      default:
        return EXIT.usage;
    }
  }
  if (error instanceof Error) {
    // AWS SDK errors carry their exception type in `name`.
    if (error.name === 'ResourceNotFoundException') return EXIT.notFound;
    if (error.name === 'ResourceInUseException') return EXIT.conflict;
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return EXIT.unavailable;
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return EXIT.unavailable;
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause !== undefined && cause !== error) {
      const inner = exitCodeFor(cause);
      if (inner !== EXIT.failure) return inner;
    }
  }
  return EXIT.failure;
}

/** The machine-readable code printed for an error with `--json`. */
export function errorCodeFor(error: unknown): string {
  if (error instanceof CliError || isTollgateError(error)) return error.code;
  if (error instanceof Error) return error.name;
  return 'Error';
}
