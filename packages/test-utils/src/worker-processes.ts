import { spawn } from 'node:child_process';
import type { LimitDefinition, RateLimiter } from '@tollgate/core';

/**
 * One OS process of a multi-process test, started by {@link spawnWorker}.
 * The worker script prints `ready` once loaded, waits for a wall-clock start
 * time (ms) on stdin, and ends by printing its report as one JSON line.
 */
export interface WorkerProcess<Report> {
  /** Resolves when the worker has loaded and waits for the start time; rejects if it died first. */
  readonly ready: Promise<void>;
  /** Tells the worker when to start (wall clock, ms). */
  start(at: number): void;
  /** The worker's last line, parsed; rejects with its stderr when it exits otherwise. */
  readonly report: Promise<Report>;
}

/**
 * Spawns `script` (TypeScript, run through tsx from the workspace sources)
 * with `config` as JSON in `argv[2]`.
 *
 * @example
 * const worker = spawnWorker<Config, Report>(fileURLToPath(new URL('./workers/w.ts', import.meta.url)), config);
 */
export function spawnWorker<Config, Report>(script: string, config: Config): WorkerProcess<Report> {
  const child = spawn(
    process.execPath,
    ['--conditions=tollgate-source', '--import', 'tsx', script, JSON.stringify(config)],
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
  const report = new Promise<Report>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || line === undefined || line === 'ready') {
        reject(new Error(`Worker exited with ${code}: ${stderr}`));
        return;
      }
      resolve(JSON.parse(line) as Report);
    });
  });
  // A worker that dies before it is ready must not leave the test waiting.
  const failed = report.then(
    () => undefined,
    (error: unknown) => Promise.reject(error),
  );
  return {
    ready: Promise.race([ready, failed]),
    start: (at) => child.stdin.end(`${at}\n`),
    report,
  };
}

/**
 * Spawns one worker per config, waits until all are ready, starts them
 * together `startDelayMs` later, and returns their reports in config order.
 */
export async function runWorkers<Config, Report>(
  script: string,
  configs: readonly Config[],
  startDelayMs = 200,
): Promise<Report[]> {
  const workers = configs.map((config) => spawnWorker<Config, Report>(script, config));
  await Promise.all(workers.map((worker) => worker.ready));
  const startAt = Date.now() + startDelayMs;
  for (const worker of workers) worker.start(startAt);
  return Promise.all(workers.map((worker) => worker.report));
}

/**
 * The worker side, first step: prints `ready`, reads the start time the
 * parent writes to stdin, sleeps until then and returns it (wall clock, ms).
 */
export async function waitForStart(): Promise<number> {
  process.stdout.write('ready\n');
  const line = await new Promise<string>((resolve) => {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end >= 0) {
        process.stdin.pause();
        resolve(buffered.slice(0, end));
      }
    });
  });
  const startAt = Number(line);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
  return startAt;
}

/** The worker side, last step: the report, as the one JSON line the parent reads. */
export function sendReport(report: unknown): void {
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** What the acquirers of one worker process do (see {@link runAcquirers}). */
export interface AcquirerOptions {
  /** The limits in force (the fallback cost is one token of each). */
  limits: readonly LimitDefinition[];
  /** Costs the acquirers take in turn; default: one token of every limit. */
  consume?: Record<string, number>[];
  /** Acquirers in this process. */
  concurrency: number;
  /** How long they acquire, from the start time, in ms. */
  durationMs: number;
  /** Stop at the first refusal of one token of every limit (after falling back to it from a larger cost). */
  stopOnReject: boolean;
  /** Random extra pause after a refusal, in ms, so the acquirers of one process do not retry in lockstep. */
  retryJitterMs: number;
}

/** What the acquirers of one process observed. */
export interface AcquirerReport {
  /** The [before, after] clock readings around every admission. */
  admissions: [number, number][];
  /** Tokens admitted per limit. */
  consumed: Record<string, number>;
  rejections: number;
  /** The latest clock reading taken before a call that was refused (0 if none was). */
  latestRejectedBefore: number;
  errors: string[];
  /** Decisions made, admitted and refused. */
  decisions: number;
}

/**
 * Runs `options.concurrency` acquirers on the bucket (`hot`, `api`) through
 * `limiter` from `startAt` (wall clock, ms): each acquires until the time is
 * up or, with `stopOnReject`, until refused one token of every limit; after a
 * refusal it waits the answer's `retryAfterMs` (plus jitter), or falls back
 * from a larger cost to one token of every limit.
 */
export async function runAcquirers(
  limiter: RateLimiter,
  options: AcquirerOptions,
  startAt: number,
): Promise<AcquirerReport> {
  const report: AcquirerReport = {
    admissions: [],
    consumed: {},
    rejections: 0,
    latestRejectedBefore: 0,
    errors: [],
    decisions: 0,
  };
  const smallest = Object.fromEntries(options.limits.map((limit) => [limit.name, 1]));
  const endAt = startAt + options.durationMs;
  const acquirer = async (index: number): Promise<void> => {
    let turn = index;
    let fallen = options.consume === undefined;
    while (Date.now() < endAt) {
      const before = Date.now();
      const consume = fallen ? smallest : (options.consume?.[turn++ % options.consume.length] ?? smallest);
      try {
        const decision = await limiter.tryAcquire({ entity: 'hot', resource: 'api', consume });
        const after = Date.now();
        report.decisions += 1;
        if (decision.allowed) {
          report.admissions.push([before, after]);
          for (const [name, cost] of Object.entries(consume)) {
            report.consumed[name] = (report.consumed[name] ?? 0) + cost;
          }
          await decision.lease.commit();
          continue;
        }
        report.rejections += 1;
        report.latestRejectedBefore = Math.max(report.latestRejectedBefore, before);
        if (options.stopOnReject) {
          if (fallen) return;
          // A larger cost was refused: take what is left, one token of every limit at a time.
          fallen = true;
          continue;
        }
        await new Promise((resolve) =>
          setTimeout(resolve, decision.retryAfterMs + Math.random() * options.retryJitterMs),
        );
      } catch (error) {
        report.errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => acquirer(index)));
  return report;
}
