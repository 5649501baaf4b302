/**
 * HTTP middleware overhead: requests per second, p99 latency and the server's
 * CPU time per request of a one-route app (`GET /ping` → `{ ok: true }`) bare,
 * behind Tollgate's middleware on the in-process MemoryStore, and behind the
 * usual alternatives (express-rate-limit, koa-ratelimit with its in-memory
 * driver, @fastify/rate-limit with its local store, @nestjs/throttler), each
 * as a ratio to the same framework bare. Limits are far above the load, so
 * nothing is rejected and the difference is the middleware's own cost. CPU
 * per request is the steadiest of the three on a shared machine: it does not
 * depend on whether the load generator kept the server busy.
 *
 * Every app runs in a child process of its own; the load generator
 * (autocannon) runs in this one, so the two do not share an event loop. Where
 * `taskset` exists and there are at least two CPUs, the load generator is
 * pinned to CPU 0 and the apps to the others, so that the two never take
 * turns on one core (which made the ratios swing by a third between runs).
 *
 * Run alone (after `npm run build`): node --import tsx bench/http.ts
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { markdownTable, median, type Row } from './table.js';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');

/** Options of {@link runHttpBench}. */
export interface HttpBenchOptions {
  /** Measured seconds per app (default 9), after a 1 s warm-up, split over `rounds`. */
  durationSeconds?: number;
  /** Times each app of a framework is loaded, in turn with the others (default 9). */
  rounds?: number;
  /** Concurrent connections of the load generator (default 10). */
  connections?: number;
  /** Frameworks to cover (default all four). */
  frameworks?: readonly Framework[];
}

type Framework = 'express' | 'koa' | 'fastify' | 'nestjs';

/** One app to measure: how to start it and how to label it. */
interface Contender {
  framework: Framework;
  middleware: string;
  /** `node` arguments after the shared `--import tsx` flag. */
  args: string[];
  env?: Record<string, string>;
}

/** The part of autocannon's result this benchmark reads. */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
}) => Promise<AutocannonResult>;

const SELF = fileURLToPath(import.meta.url);
const NEST_BENCH_APP = join(repoRoot, 'packages/nestjs/test/bench-app.ts');
const NEST_TSCONFIG = join(repoRoot, 'packages/nestjs/tsconfig.json');

function contenders(frameworks: readonly Framework[]): Contender[] {
  const own = (framework: Framework, middleware: string, variant: string): Contender => ({
    framework,
    middleware,
    args: [SELF, '--serve', `${framework}:${variant}`],
  });
  const nest = (middleware: string, variant: string): Contender => ({
    framework: 'nestjs',
    middleware,
    args: [NEST_BENCH_APP, '--variant', variant, '--platform', 'express', '--port', '0'],
    env: { TSX_TSCONFIG_PATH: NEST_TSCONFIG },
  });
  const all: Contender[] = [
    own('express', 'bare', 'bare'),
    own('express', 'Tollgate rateLimit()', 'tollgate'),
    own('express', 'express-rate-limit', 'express-rate-limit'),
    own('koa', 'bare', 'bare'),
    own('koa', 'Tollgate rateLimit()', 'tollgate'),
    own('koa', 'koa-ratelimit (memory)', 'koa-ratelimit'),
    own('fastify', 'bare', 'bare'),
    own('fastify', 'Tollgate rateLimit', 'tollgate'),
    own('fastify', '@fastify/rate-limit (local)', 'fastify-rate-limit'),
    nest('bare', 'bare'),
    nest('Tollgate RateLimitGuard', 'tollgate'),
    nest('@nestjs/throttler', 'throttler'),
  ];
  return all.filter((contender) => frameworks.includes(contender.framework));
}

/**
 * Measures every contender and returns one row per app, with requests per
 * second and p99 latency as ratios to the same framework without rate
 * limiting. The apps of one framework run side by side and are loaded in
 * turn, `rounds` times each, starting each round with a different app. A
 * ratio is taken within each round, between loads seconds apart, and the
 * median over the rounds is reported, so drift in background load (which
 * moved bare req/s by half between runs on a shared machine) cancels out
 * rather than landing on one app. Takes about `3 × (durationSeconds + 1) + 3`
 * seconds per framework.
 */
export async function runHttpBench(options: HttpBenchOptions = {}): Promise<Row[]> {
  const duration = options.durationSeconds ?? 9;
  const connections = options.connections ?? 10;
  const rounds = Math.max(1, options.rounds ?? 9);
  const frameworks = (options.frameworks ?? ['express', 'koa', 'fastify', 'nestjs']).filter(
    (framework) => framework !== 'nestjs' || existsSync(NEST_BENCH_APP),
  );
  const autocannon = require('autocannon') as Autocannon;
  const appCpus = pinLoadGenerator();
  const rows: Row[] = [];
  for (const framework of frameworks) {
    const group = contenders([framework]);
    const apps = await Promise.all(group.map((contender) => startApp(contender, appCpus)));
    try {
      const samples = group.map(() => [] as Sample[]);
      for (const app of apps) await autocannon({ url: `${app.url}/ping`, connections, duration: 1 });
      for (let round = 0; round < rounds; round += 1) {
        for (let turn = 0; turn < apps.length; turn += 1) {
          const index = (round + turn) % apps.length;
          samples[index]!.push(await load(autocannon, apps[index]!, connections, duration / rounds));
        }
      }
      const bare = samples[0]!;
      group.forEach((contender, index) => {
        const summary = summarize(samples[index]!);
        const ratios = samples[index]!.map((result, round) => ({
          requests: result.requests.average / bare[round]!.requests.average,
          p99: result.latency.p99 / Math.max(bare[round]!.latency.p99, 1),
          cpu: result.cpuMicrosPerRequest / bare[round]!.cpuMicrosPerRequest,
        }));
        rows.push({
          framework,
          middleware: contender.middleware,
          'req/s': Math.round(summary.requestsPerSecond).toLocaleString('en-US'),
          'p99 ms': summary.p99Ms,
          'req/s ÷ bare': median(ratios.map((ratio) => ratio.requests)).toFixed(2),
          'p99 ÷ bare': median(ratios.map((ratio) => ratio.p99)).toFixed(2),
          'CPU µs/req': median(samples[index]!.map((sample) => sample.cpuMicrosPerRequest)).toFixed(1),
          'CPU/req ÷ bare': median(ratios.map((ratio) => ratio.cpu)).toFixed(2),
          'non-2xx/errors': summary.failures,
        });
      });
    } finally {
      await Promise.all(apps.map((app) => app.stop()));
    }
  }
  return rows;
}

/** Medians over the rounds of one app; failures are summed (they should be 0). */
function summarize(results: readonly AutocannonResult[]): {
  requestsPerSecond: number;
  p99Ms: number;
  failures: number;
} {
  return {
    requestsPerSecond: median(results.map((result) => result.requests.average)),
    p99Ms: median(results.map((result) => result.latency.p99)),
    failures: results.reduce((sum, result) => sum + result.non2xx + result.errors + result.timeouts, 0),
  };
}

/**
 * Pins this process (the load generator) to CPU 0 and returns the CPU list
 * for the apps, or undefined when pinning is not possible here.
 */
function pinLoadGenerator(): string | undefined {
  const cpus = availableParallelism();
  if (cpus < 2) return undefined;
  try {
    execFileSync('taskset', ['--cpu-list', '--pid', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return cpus === 2 ? '1' : `1-${cpus - 1}`;
}

/** A running app. */
interface App {
  url: string;
  /** CPU time the app's process has used so far, user and system, in µs. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/** One load of one app: autocannon's result and the app's CPU time per request it served. */
interface Sample extends AutocannonResult {
  cpuMicrosPerRequest: number;
}

/** Loads `app` for `duration` seconds, reading its CPU time before and after. */
async function load(
  autocannon: Autocannon,
  app: App,
  connections: number,
  duration: number,
): Promise<Sample> {
  const before = await app.cpuMicros();
  const result = await autocannon({ url: `${app.url}/ping`, connections, duration });
  const used = (await app.cpuMicros()) - before;
  return { ...result, cpuMicrosPerRequest: used / Math.max(result.requests.total, 1) };
}

/** Starts one app in a child process (on `cpus` when given) and waits for its `listening <url>` line. */
async function startApp(contender: Contender, cpus: string | undefined): Promise<App> {
  const node = [process.execPath, '--import', 'tsx', ...contender.args];
  const [command, ...args] = cpus === undefined ? node : ['taskset', '--cpu-list', cpus, ...node];
  const child = spawn(command!, args, {
    cwd: repoRoot,
    env: { ...process.env, ...contender.env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`${contender.framework} app did not start: ${output}`)),
      60_000,
    );
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      const match = /listening (\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${contender.framework} app exited with ${code}: ${output}`));
    });
  });
  const cpuMicros = (): Promise<number> =>
    new Promise((resolve) => {
      child.once('message', (usage: NodeJS.CpuUsage) => resolve(usage.user + usage.system));
      child.send('cpu');
    });
  return { url, cpuMicros, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Limits no benchmark load reaches: the cost measured is the middleware's, not rejections. */
async function unreachableLimiter() {
  const { Limit, MemoryStore, RateLimiter } = await import('@tollgate/core');
  return new RateLimiter({ store: new MemoryStore(), limits: [Limit.perSecond('rps', 1_000_000_000)] });
}

/** Child-process side: builds one app and prints `listening <url>`. */
async function serve(target: string): Promise<void> {
  const [framework, variant] = target.split(':');
  let listener: RequestListener;
  if (framework === 'express') {
    const { default: express } = await import('express');
    const app = express();
    if (variant === 'tollgate') {
      const { rateLimit } = await import('@tollgate/express');
      app.use(rateLimit({ limiter: await unreachableLimiter() }));
    } else if (variant === 'express-rate-limit') {
      const { rateLimit } = await import('express-rate-limit');
      app.use(
        rateLimit({
          windowMs: 60_000,
          limit: 1_000_000_000,
          standardHeaders: 'draft-8',
          legacyHeaders: false,
        }),
      );
    }
    app.get('/ping', (_req, res) => {
      res.json({ ok: true });
    });
    listener = app;
  } else if (framework === 'koa') {
    const { default: Koa } = await import('koa');
    const app = new Koa();
    if (variant === 'tollgate') {
      const { rateLimit } = await import('@tollgate/koa');
      app.use(rateLimit({ limiter: await unreachableLimiter() }));
    } else if (variant === 'koa-ratelimit') {
      const ratelimit = require('koa-ratelimit') as (
        options: Record<string, unknown>,
      ) => Parameters<typeof app.use>[0];
      app.use(
        ratelimit({
          driver: 'memory',
          db: new Map(),
          duration: 60_000,
          max: 1_000_000_000,
          id: (ctx: { ip: string }) => ctx.ip,
        }),
      );
    }
    app.use((ctx) => {
      if (ctx.path === '/ping') ctx.body = { ok: true };
    });
    listener = app.callback();
  } else if (framework === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    if (variant === 'tollgate') {
      const { rateLimit } = await import('@tollgate/fastify');
      await app.register(rateLimit, { limiter: await unreachableLimiter() });
    } else if (variant === 'fastify-rate-limit') {
      // Loaded untyped: its `config.rateLimit` route type and Tollgate's cannot share one program.
      const fastifyRateLimit = require('@fastify/rate-limit') as Parameters<typeof app.register>[0];
      await app.register(fastifyRateLimit, {
        max: 1_000_000_000,
        timeWindow: 60_000,
        enableDraftSpec: true,
      });
    }
    app.get('/ping', () => ({ ok: true }));
    await app.ready();
    // Fastify's own request handler, on the same plain server as the other frameworks.
    listener = app.routing;
  } else {
    throw new Error(`Unknown app ${target}`);
  }
  const server = createServer(listener);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    console.log(`listening http://127.0.0.1:${port}`);
  });
  // The parent asks for this process's CPU time to measure CPU per request.
  process.on('message', (message) => {
    if (message === 'cpu') process.send?.(process.cpuUsage());
  });
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const serveIndex = process.argv.indexOf('--serve');
  if (serveIndex >= 0) {
    await serve(process.argv[serveIndex + 1] ?? '');
  } else {
    console.log(markdownTable(await runHttpBench()));
  }
}
