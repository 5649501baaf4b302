import { Command } from 'commander';
import {
  type CapacityEstimate,
  DEFAULT_POLICY,
  DEFAULT_PROFILE,
  defaultUnits,
  estimateCapacity,
  type UnitsPerCall,
} from '../capacity/estimate.js';
import { DEFAULT_PRICES, DEFAULT_PRICES_SOURCE, type Prices } from '../capacity/prices.js';
import { type CliContext, outputFor, withJson } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { table } from '../output.js';

interface CapacityOptions {
  rps: string;
  limits: string;
  cascadeShare: string;
  cascadeDepth: string;
  rejectedShare: string;
  denyCacheShare: string;
  adjustShare: string;
  configMissShare: string;
  aggregator: boolean;
  snapshotWritesPerRecord: string;
  targetUtilization: string;
  peakFactor: string;
  wcuAcquire?: string;
  wcuCascadeItem?: string;
  wcuReject?: string;
  wcuAdjust?: string;
  rcuConfig?: string;
  wcuSnapshot?: string;
  priceWrite: string;
  priceRead: string;
  priceWcuHour: string;
  priceRcuHour: string;
  json?: boolean;
}

/** Parses a number, or a share written as a percentage (`20%` → 0.2). */
function num(value: string, flag: string): number {
  const percent = value.endsWith('%');
  const parsed = Number(percent ? value.slice(0, -1) : value);
  if (value.trim() === '' || !Number.isFinite(parsed)) {
    throw new CliError(
      EXIT.usage,
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected ${flag} to be a number, got "${value}"`,
    );
  }
  return percent ? parsed / 100 : parsed;
}

/** `tollgate capacity`: RCU/WCU and monthly cost from a traffic profile. */
export function capacityCommand(context: CliContext): Command {
  const d = DEFAULT_PROFILE;
  const u = defaultUnits(d.limitsPerRequest);
  return withJson(
    new Command('capacity')
      .description('estimate RCU/WCU per hour and month and the monthly cost, on-demand vs provisioned')
      .requiredOption('--rps <n>', 'average requests (acquire calls) per second')
      .option('--limits <n>', 'limits per request', String(d.limitsPerRequest))
      .option(
        '--cascade-share <share>',
        'share of admitted requests that cascade to ancestors (0-1 or %)',
        '0',
      )
      .option('--cascade-depth <n>', 'bucket items per cascading acquire', String(d.cascadeDepth))
      .option('--rejected-share <share>', 'share of requests rejected', '0')
      .option('--deny-cache-share <share>', 'share of rejections answered by the deny cache (no write)', '0')
      .option('--adjust-share <share>', 'share of admitted requests that adjust or roll back', '0')
      .option(
        '--config-miss-share <share>',
        'share of requests that miss the config cache',
        String(d.configMissShare),
      )
      .option('--no-aggregator', 'leave out usage snapshot writes')
      .option('--snapshot-writes-per-record <n>', 'snapshot writes per stream record (2 at most)', '2')
      .option(
        '--target-utilization <share>',
        'auto scaling target for provisioned mode',
        String(DEFAULT_POLICY.targetUtilization),
      )
      .option(
        '--peak-factor <n>',
        'peak-to-average ratio provisioned capacity must absorb',
        String(DEFAULT_POLICY.peakFactor),
      )
      .option('--wcu-acquire <units>', `WCU of an admitted acquire (default ${u.acquireWcu}, as measured)`)
      .option(
        '--wcu-cascade-item <units>',
        `WCU per item of a cascading acquire (default ${u.cascadeWcuPerItem})`,
      )
      .option('--wcu-reject <units>', `WCU of a rejection that reaches DynamoDB (default ${u.rejectWcu})`)
      .option('--wcu-adjust <units>', `WCU of an adjustment at commit (default ${u.adjustWcu})`)
      .option('--rcu-config <units>', `RCU of a config load (default ${u.configRcu})`)
      .option('--wcu-snapshot <units>', `WCU of a usage snapshot write (default ${u.snapshotWcu})`)
      .option(
        '--price-write <usd>',
        'on-demand USD per million write request units',
        String(DEFAULT_PRICES.onDemandWritePerMillion),
      )
      .option(
        '--price-read <usd>',
        'on-demand USD per million read request units',
        String(DEFAULT_PRICES.onDemandReadPerMillion),
      )
      .option(
        '--price-wcu-hour <usd>',
        'provisioned USD per WCU-hour',
        String(DEFAULT_PRICES.provisionedWcuHour),
      )
      .option(
        '--price-rcu-hour <usd>',
        'provisioned USD per RCU-hour',
        String(DEFAULT_PRICES.provisionedRcuHour),
      )
      .addHelpText('after', `\nDefault prices: ${DEFAULT_PRICES_SOURCE}.\nFormulas: docs/cli.md#capacity`),
  ).action((options: CapacityOptions) => {
    const limits = num(options.limits, '--limits');
    const measured = defaultUnits(limits);
    const unit = (value: string | undefined, flag: string, fallback: number) =>
      value === undefined ? fallback : num(value, flag);
    const units: UnitsPerCall = {
      acquireWcu: unit(options.wcuAcquire, '--wcu-acquire', measured.acquireWcu),
      cascadeWcuPerItem: unit(options.wcuCascadeItem, '--wcu-cascade-item', measured.cascadeWcuPerItem),
      rejectWcu: unit(options.wcuReject, '--wcu-reject', measured.rejectWcu),
      adjustWcu: unit(options.wcuAdjust, '--wcu-adjust', measured.adjustWcu),
      configRcu: unit(options.rcuConfig, '--rcu-config', measured.configRcu),
      snapshotWcu: unit(options.wcuSnapshot, '--wcu-snapshot', measured.snapshotWcu),
    };
    const prices: Prices = {
      onDemandWritePerMillion: num(options.priceWrite, '--price-write'),
      onDemandReadPerMillion: num(options.priceRead, '--price-read'),
      provisionedWcuHour: num(options.priceWcuHour, '--price-wcu-hour'),
      provisionedRcuHour: num(options.priceRcuHour, '--price-rcu-hour'),
    };
    const estimate = estimateCapacity(
      {
        requestsPerSecond: num(options.rps, '--rps'),
        limitsPerRequest: limits,
        cascadeShare: num(options.cascadeShare, '--cascade-share'),
        cascadeDepth: num(options.cascadeDepth, '--cascade-depth'),
        rejectedShare: num(options.rejectedShare, '--rejected-share'),
        denyCacheShare: num(options.denyCacheShare, '--deny-cache-share'),
        adjustShare: num(options.adjustShare, '--adjust-share'),
        configMissShare: num(options.configMissShare, '--config-miss-share'),
        aggregator: options.aggregator,
        snapshotWritesPerRecord: num(options.snapshotWritesPerRecord, '--snapshot-writes-per-record'),
      },
      units,
      prices,
      {
        targetUtilization: num(options.targetUtilization, '--target-utilization'),
        peakFactor: num(options.peakFactor, '--peak-factor'),
      },
    );
    outputFor(options, context).result(estimate, () => capacityReport(estimate));
  });
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits)).toLocaleString('en-US');
const usd = (value: number) =>
  `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** The estimate for people: units per second/hour/month, write sources, and the two costs. */
export function capacityReport(estimate: CapacityEstimate): string {
  const w = estimate.writesPerSecond;
  return [
    table(
      ['capacity', 'per second', 'per hour', 'per month (730 h)'],
      [
        [
          'WCU',
          round(estimate.wcu.perSecond),
          round(estimate.wcu.perHour, 0),
          round(estimate.wcu.perMonth, 0),
        ],
        [
          'RCU',
          round(estimate.rcu.perSecond),
          round(estimate.rcu.perHour, 0),
          round(estimate.rcu.perMonth, 0),
        ],
      ],
    ),
    table(
      ['WCU/s by source', 'units'],
      [
        ['admitted acquires', round(w.acquire)],
        ['cascading acquires', round(w.cascade)],
        ['rejections', round(w.reject)],
        ['adjustments', round(w.adjust)],
        ['usage snapshots', round(w.snapshots)],
      ],
    ),
    table(
      ['monthly cost', 'writes', 'reads', 'total'],
      [
        [
          'on-demand',
          usd(estimate.onDemand.writeUsd),
          usd(estimate.onDemand.readUsd),
          usd(estimate.onDemand.monthlyUsd),
        ],
        [
          `provisioned (${estimate.provisioned.wcu} WCU, ${estimate.provisioned.rcu} RCU)`,
          usd(estimate.provisioned.writeUsd),
          usd(estimate.provisioned.readUsd),
          usd(estimate.provisioned.monthlyUsd),
        ],
      ],
    ),
    `Cheaper: ${estimate.cheaper}. ${
      Object.entries(DEFAULT_PRICES).every(([key, value]) => estimate.prices[key as keyof Prices] === value)
        ? `Prices ${DEFAULT_PRICES_SOURCE}.`
        : 'Prices as given on the command line.'
    }`,
  ].join('\n');
}
