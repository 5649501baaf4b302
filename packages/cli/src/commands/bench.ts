import { RateLimiter } from '@tollgate/core';
import { Command, Option } from 'commander';
import type { KeyDistribution } from '../bench/key-distribution.js';
import { type BenchResult, runBench } from '../bench/run-bench.js';
import {
  type CliContext,
  type ConnectionOptions,
  openStore,
  outputFor,
  storeTimeout,
  withConnection,
} from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { formatLimitSpec, parseLimitSpec } from '../limit-spec.js';
import { details, table } from '../output.js';

interface BenchCommandOptions extends ConnectionOptions {
  concurrency: string;
  duration: string;
  requests?: string;
  distribution: KeyDistribution;
  keys: string;
  zipfExponent: string;
  seed: string;
  resource: string;
  limit: string[];
  consume?: string;
  entityPrefix: string;
}

function positive(value: string, flag: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected ${flag} to be a positive number, got "${value}"`,
    );
  }
  return parsed;
}

/** Parses `rpm=1,tpm=500` into a consumption. */
export function parseConsume(text: string): Record<string, number> {
  const consume: Record<string, number> = {};
  for (const part of text.split(',')) {
    const match = /^\s*([A-Za-z][A-Za-z0-9_.-]*)=(\d+)\s*$/.exec(part);
    if (match === null) {
      throw new CliError(
        EXIT.usage,
        'ERR_TOLLGATE_INVALID_OPTION',
        `Expected --consume like rpm=1,tpm=500, got "${text}"`,
      );
    }
    consume[match[1]!] = Number(match[2]);
  }
  return consume;
}

/** `tollgate bench`: a load test against a configured table. */
export function benchCommand(context: CliContext): Command {
  return withConnection(
    new Command('bench')
      .description(
        'load-test acquire against a table: latency percentiles, decisions/s, admitted and limited',
      )
      .option('-c, --concurrency <n>', 'requests in flight at once', '16')
      .option('-d, --duration <seconds>', 'how long to run', '10')
      .option('-n, --requests <n>', 'stop after this many decisions (before the duration ends)')
      .addOption(
        new Option('--distribution <kind>', 'how entities are picked: one hot key, uniform, or zipf')
          .choices(['hot', 'uniform', 'zipf'])
          .default('uniform'),
      )
      .option('--keys <n>', 'distinct entities for uniform and zipf', '1000')
      .option('--zipf-exponent <s>', 'zipf skew', '1.1')
      .option('--seed <n>', 'random seed, for repeatable key sequences', '1')
      .option('--resource <name>', 'resource of every request', 'bench')
      .option(
        '-l, --limit <spec>',
        'limit applied when none is stored, name:rate/period[:burst] (repeatable; default rpm:600/min)',
        (value: string, previous: string[] = []) => [...previous, value],
        [],
      )
      .option('--consume <amounts>', 'tokens per request, e.g. rpm=1,tpm=500 (default: 1 of every limit)')
      .option('--entity-prefix <prefix>', 'entity ids are <prefix><n>', 'bench-'),
  ).action(async (options: BenchCommandOptions) => {
    const output = outputFor(options, context);
    const limits = (options.limit.length === 0 ? ['rpm:600/min'] : options.limit).map(parseLimitSpec);
    const durationMs = positive(options.duration, '--duration') * 1000;
    const requests = options.requests === undefined ? undefined : positive(options.requests, '--requests');
    const limiter = new RateLimiter({
      store: openStore(options, context),
      limits,
      timeoutMs: storeTimeout(options),
    });
    const progress =
      requests === undefined
        ? output.progress('bench', Math.ceil(durationMs / 1000))
        : output.progress('bench', requests);
    try {
      const result = await runBench({
        limiter,
        concurrency: positive(options.concurrency, '--concurrency'),
        durationMs,
        requests,
        distribution: options.distribution,
        keys: positive(options.keys, '--keys'),
        zipfExponent: positive(options.zipfExponent, '--zipf-exponent'),
        seed: Number(options.seed),
        resource: options.resource,
        consume: options.consume === undefined ? undefined : parseConsume(options.consume),
        entityPrefix: options.entityPrefix,
        onProgress: (decisions, elapsedMs) =>
          progress.update(
            requests === undefined
              ? Math.min(Math.floor(elapsedMs / 1000), Math.ceil(durationMs / 1000))
              : decisions,
            `${decisions} decisions`,
          ),
      });
      progress.stop();
      const report = { ...result, defaultLimits: limits.map((limit) => formatLimitSpec(limit.toJSON())) };
      output.result(report, () => benchReport(report));
      if (result.decisions > 0 && result.errors === result.decisions) {
        throw new CliError(
          EXIT.unavailable,
          'ERR_TOLLGATE_CLI_BENCH_FAILED',
          `Every request failed: ${result.firstError}`,
        );
      }
    } finally {
      progress.stop();
      await limiter.close();
    }
  });
}

/**
 * Which limits decided the requests, and whether stored limits overrode the
 * `-l` defaults: the limiter applies a stored set (entity, resource or
 * system scope) instead of its defaults wherever one exists.
 */
export function appliedLimitsReport(result: BenchResult, defaultLimits: readonly string[]): string {
  const defaults = defaultLimits.join(', ');
  if (result.appliedLimits.length === 0) return `limits applied: none reported (default -l: ${defaults})`;
  const counted = result.decisions - result.errors;
  const verdict =
    result.decisionsWithStoredLimits === 0
      ? `No stored limits applied: every decision used -l (${defaults}).`
      : result.decisionsWithStoredLimits === counted
        ? `Stored limits overrode -l (${defaults}) in every decision.`
        : `Stored limits overrode -l (${defaults}) in ${result.decisionsWithStoredLimits} of ${counted} decisions.`;
  return [
    table(
      ['limit applied', 'source', 'entity', 'decisions'],
      result.appliedLimits.map((limit) => [
        limit.spec,
        limit.source === 'default' ? '-l' : 'stored',
        limit.depth === 0 ? 'own' : `ancestor ${limit.depth}`,
        limit.decisions,
      ]),
    ),
    verdict,
  ].join('\n');
}

/** The result for people. */
export function benchReport(result: BenchResult & { defaultLimits?: readonly string[] }): string {
  const parts = [
    details([
      ['decisions', result.decisions],
      ['decisions/s', result.decisionsPerSecond],
      ['admitted', result.admitted],
      ['limited', result.limited],
      ['errors', result.errors],
      ['elapsed (ms)', result.elapsedMs],
    ]),
    table(
      ['latency (ms)', 'p50', 'p95', 'p99', 'max', 'mean'],
      [
        [
          'tryAcquire + commit',
          result.latencyMs.p50,
          result.latencyMs.p95,
          result.latencyMs.p99,
          result.latencyMs.max,
          result.latencyMs.mean,
        ],
      ],
    ),
  ];
  if (result.unitsPerCall !== undefined && Object.keys(result.unitsPerCall).length > 0) {
    parts.push(
      table(
        ['store call', 'WCU/call', 'RCU/call', 'round trips/call'],
        Object.entries(result.unitsPerCall).map(([kind, units]) => [
          kind,
          units.wcu,
          units.rcu,
          units.roundTrips,
        ]),
      ),
    );
  }
  parts.push(appliedLimitsReport(result, result.defaultLimits ?? []));
  if (result.firstError !== undefined) parts.push(`first error: ${result.firstError}`);
  return parts.join('\n');
}
