/**
 * `npm run demo`: an LLM gateway with requests-per-minute and tokens-per-minute
 * limits per API key, an organisation whose keys share its budget (cascade),
 * and a plan upgraded at run time — driven by a few simulated clients. The
 * gateway serves Prometheus metrics on `GET /metrics`; the demo prints a few.
 * `npm run demo -- --store redis` runs it on Redis instead of DynamoDB Local.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Limit, RateLimiter } from '@tollgate/core';
import { collectMetrics } from '@tollgate/prometheus';
import { Registry } from 'prom-client';
import { createGatewayApp } from './app.js';
import { type DemoStoreKind, startDemoStore } from './store.js';

interface ClientPlan {
  key: string;
  requests: number;
  prompt: string;
  maxTokens: number;
  /** Runs between the first and second half of this client's requests. */
  midway?: () => Promise<void>;
}

interface ClientResult {
  key: string;
  admitted: number;
  limited: number;
  limitedBy: Set<string>;
  tokens: number;
  marks: string;
  firstRetryAfter?: string;
}

const log = (line = ''): void => console.log(line);

/** `--store dynamodb` (default) or `--store redis`. */
function storeKind(): DemoStoreKind {
  const { values } = parseArgs({ options: { store: { type: 'string', default: 'dynamodb' } } });
  if (values.store !== 'dynamodb' && values.store !== 'redis') {
    throw new Error(`Expected \`--store\` to be \`dynamodb\` or \`redis\`, got \`${values.store}\``);
  }
  return values.store;
}

async function main(): Promise<void> {
  const kind = storeKind();
  log('Tollgate demo: an Express LLM gateway with per-key rpm and tpm limits\n');
  const demoStore = await startDemoStore(kind, log);
  log(`Store: ${demoStore.description}`);

  const limiter = new RateLimiter({
    store: demoStore.store,
    limits: [Limit.perMinute('rpm', 10), Limit.perMinute('tpm', 3_000)],
    timeoutMs: 5_000,
  });
  // An organisation above two keys: both keys also spend the organisation's 1 200 tokens per minute.
  await limiter.createEntity({ id: 'org-acme', name: 'Acme Corp' });
  await limiter.setLimits({ entity: 'org-acme' }, [Limit.perMinute('tpm', 1_200)]);
  await limiter.createEntity({ id: 'key-acme-1', parent: 'org-acme', cascade: true });
  await limiter.createEntity({ id: 'key-acme-2', parent: 'org-acme', cascade: true });

  // Counted from here on: the decisions, store calls and lease settlements of the simulated clients.
  const metrics = collectMetrics({ registry: new Registry() });
  const server = createGatewayApp(limiter, { metrics: metrics.registry }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log(`Gateway: POST ${base}/v1/chat/completions, metrics on GET ${base}/metrics\n`);
  log(
    'Limits: every key 10 requests/min and 3 000 tokens/min; org-acme 1 200 tokens/min shared by key-acme-1 and key-acme-2;',
  );
  log('        key-pro is upgraded to 60 requests/min and 20 000 tokens/min halfway through.\n');

  const clients: ClientPlan[] = [
    { key: 'key-free', requests: 14, prompt: 'Summarise the plot of Hamlet in one line.', maxTokens: 100 },
    {
      key: 'key-pro',
      requests: 16,
      prompt: 'Translate "good morning" into French.',
      maxTokens: 100,
      midway: () =>
        limiter.setLimits({ entity: 'key-pro' }, [
          Limit.perMinute('rpm', 60),
          Limit.perMinute('tpm', 20_000),
        ]),
    },
    {
      key: 'key-acme-1',
      requests: 8,
      prompt: 'Write a haiku about rate limits and the quiet of a full bucket.',
      maxTokens: 200,
    },
    {
      key: 'key-acme-2',
      requests: 8,
      prompt: 'List three prime numbers greater than one hundred, please.',
      maxTokens: 200,
    },
  ];

  try {
    const results = await Promise.all(clients.map((client) => drive(base, client)));
    log('Requests per key (✓ admitted, ✗ answered 429, ! any other answer):');
    for (const result of results) log(`  ${result.key.padEnd(11)} ${result.marks}`);
    log();
    const rows = await Promise.all(
      results.map(async (result) => ({
        key: result.key,
        admitted: String(result.admitted),
        limited: String(result.limited),
        'limited by': [...result.limitedBy].join(', ') || '-',
        'first Retry-After': result.firstRetryAfter ?? '-',
        'tokens charged': String(result.tokens),
        'left now': Object.entries(await limiter.available({ entity: result.key, resource: 'chat' }))
          .map(([name, value]) => `${name} ${value}`)
          .join(', '),
      })),
    );
    printTable(rows);
    log('\nEach request paid 1 rpm and an estimate of its tokens on the way in (prompt + max_tokens);');
    log(
      'after the model answered, the lease was adjusted to the real count, so keys are charged what they used.',
    );
    log('"parent.tpm" is the organisation\'s budget: key-acme-1 and key-acme-2 are limited together.');
    await printMetrics(base);
  } finally {
    metrics.stop();
    server.close();
    await limiter.close();
    await demoStore.stop();
  }
}

async function drive(base: string, client: ClientPlan): Promise<ClientResult> {
  const result: ClientResult = {
    key: client.key,
    admitted: 0,
    limited: 0,
    limitedBy: new Set(),
    tokens: 0,
    marks: '',
  };
  for (let i = 0; i < client.requests; i += 1) {
    if (i === Math.floor(client.requests / 2) && client.midway) {
      await client.midway();
      result.marks += ' │ ';
    }
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': client.key },
      body: JSON.stringify({ prompt: client.prompt, max_tokens: client.maxTokens }),
    });
    const body = (await response.json()) as {
      usage?: { total_tokens: number };
      limits?: Array<{ limit: string; depth: number; exceeded: boolean }>;
    };
    if (response.status === 200) {
      result.admitted += 1;
      result.tokens += body.usage?.total_tokens ?? 0;
      result.marks += '✓';
    } else if (response.status === 429) {
      result.limited += 1;
      result.marks += '✗';
      result.firstRetryAfter ??= `${response.headers.get('retry-after')} s`;
      for (const limit of body.limits ?? []) {
        if (limit.exceeded) result.limitedBy.add(limit.depth === 0 ? limit.limit : `parent.${limit.limit}`);
      }
    } else {
      result.marks += '!';
      log(`  ${client.key}: HTTP ${response.status} ${JSON.stringify(body)}`);
    }
  }
  return result;
}

/** A few lines of what a Prometheus server would scrape from the gateway. */
async function printMetrics(base: string): Promise<void> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const shown = text
    .split('\n')
    .filter((line) =>
      /^tollgate_(decisions_total|lease_settlements_total|store_(calls|round_trips)_total\{operation="(charge|adjust)")/.test(
        line,
      ),
    );
  log(`\nGET /metrics (${text.split('\n').length} lines in all; the counters of this run):`);
  for (const line of shown) log(`  ${line}`);
}

function printTable(rows: Array<Record<string, string>>): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    `  ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`;
  log(line(columns));
  log(line(widths.map((width) => '─'.repeat(width))));
  for (const row of rows) log(line(columns.map((column) => row[column] ?? '')));
}

main().catch((error: unknown) => {
  // A setup problem (missing redis-server, bad option) reads best as its message alone.
  console.error(error instanceof Error && error.cause === undefined ? error.message : error);
  process.exitCode = 1;
});
