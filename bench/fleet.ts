/**
 * A fleet on one hot key: several OS processes, each with its own limiter and
 * DynamoDBStore, acquire from one bucket on one DynamoDB Local, with and
 * without reserved blocks. Reports the fleet's decisions per second and the
 * writes per second the item receives.
 * Run alone: node --import tsx bench/fleet.ts
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestTable, type DynamoDBLocal, localClient, startDynamoDBLocal } from '@tollgate/test-utils';
import type { FleetWorkerConfig, FleetWorkerReport } from './fleet-worker.js';
import { markdownTable, type Row } from './table.js';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** Options of {@link runFleetBench}. */
export interface FleetBenchOptions {
  endpoint?: string;
  processes?: number;
  /** Concurrent callers per process (default 50). */
  concurrency?: number;
  durationMs?: number;
  log?: (line: string) => void;
}

/** Runs the fleet without and with reservation; one row each. */
export async function runFleetBench(options: FleetBenchOptions = {}): Promise<Row[]> {
  const processes = options.processes ?? 4;
  const concurrency = options.concurrency ?? 50;
  const durationMs = options.durationMs ?? 5000;
  const log = options.log ?? (() => {});
  let local: DynamoDBLocal | undefined;
  let endpoint = options.endpoint;
  if (endpoint === undefined) {
    local = await startDynamoDBLocal();
    endpoint = local.endpoint;
  }
  const admin = localClient(endpoint);
  const rows: Row[] = [];
  try {
    const tableName = await createTestTable(admin, 'tollgate-fleet');
    // Warm the JVM up first, so that neither mode pays for it.
    await runFleet(
      { endpoint, tableName, namespace: 'warm-up', concurrency: 10, durationMs: 3000, reserve: false },
      processes,
    );
    for (const reserve of [false, true]) {
      const mode = reserve ? 'coalesced + ReservingStore' : 'coalesced';
      const reports = await runFleet(
        {
          endpoint,
          tableName,
          namespace: `fleet-${reserve ? 'reserved' : 'plain'}`,
          concurrency,
          durationMs,
          reserve,
        },
        processes,
      );
      const decisions = reports.reduce((sum, report) => sum + report.decisions, 0);
      const writes = reports.reduce((sum, report) => sum + report.writes, 0);
      const admitted = reports.reduce((sum, report) => sum + report.admitted, 0);
      rows.push({
        mode,
        processes,
        'callers per process': concurrency,
        'fleet decisions/s': Math.round((decisions * 1000) / durationMs),
        'item writes/s': Math.round((writes * 1000) / durationMs),
        'decisions per write': Math.round((10 * decisions) / Math.max(1, writes)) / 10,
        admitted: `${Math.round((100 * admitted) / Math.max(1, decisions))}%`,
      });
      log(`${mode}: ${decisions} decisions, ${writes} writes`);
    }
  } finally {
    admin.destroy();
    await local?.stop();
  }
  return rows;
}

async function runFleet(
  base: Omit<FleetWorkerConfig, 'startAt' | 'ratePerMinute'>,
  processes: number,
): Promise<FleetWorkerReport[]> {
  // Processes take a second or two to load: start them all at one wall-clock time.
  const config: FleetWorkerConfig = { ...base, startAt: Date.now() + 4000, ratePerMinute: 60_000_000 };
  return Promise.all(Array.from({ length: processes }, () => runWorker(config)));
}

function runWorker(config: FleetWorkerConfig): Promise<FleetWorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, WORKER, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || !line) reject(new Error(`fleet worker exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(line) as FleetWorkerReport);
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(markdownTable(await runFleetBench({ log: (line) => console.error(line) })));
}
