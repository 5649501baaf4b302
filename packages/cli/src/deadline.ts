/** The deadline of a request when `--timeout` is not given, in ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A request to an AWS service got no answer within its deadline (`--timeout`).
 * The command reports it as a connection failure (`ERR_TOLLGATE_UNAVAILABLE`, exit 5).
 */
export class DeadlineExceeded extends Error {
  /** The deadline that passed, in ms. */
  readonly timeoutMs: number;
  /** The AWS operation that got no answer, e.g. `DescribeTable`, when known. */
  readonly operation: string | undefined;

  constructor(timeoutMs: number, operation: string | undefined, options?: { cause?: unknown }) {
    super(`${operation ?? 'A request'} got no answer within ${timeoutMs} ms`, options);
    this.name = 'DeadlineExceeded';
    this.timeoutMs = timeoutMs;
    this.operation = operation;
  }
}

/** The part of `HttpHandlerOptions` this module sets. */
interface SendOptions {
  abortSignal?: AbortSignal;
}

type Send = (command: unknown, options?: SendOptions) => Promise<unknown>;

/**
 * Gives every request `client` sends a deadline of `timeoutMs`: the SDK's
 * `send` gets an abort signal (joined with the caller's own, when it passes
 * one) and a request that is still unanswered at the deadline fails with
 * {@link DeadlineExceeded}. The SDK does not retry an aborted request, so the
 * deadline bounds each call with its retries. This covers every path that
 * sends through the client, also inside `@tollgate/dynamodb` (`createTable`,
 * its waiters, the store, the aggregator) and the aggregated clients
 * (`new DynamoDBStreams(...)`), which all call `client.send`. The call rejects at the deadline even if the
SDK is stuck where it does not check the signal.
 *
 * @example
 * const client = withDeadline(new DynamoDBClient(config), 5000);
 */
export function withDeadline<Client extends object>(client: Client, timeoutMs: number): Client {
  const sender = client as unknown as { send: Send };
  const send = sender.send.bind(client);
  const sendWithDeadline = async (command: unknown, options?: SendOptions): Promise<unknown> => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const callerSignal = options?.abortSignal;
    const abortSignal = callerSignal === undefined ? deadline : AbortSignal.any([callerSignal, deadline]);
    const running = send(command, { ...options, abortSignal });
    // The deadline wins even where the SDK would not notice the abort (resolving credentials).
    let onDeadline: (() => void) | undefined;
    const expired = new Promise<never>((_, reject) => {
      onDeadline = () => reject(new DeadlineExceeded(timeoutMs, operationOf(command)));
      deadline.addEventListener('abort', onDeadline, { once: true });
    });
    try {
      return await Promise.race([running, expired]);
    } catch (error) {
      if (deadline.aborted && callerSignal?.aborted !== true) {
        running.catch(() => undefined);
        if (error instanceof DeadlineExceeded) throw error;
        throw new DeadlineExceeded(timeoutMs, operationOf(command), { cause: error });
      }
      throw error;
    } finally {
      if (onDeadline !== undefined) deadline.removeEventListener('abort', onDeadline);
    }
  };
  Object.defineProperty(client, 'send', { value: sendWithDeadline, configurable: true, writable: true });
  return client;
}

/** `DescribeTable` for a `DescribeTableCommand`. */
function operationOf(command: unknown): string | undefined {
  const name = (command as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name.endsWith('Command') ? name.slice(0, -'Command'.length) : undefined;
}
