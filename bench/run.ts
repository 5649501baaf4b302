/**
 * `npm run bench`: every benchmark in one run, printed as Markdown tables. It
 * builds first and imports the built packages, as users run them.
 * `npm run bench -- --write` also rewrites docs/performance.md with the results
 * and draws each table as an SVG chart in docs/performance/<suite>.svg.
 * `npm run bench -- --only core,dynamodb,redis,http` picks suites; with `--write`, the
 * sections of the suites not run are kept from the current page.
 * `npm run bench -- --redraw` runs none: it rewrites the page and its charts
 * from the tables already on it (after a change to this text or the charts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { barsFromColumns, barsFromRows, type GroupedBarChart, groupedBarSvg, hasColumns } from './charts.js';
import { runCoreBench } from './core.js';
import { markdownTable, parseMarkdownTable, type Row } from './table.js';

/** One benchmark suite: how to run it, how to present its rows. */
export interface Suite {
  /** The name `--only` selects and the chart's file name (docs/performance/<name>.svg). */
  name: string;
  title: string;
  description: string;
  run(): Promise<Row[]>;
  /** The suite's chart, or undefined when the rows lack the columns it draws. */
  chart(rows: readonly Row[]): GroupedBarChart | undefined;
}

/** Decisions per second, one bar per library, grouped by concurrency, one panel per scenario. */
function concurrencyChart(
  rows: readonly Row[],
  title: string,
  subtitle: string,
): GroupedBarChart | undefined {
  if (!hasColumns(rows, ['library', 'scenario', 'concurrency', 'decisions/s'])) return undefined;
  return {
    title,
    subtitle,
    groupTitle: 'concurrent callers',
    seriesTitle: 'library',
    valueTitle: 'decisions/s',
    panelTitle: 'scenario',
    bars: barsFromRows(rows, {
      group: 'concurrency',
      series: 'library',
      value: 'decisions/s',
      panel: 'scenario',
    }).map((bar) => ({ ...bar, group: bar.group.replace(' (sequential)', '') })),
  };
}

/** The suites, in page order. */
export const suites: Suite[] = [
  {
    name: 'core',
    title: 'Core: RateLimiter on MemoryStore vs rate-limiter-flexible RateLimiterMemory',
    description:
      'Sequential admitted decisions in one process, one hot key and 100 000 keys round-robin, both libraries in the same run, ' +
      'taking turns for 15 rounds of 40 000 decisions, each round started by the other library: decisions/s are medians over the rounds, ' +
      'and the ratio is the median of the ratios within each round. ' +
      'Tollgate decides in exact BigInt nanoseconds over a store interface built for a shared database, with leases and statuses; ' +
      'rate-limiter-flexible keeps a counter in a Map. Both run on default options. On MemoryStore a decision is synchronous: one map lookup for the bucket, ' +
      'config read from the store itself (no cache to miss), a bucket evicted by a CLOCK sweep only when the store is full. ' +
      'With 100 000 keys both pay for memory the CPU cache does not hold, and the two are level. On one hot key, what remains of the gap is per-decision work that rate-limiter-flexible does not do: exact BigInt time arithmetic, hourly and daily usage counters, ' +
      'a lease that can be adjusted or refunded, and a decision object with lazily computed statuses. ' +
      'Behind a web framework the difference shrinks to the HTTP table below.',
    run: () => runCoreBench(),
    chart: (rows) =>
      hasColumns(rows, ['scenario', 'Tollgate decisions/s', 'rate-limiter-flexible decisions/s'])
        ? {
            title: 'Core: admitted decisions per second, one process, in-process stores',
            groupTitle: 'keys',
            seriesTitle: 'library',
            valueTitle: 'decisions/s',
            bars: barsFromColumns(rows, {
              group: 'scenario',
              series: {
                'Tollgate RateLimiter + MemoryStore': 'Tollgate decisions/s',
                'rate-limiter-flexible RateLimiterMemory': 'rate-limiter-flexible decisions/s',
              },
            }),
          }
        : undefined,
  },
  {
    name: 'dynamodb',
    title: 'DynamoDB Local: DynamoDBStore vs rate-limiter-flexible RateLimiterDynamo',
    description:
      'On one DynamoDB Local started by the benchmark, same run, one hot key, after both libraries warmed the JVM up; limits far above the load. Round trips and WCU are counted per decision from the requests actually sent. ' +
      'Tollgate decides under its default deadline (`timeoutMs` 500); `unavailable` counts the calls that missed it. ' +
      'Concurrent decisions of one process on one item set share one conditional write (coalescing): with n callers about 2/n round trips per decision, whatever the number of limits, and one transaction per batch for a cascade. ' +
      'rate-limiter-flexible sends a read-modify-write per key and limit (2 round trips each), so one item serialises its callers. ' +
      'Behind a ReservingStore most decisions are served from a block of tokens reserved in one write, in memory. Repeated rejections are answered from the deny cache without a request. ' +
      'The WCU column is what DynamoDB Local reports; what AWS bills is under [On AWS](#on-aws).',
    run: async () => (await import('./dynamodb.js')).runDynamoBench({}),
    chart: (rows) =>
      concurrencyChart(
        rows,
        'DynamoDB Local: decisions per second by concurrency, one hot key',
        'DynamoDB Local on this machine, not AWS. Each panel has its own scale.',
      ),
  },
  {
    name: 'fleet',
    title: 'DynamoDB Local: a fleet of processes on one hot key',
    description:
      'Four OS processes, each with its own limiter and DynamoDBStore and 50 concurrent callers, on one bucket of one DynamoDB Local; limits far above the load. ' +
      'Coalescing sends one write per batch of concurrent decisions in each process; a ReservingStore charges a block of tokens per write and serves decisions from it in memory, ' +
      'returning what it did not use. Writes per second counts every request that wrote the item: charges, reservations and refunds.',
    run: async () => (await import('./fleet.js')).runFleetBench({}),
    chart: (rows) =>
      hasColumns(rows, ['mode', 'fleet decisions/s', 'item writes/s'])
        ? {
            title: 'DynamoDB Local: a fleet on one hot key, decisions and item writes per second',
            groupTitle: 'mode',
            seriesTitle: 'measure',
            valueTitle: 'per second',
            bars: barsFromColumns(rows, {
              group: 'mode',
              series: { 'fleet decisions/s': 'fleet decisions/s', 'item writes/s': 'item writes/s' },
            }),
          }
        : undefined,
  },
  {
    name: 'redis',
    title: 'Redis: RedisStore vs rate-limiter-flexible RateLimiterRedis and rate-limit-redis',
    description:
      'On one redis-server started by the benchmark (a process of its own, on this machine, no network hop), the three libraries in alternating rounds, each with its own ioredis client on default settings; ' +
      'each figure is the median of the rounds. Limits far above the load: every decision is admitted. ' +
      "Tollgate's two limits live in one bucket and are decided by one script call; the peers have one counter per limit, so two limits are two limiters consumed per decision, which is what their users must do: " +
      "rate-limiter-flexible's `RateLimiterUnion` of two `RateLimiterRedis` (both sent at once), and for express-rate-limit two `rateLimit()` middlewares, i.e. two `rate-limit-redis` stores asked one after the other (`increment(key)`, the hit count against the limit). " +
      'Commands per decision are the `EVALSHA`/`EVAL` calls in `INFO commandstats` (all three libraries send nothing else while deciding); calls in scripts are the commands the scripts ran inside. ' +
      'Concurrent decisions of one process on one key share one script call (coalescing), so on one hot key Tollgate sends far fewer than one command per decision; on 100k keys every decision is its own call, ' +
      'and a key met for the first time within `configCacheTtlMs` (10 s) also reads its stored limits (one more command). ' +
      'CPU per decision is the time the load process and the redis-server process spent, from the operating system, which drifts less than decisions per second on a busy machine.',
    run: async () => (await import('./redis.js')).runRedisBench({}),
    chart: (rows) =>
      concurrencyChart(
        rows,
        'Redis: decisions per second by concurrency, same redis-server',
        'Each panel has its own scale.',
      ),
  },
  {
    name: 'http',
    title: 'HTTP middleware overhead (in-process store)',
    description:
      "Each app in a child process, load from autocannon in this process (pinned to separate CPUs where taskset exists); the apps of a framework loaded in turn for 9 rounds of 1 s, each round starting with a different app. Requests per second are medians over the rounds; the ratios to the bare framework are taken within each round and their median reported. CPU µs/req is the app process's CPU time per request served, the figure that depends least on whether the load generator kept the server busy. Limits are high enough that nothing is rejected. On the shared 2-core machine below, bare Koa ran at 18,000 req/s in one run and 35,000 in the next, and a ratio moved by up to 0.2 between runs: rows closer than that are within the noise.",
    run: async () => (await import('./http.js')).runHttpBench({}),
    chart: (rows) => {
      if (!hasColumns(rows, ['framework', 'middleware', 'req/s ÷ bare'])) return undefined;
      const kind = (middleware: string): string =>
        middleware === 'bare'
          ? 'bare framework'
          : middleware.startsWith('Tollgate')
            ? 'Tollgate'
            : 'peer library';
      const peers = [
        ...new Set(rows.map((row) => String(row['middleware'])).filter((m) => kind(m) === 'peer library')),
      ];
      return {
        title: 'HTTP: requests per second as a share of the bare framework',
        subtitle: ['Higher is better; 1 = no overhead.', `Peer libraries: ${peers.join(', ')}.`],
        groupTitle: 'framework',
        seriesTitle: 'middleware',
        valueTitle: 'req/s ÷ bare',
        format: '.2f',
        referenceLine: 1,
        bars: barsFromRows(rows, { group: 'framework', series: 'middleware', value: 'req/s ÷ bare' }).map(
          (bar) => ({ ...bar, series: kind(bar.series) }),
        ),
      };
    },
  },
];

/** Opening of docs/performance.md: where every figure comes from. */
const INTRO = `Every figure on this page was measured on one development machine, named under each table,
and **none on AWS**. The DynamoDB figures come from **DynamoDB Local**: Amazon's Java
implementation, in memory, started by the benchmark on that same machine. The core and HTTP
figures use the in-process MemoryStore. DynamoDB Local has no network hop, no partitions and no
throughput limits, and one JVM serialises the writes to an item, so its latencies and decisions
per second say little about a table on AWS. The round trips per decision carry over; the write
units it reports do not all match what AWS bills (see [On AWS](#on-aws) at the end, with the
usage aggregator, which is usually most of the write bill in production). The Redis figures come
from a redis-server started by the benchmark on the same machine, without a network hop either:
the commands per decision carry over to a real deployment, the decisions per second do not.

The page is generated: \`npm run bench -- --write\` rewrites it and the charts in
\`docs/performance/\`. \`--only core,dynamodb,fleet,redis,http\` runs some suites and keeps the others'
tables as they were; \`--redraw\` runs none and redraws the page from its tables. Absolute
numbers depend on the machine and its load, the ratios much less.`;

/** Closing section of docs/performance.md: what AWS bills, and what dominates it. */
const ON_AWS = `## On AWS

What DynamoDB bills for the calls measured above (items under 1 KB, as Tollgate's bucket items
are up to 20 limits; per-call figures in [dynamodb.md](dynamodb.md#costs-per-call)):

- **Writes**: 1 WCU per KB of item, rounded up. An admitted decision is one conditional
  \`UpdateItem\`: 1 WCU, whatever the number of limits.
- **Transactions cost double**: \`TransactWriteItems\` bills 2 WCU per item. A cascading acquire
  over 3 buckets (key, team, organisation) is **6 WCU** on AWS, where DynamoDB Local reports 2.
- **Failed conditional writes are billed** as writes: a rejection that reaches DynamoDB costs
  1 WCU (DynamoDB Local reports 0), and so does every write sent again after a wrong guess of
  the bucket's form (the round trips above 1 per decision). The deny cache answers repeated
  rejections without a request, so they cost nothing.
- **Reads**: 0.5 RCU per 4 KB eventually consistent, 1 RCU strongly consistent. Each process
  reads stored limits and entities at most once per \`configCacheTtlMs\` (a \`BatchGetItem\`,
  where a missing item is billed too); \`available()\` reads the bucket.

### The usage aggregator dominates the write bill

Every bucket write emits a stream record, and the usage aggregator
(\`@tollgate/dynamodb/aggregator\`) turns each record into up to two snapshot writes (hourly and
daily). In production it is therefore usually the largest writer, larger than the limiter.
\`tollgate capacity\` estimates both. For 500 requests per second with 2 limits each, 20 % of
admitted requests cascading to an organisation, 5 % rejected, and every lease adjusted at
commit (us-east-1 prices of November 2024, as the command prints them):

\`\`\`
$ tollgate capacity --rps 500 --limits 2 --cascade-share 20% --rejected-share 5% --adjust-share 100%
┌──────────┬────────────┬────────────┬───────────────────┐
│ capacity │ per second │ per hour   │ per month (730 h) │
├──────────┼────────────┼────────────┼───────────────────┤
│ WCU      │ 3,350      │ 12,060,000 │ 8,803,800,000     │
├──────────┼────────────┼────────────┼───────────────────┤
│ RCU      │ 12.5       │ 45,000     │ 32,850,000        │
└──────────┴────────────┴────────────┴───────────────────┘
┌────────────────────┬───────┐
│ WCU/s by source    │ units │
├────────────────────┼───────┤
│ admitted acquires  │ 380   │
├────────────────────┼───────┤
│ cascading acquires │ 380   │
├────────────────────┼───────┤
│ rejections         │ 25    │
├────────────────────┼───────┤
│ adjustments        │ 475   │
├────────────────────┼───────┤
│ usage snapshots    │ 2,090 │
└────────────────────┴───────┘
┌────────────────────────────────┬───────────┬───────┬───────────┐
│ monthly cost                   │ writes    │ reads │ total     │
├────────────────────────────────┼───────────┼───────┼───────────┤
│ on-demand                      │ $5,502.38 │ $4.11 │ $5,506.48 │
├────────────────────────────────┼───────────┼───────┼───────────┤
│ provisioned (4786 WCU, 18 RCU) │ $2,270.96 │ $1.71 │ $2,272.67 │
└────────────────────────────────┴───────────┴───────┴───────────┘
Cheaper: provisioned. Prices as published for us-east-1 (Standard table class), November 2024; override with --price-*.
\`\`\`

Usage snapshots are 2,090 of the 3,350 WCU per second, 62 %. With \`--no-aggregator\` the same
profile needs 1,260 WCU per second: $2,073.66 a month on demand or $855.81 provisioned, against
$5,506.48 and $2,272.67 with the aggregator. Where usage history is not needed, leave the
aggregator out. Where it is, busy keys cost fewer than 2 snapshot writes per record when the
aggregator batches them (\`--snapshot-writes-per-record\`), and provisioned capacity (auto
scaling at 70 % utilisation) is about 40 % of the on-demand price at a steady load.
`;

const PAGE = fileURLToPath(new URL('../docs/performance.md', import.meta.url));
const CHART_DIR = fileURLToPath(new URL('../docs/performance/', import.meta.url));

/** The line under each table that says when and where it was measured. */
function measuredOn(date: string, machine: string): string {
  return `_Measured on ${date}: ${machine}._`;
}

/** One suite's section of the page: description, when and where, table, chart. */
function section(
  suite: Suite,
  rows: readonly Row[],
  stamp: string,
  chart: GroupedBarChart | undefined,
): string {
  const image = chart === undefined ? '' : `\n\n![${chart.title}](performance/${suite.name}.svg)`;
  return `## ${suite.title}\n\n${suite.description}\n\n${stamp}\n\n${markdownTable(rows)}${image}\n`;
}

/**
 * The sections of the current page for suites that did not run, by suite
 * name: their tables and "measured on" lines kept, their descriptions and
 * charts drawn again from the code. A section written before sections carried
 * their own line gets the date and machine of the page's old opening line.
 */
async function keptSections(page: string, keep: (suite: Suite) => boolean): Promise<Map<string, string>> {
  const kept = new Map<string, string>();
  const legacy =
    /printed by `npm run bench -- --write` on (\d{4}-\d{2}-\d{2})\n\((.*)\)\. Run it yourself/.exec(page);
  for (const suite of suites.filter(keep)) {
    const start = page.indexOf(`## ${suite.title}\n`);
    if (start < 0) continue;
    const next = page.indexOf('\n## ', start + 1);
    const text = page.slice(start, next < 0 ? undefined : next);
    const rows = parseMarkdownTable(text);
    const stamp =
      /^_Measured on .*_$/m.exec(text)?.[0] ??
      (legacy === null ? '_Measured on an unknown date._' : measuredOn(legacy[1]!, legacy[2]!));
    if (rows.length === 0) continue;
    const chart = suite.chart(rows);
    if (chart !== undefined) await writeChart(suite, chart);
    kept.set(suite.name, section(suite, rows, stamp, chart));
  }
  return kept;
}

/** Writes docs/performance/<suite>.svg. */
async function writeChart(suite: Suite, chart: GroupedBarChart): Promise<void> {
  mkdirSync(CHART_DIR, { recursive: true });
  const target = `${CHART_DIR}${suite.name}.svg`;
  writeFileSync(target, await groupedBarSvg(chart));
  console.log(`Wrote ${target}`);
}

function selected(): Suite[] {
  if (process.argv.includes('--redraw')) return [];
  const index = process.argv.indexOf('--only');
  if (index < 0) return suites;
  const names = new Set((process.argv[index + 1] ?? '').split(','));
  const unknown = [...names].filter((name) => !suites.some((suite) => suite.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `--only names no suite ${unknown.join(', ')}; the suites are ${suites.map((suite) => suite.name).join(', ')}`,
    );
  }
  return suites.filter((suite) => names.has(suite.name));
}

async function main(): Promise<void> {
  const write = process.argv.includes('--write') || process.argv.includes('--redraw');
  const machine = `Node ${process.version}, ${arch()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const stamp = measuredOn(new Date().toISOString().slice(0, 10), machine);
  const sections = new Map<string, string>();
  for (const suite of selected()) {
    console.log(`\n## ${suite.title}\n`);
    const rows = await suite.run();
    console.log(markdownTable(rows));
    const chart = suite.chart(rows);
    if (chart === undefined) console.log('\n(no chart: the rows lack the columns it draws)');
    else if (write) await writeChart(suite, chart);
    sections.set(suite.name, section(suite, rows, stamp, chart));
  }
  if (write) {
    const current = existsSync(PAGE) ? readFileSync(PAGE, 'utf8') : '';
    const ran = new Set(sections.keys());
    const kept = await keptSections(current, (suite) => !ran.has(suite.name));
    const body = suites
      .map((suite) => sections.get(suite.name) ?? kept.get(suite.name))
      .filter((text): text is string => text !== undefined);
    writeFileSync(PAGE, `# Performance\n\n${INTRO}\n\n${body.join('\n')}\n${ON_AWS}`);
    // Format the page as the linter expects it (aligned table columns), so a fresh run lands as is.
    const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
    execFileSync(process.execPath, [biome, 'format', '--write', PAGE], { stdio: 'ignore' });
    console.log(`\nWrote ${PAGE}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
