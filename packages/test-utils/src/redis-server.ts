import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, stopProcess } from './dynamodb-process.js';

/** How long a fresh redis-server may take to answer PING. */
const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;

/** A redis-server started for a test. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** The server process (to freeze it with SIGSTOP, say). */
  readonly pid: number | undefined;
  /** Stops the server (its data is gone: it runs without persistence). */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Port to listen on; default: a free one. Pass the old port to restart after `stop()`. */
  port?: number;
  /** Longest wait for the first PONG, in ms (default 10 000). */
  readyTimeoutMs?: number;
  /** More `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: readonly string[];
}

const MISSING =
  'redis-server is not on the PATH. The Redis tests start a real one: install it ' +
  '(Debian/Ubuntu: `apt-get update && apt-get install -y redis-server`; macOS: `brew install redis`).';

/**
 * Starts `redis-server` on 127.0.0.1 without persistence (`--save '' --appendonly no`)
 * and waits until it answers PING. Fails with a message saying how to install
 * it when `redis-server` is missing; nothing is skipped.
 *
 * @example
 * let server: RedisServer;
 * beforeAll(async () => { server = await startRedisServer(); });
 * afterAll(() => server.stop());
 */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  let child: ChildProcess;
  let exit: string | undefined;
  let output = '';
  try {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        host,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    throw new Error(MISSING, { cause: error });
  }
  // A test or benchmark that dies must not leave its server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('error', (error: NodeJS.ErrnoException) => {
    exit = error.code === 'ENOENT' ? MISSING : `could not start redis-server: ${error.message}`;
  });
  child.once('exit', (code, signal) => {
    exit ??= `redis-server exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${output.trim()}`;
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? READY_TIMEOUT_MS);
  for (;;) {
    if (exit !== undefined) throw new Error(exit);
    if (await answersPing(host, port)) break;
    if (Date.now() >= deadline) {
      await stopProcess(child);
      throw new Error(`redis-server on port ${port} did not answer PING in time: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  return { host, port, pid: child.pid, stop: () => stopProcess(child) };
}

/** True when a server on host:port answers `PING` with `+PONG`. */
export function answersPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
