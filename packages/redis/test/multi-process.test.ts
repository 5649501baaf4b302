import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Limit } from '@tollgate/core';
import { type RedisServer, startRedisServer } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisWorkerConfig, RedisWorkerReport } from './workers/acquire-worker.js';

const WORKER = fileURLToPath(new URL('./workers/acquire-worker.ts', import.meta.url));
const PROCESSES = 4;
const ACQUIRERS = 25;

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());

function spawnWorker(config: RedisWorkerConfig) {
  const child = spawn(
    process.execPath,
    ['--conditions=tollgate-source', '--import', 'tsx', WORKER, JSON.stringify(config)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const report = new Promise<RedisWorkerReport>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || line === undefined || line === 'ready') {
        reject(new Error(`Worker exited with ${code}: ${stderr}`));
        return;
      }
      resolve(JSON.parse(line) as RedisWorkerReport);
    });
  });
  const failed = report.then(
    () => undefined,
    (error: unknown) => Promise.reject(error),
  );
  return { ready: Promise.race([ready, failed]), start: (at: number) => child.stdin.end(`${at}\n`), report };
}

describe(`${PROCESSES} processes × ${ACQUIRERS} acquirers on one bucket in Redis`, () => {
  it('admit exactly the capacity of a bucket that does not refill', async () => {
    const config: RedisWorkerConfig = {
      port: server.port,
      prefix: 'multi:',
      limits: [Limit.perDay('req', 200).toJSON(), Limit.perDay('tokens', 10_000).toJSON()],
      concurrency: ACQUIRERS,
    };
    const workers = Array.from({ length: PROCESSES }, () => spawnWorker(config));
    await Promise.all(workers.map((worker) => worker.ready));
    const startAt = Date.now() + 200;
    for (const worker of workers) worker.start(startAt);
    const reports = await Promise.all(workers.map((worker) => worker.report));
    expect(reports.flatMap((report) => report.errors)).toEqual([]);
    expect(reports.reduce((sum, report) => sum + report.admitted, 0)).toBe(200);
    expect(reports.reduce((sum, report) => sum + report.rejected, 0)).toBe(PROCESSES * ACQUIRERS);
    // Every process took part.
    expect(reports.every((report) => report.admitted > 0)).toBe(true);
  }, 60_000);
});
