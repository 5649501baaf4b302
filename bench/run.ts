/**
 * `npm run bench`: every benchmark in one run, printed as Markdown tables. It
 * builds first and imports the built packages, as users run them.
 * `npm run bench -- --write` also rewrites docs/performance.md with the results.
 * `npm run bench -- --only core,dynamodb,http` picks suites.
 */
import { writeFileSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runCoreBench } from './core.js';
import { markdownTable, type Row } from './table.js';

interface Suite {
  name: string;
  title: string;
  description: string;
  run(): Promise<Row[]>;
}

const suites: Suite[] = [
  {
    name: 'core',
    title: 'Core: RateLimiter on MemoryStore vs rate-limiter-flexible RateLimiterMemory',
    description:
      'Sequential admitted decisions in one process, one hot key and 100 000 keys round-robin, both libraries in the same run. ' +
      'Tollgate decides in exact BigInt nanoseconds over a store interface built for a shared database, with leases and statuses; ' +
      'rate-limiter-flexible keeps a counter in a Map. Most of the gap at 100 000 keys is two LRU lookups per decision (plan cache and buckets). ' +
      'Behind a web framework the difference shrinks to the HTTP table below.',
    run: () => runCoreBench(),
  },
  {
    name: 'dynamodb',
    title: 'DynamoDB Local: DynamoDBStore vs rate-limiter-flexible RateLimiterDynamo',
    description:
      'On one DynamoDB Local started by the benchmark, same run, one hot key, after both libraries warmed the JVM up. Round trips and WCU are counted per decision from the requests actually sent. ' +
      'Tollgate writes once per admitted decision whatever the number of limits (one transaction for a cascade), and answers repeated rejections from its deny cache without a request. ' +
      'Above 1 round trip per decision at concurrency: on a hot key whose bucket is nearly full (limits far above the load), concurrent idle-form writes reach the item out of order, ' +
      'and a write whose `now` is older than the stored `tat` fails its condition and is sent again in the busy form. A write in the busy form when the bucket is idle would admit more than the bucket allows, so Tollgate pays the retry instead. ' +
      'DynamoDB Local serialises writes to one item, so at concurrency 10–50 on a single-limit hot key both libraries are bound by it.',
    run: async () => (await import('./dynamodb.js')).runDynamoBench({}),
  },
  {
    name: 'fleet',
    title: 'DynamoDB Local: a fleet of processes on one hot key',
    description:
      'Four OS processes, each with its own limiter and DynamoDBStore and 50 concurrent callers, on one bucket of one DynamoDB Local; limits far above the load. ' +
      'Coalescing sends one write per batch of concurrent decisions in each process; a ReservingStore charges a block of tokens per write and serves decisions from it in memory, ' +
      'returning what it did not use. Writes per second counts every request that wrote the item: charges, reservations and refunds.',
    run: async () => (await import('./fleet.js')).runFleetBench({}),
  },
  {
    name: 'http',
    title: 'HTTP middleware overhead (in-process store)',
    description:
      'Each app in a child process, load from autocannon in this process; requests per second and p99 latency as ratios to the bare framework. Limits are high enough that nothing is rejected.',
    run: async () => (await import('./http.js')).runHttpBench({}),
  },
];

function selected(): Suite[] {
  const index = process.argv.indexOf('--only');
  if (index < 0) return suites;
  const names = new Set((process.argv[index + 1] ?? '').split(','));
  return suites.filter((suite) => names.has(suite.name));
}

async function main(): Promise<void> {
  const machine = `Node ${process.version}, ${arch()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const sections: string[] = [];
  for (const suite of selected()) {
    console.log(`\n## ${suite.title}\n`);
    const rows = await suite.run();
    const table = markdownTable(rows);
    console.log(table);
    sections.push(`## ${suite.title}\n\n${suite.description}\n\n${table}\n`);
  }
  if (process.argv.includes('--write')) {
    const target = fileURLToPath(new URL('../docs/performance.md', import.meta.url));
    writeFileSync(
      target,
      `# Performance\n\nEvery number on this page was printed by \`npm run bench -- --write\` on ${new Date().toISOString().slice(0, 10)}\n(${machine}). Run it yourself: absolute numbers depend on the machine, the ratios much less.\n\n${sections.join('\n')}`,
    );
    console.log(`\nWrote ${target}`);
  }
}

await main();
