import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/src/bin.ts');

/** Far above `--timeout 500` plus the process start (tsx compiles the sources), far below "hangs". */
const NO_HANG_MS = 20_000;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when the process was still running at NO_HANG_MS and had to be killed. */
  killed: boolean;
}

/** Runs `tollgate` in a child process, as a user would, and kills it if it runs past NO_HANG_MS. */
function tollgate(args: string[]): Promise<CliRun> {
  const env = { ...process.env };
  for (const name of ['TOLLGATE_ENDPOINT', 'TOLLGATE_TABLE', 'TOLLGATE_NAMESPACE', 'TOLLGATE_TIMEOUT'])
    delete env[name];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=tollgate-source', '--import', 'tsx', BIN, ...args],
      { cwd: ROOT, env, timeout: NO_HANG_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const failed = error as (Error & { code?: unknown; killed?: boolean }) | null;
        resolve({
          code: failed === null ? 0 : typeof failed.code === 'number' ? failed.code : null,
          stdout,
          stderr,
          killed: failed?.killed === true,
        });
      },
    );
  });
}

/** Runs the calls at most `width` at a time (the machine is shared). */
async function inBatches<T>(calls: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < calls.length; start += width) {
    results.push(...(await Promise.all(calls.slice(start, start + width).map((call) => call()))));
  }
  return results;
}

const COMMANDS: [string, string[]][] = [
  ['table status', ['table', 'status']],
  ['table create', ['table', 'create']],
  ['table delete', ['table', 'delete']],
  ['aggregate --once', ['aggregate', '--once']],
  ['limits get', ['limits', 'get', '--entity', 'key-1']],
  ['entity get', ['entity', 'get', 'key-1']],
  ['entity update', ['entity', 'update', 'key-1', '--name', 'Key one']],
  ['entity reset', ['entity', 'reset', 'key-1']],
  ['usage', ['usage', '--entity', 'key-1']],
];

describe('every command honours --timeout against an endpoint that accepts and never answers', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let endpoint: string;
  const human = new Map<string, CliRun>();
  const json = new Map<string, CliRun>();

  beforeAll(async () => {
    // Accepts every connection, reads what it is sent, never writes a byte.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
    const connection = ['--endpoint', endpoint, '--timeout', '500'];
    const runs = await inBatches(
      COMMANDS.flatMap(([name, args]) => [
        async () => human.set(name, await tollgate([...args, ...connection])),
        async () => json.set(name, await tollgate([...args, ...connection, '--json'])),
      ]),
      4,
    );
    expect(runs).toHaveLength(COMMANDS.length * 2);
  }, 240_000);

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server?.close();
  });

  it.each(COMMANDS.map(([name]) => [name]))(
    '`%s --timeout 500` exits 5 with a tollgate: message naming --timeout',
    (name) => {
      const run = human.get(name)!;
      expect(run.killed, `${name} was still running after ${NO_HANG_MS} ms`).toBe(false);
      expect(run.code, run.stderr).toBe(5);
      const lines = run.stderr.trim().split('\n');
      const error = lines.at(-1)!;
      expect(error).toMatch(
        /^tollgate: DynamoDB at http:\/\/127\.0\.0\.1:\d+ \(--endpoint\) did not answer /,
      );
      expect(error).toContain('within 500 ms (--timeout)');
      expect(run.stdout).toBe('');
    },
  );

  it.each(COMMANDS.map(([name]) => [name]))(
    '`%s --timeout 500 --json` exits 5 with one JSON error on stderr',
    (name) => {
      const run = json.get(name)!;
      expect(run.killed, `${name} was still running after ${NO_HANG_MS} ms`).toBe(false);
      expect(run.code, run.stderr).toBe(5);
      const error = JSON.parse(run.stderr) as { error: { code: string; message: string; reason: string } };
      expect(error.error).toMatchObject({ code: 'ERR_TOLLGATE_UNAVAILABLE', reason: 'timeout' });
      expect(error.error.message).toContain(`DynamoDB at ${endpoint} (--endpoint) did not answer`);
      expect(error.error.message).toContain('(--timeout)');
      expect(run.stdout).toBe('');
    },
  );
});
