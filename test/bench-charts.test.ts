import { describe, expect, it } from 'vitest';
import { barsFromColumns, barsFromRows, cellNumber, groupedBarSpec, groupedBarSvg } from '../bench/charts.js';
import { suites } from '../bench/run.js';
import { markdownTable, parseMarkdownTable, type Row } from '../bench/table.js';

/** The bars of a rendered chart, by their accessible labels (Vega writes one per mark item). */
function barLabels(svg: string): string[] {
  return [...svg.matchAll(/<path [^>]*aria-roledescription="bar"[^>]*>/g)].map(
    (match) => /aria-label="([^"]*)"/.exec(match[0])?.[1] ?? '',
  );
}

/** The text of every `<text>` element: axis labels, legend entries, titles, value labels. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]!);
}

function chartOf(name: string, rows: Row[]) {
  const suite = suites.find((candidate) => candidate.name === name);
  if (suite === undefined) throw new Error(`no suite ${name}`);
  return suite.chart(rows);
}

describe('bench charts', () => {
  it('draws one bar per value, grouped and coloured, with its title, labels and legend', async () => {
    const svg = await groupedBarSvg({
      title: 'Decisions per second',
      groupTitle: 'keys',
      seriesTitle: 'library',
      valueTitle: 'decisions/s',
      bars: [
        { group: '1 key', series: 'Tollgate', value: 291_618 },
        { group: '1 key', series: 'flexible', value: 1_121_940 },
        { group: '100k keys', series: 'Tollgate', value: 71_738 },
        { group: '100k keys', series: 'flexible', value: 592_219 },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const bars = barLabels(svg);
    expect(bars).toHaveLength(4);
    expect(bars.some((label) => label.includes('1 key') && label.includes('291,618'))).toBe(true);
    const labels = texts(svg);
    expect(labels).toEqual(
      expect.arrayContaining([
        'Decisions per second',
        'keys',
        'library',
        'decisions/s',
        '1 key',
        '100k keys',
        'Tollgate',
        'flexible',
        '1,121,940',
      ]),
    );
  });

  it('reads the numbers the benchmarks print', () => {
    expect(cellNumber('291,618')).toBe(291_618);
    expect(cellNumber('0.89')).toBe(0.89);
    expect(cellNumber('1 (sequential)')).toBe(1);
    expect(cellNumber('100%')).toBe(100);
    expect(cellNumber(203)).toBe(203);
    expect(cellNumber('-')).toBeUndefined();
    expect(cellNumber(undefined)).toBeUndefined();
  });

  it('turns long and wide tables into bars, leaving out cells that are not numbers', () => {
    const rows: Row[] = [
      { mode: 'a', x: '1,000', y: 2 },
      { mode: 'b', x: '-', y: 3 },
    ];
    expect(barsFromColumns(rows, { group: 'mode', series: { X: 'x', Y: 'y' } })).toEqual([
      { group: 'a', series: 'X', value: 1000 },
      { group: 'a', series: 'Y', value: 2 },
      { group: 'b', series: 'Y', value: 3 },
    ]);
    expect(barsFromRows(rows, { group: 'mode', series: 'mode', value: 'y', panel: 'x' })).toEqual([
      { group: 'a', series: 'a', value: 2, panel: '1,000' },
      { group: 'b', series: 'b', value: 3, panel: '-' },
    ]);
  });

  it('charts the core suite: Tollgate beside rate-limiter-flexible per scenario', async () => {
    const chart = chartOf('core', [
      {
        scenario: '1 key',
        'Tollgate decisions/s': '291,618',
        'rate-limiter-flexible decisions/s': '1,121,940',
        'Tollgate ÷ flexible': '0.26',
      },
      {
        scenario: '100k keys',
        'Tollgate decisions/s': '71,738',
        'rate-limiter-flexible decisions/s': '592,219',
        'Tollgate ÷ flexible': '0.12',
      },
    ]);
    expect(chart).toBeDefined();
    const svg = await groupedBarSvg(chart!);
    expect(barLabels(svg)).toHaveLength(4);
    expect(texts(svg)).toEqual(
      expect.arrayContaining([
        'Tollgate RateLimiter + MemoryStore',
        'rate-limiter-flexible RateLimiterMemory',
      ]),
    );
  });

  it('charts the DynamoDB suite in one panel per scenario, bars by concurrency and library', async () => {
    const rows: Row[] = [];
    for (const scenario of ['acquire, 1 limit', 'rejected']) {
      for (const concurrency of ['1 (sequential)', 10, 50]) {
        for (const library of ['Tollgate DynamoDBStore', 'rate-limiter-flexible RateLimiterDynamo']) {
          rows.push({ library, scenario, concurrency, 'decisions/s': 100, 'p50 ms': 4, admitted: '100%' });
        }
      }
    }
    const chart = chartOf('dynamodb', rows);
    expect(chart?.bars).toHaveLength(12);
    expect(chart?.bars[0]).toEqual({
      group: '1',
      series: 'Tollgate DynamoDBStore',
      value: 100,
      panel: 'acquire, 1 limit',
    });
    expect(groupedBarSpec(chart!)).toHaveProperty('facet');
    const svg = await groupedBarSvg(chart!);
    expect(barLabels(svg)).toHaveLength(12);
    expect(texts(svg)).toEqual(expect.arrayContaining(['acquire, 1 limit', 'rejected', '1', '10', '50']));
  });

  it('charts the Redis suite in one panel per scenario, bars by concurrency and library', async () => {
    const rows: Row[] = [];
    for (const scenario of ['1 key, 1 limit', '100k keys, 2 limits']) {
      for (const concurrency of ['1 (sequential)', 10, 50]) {
        for (const library of ['Tollgate RedisStore', 'rate-limiter-flexible RateLimiterRedis']) {
          rows.push({ scenario, concurrency, library, 'decisions/s': '12,345', 'commands/decision': 1 });
        }
      }
    }
    const chart = chartOf('redis', rows);
    expect(chart?.bars).toHaveLength(12);
    expect(chart?.bars[0]).toEqual({
      group: '1',
      series: 'Tollgate RedisStore',
      value: 12_345,
      panel: '1 key, 1 limit',
    });
    const svg = await groupedBarSvg(chart!);
    expect(barLabels(svg)).toHaveLength(12);
    expect(texts(svg)).toEqual(expect.arrayContaining(['1 key, 1 limit', '100k keys, 2 limits', '50']));
  });

  it('charts the fleet suite: decisions and item writes per second per mode', async () => {
    const chart = chartOf('fleet', [
      { mode: 'coalesced', processes: 4, 'fleet decisions/s': 1200, 'item writes/s': 300, admitted: '100%' },
      {
        mode: 'coalesced + ReservingStore',
        processes: 4,
        'fleet decisions/s': 9000,
        'item writes/s': 40,
        admitted: '100%',
      },
    ]);
    const svg = await groupedBarSvg(chart!);
    expect(barLabels(svg)).toHaveLength(4);
    expect(texts(svg)).toEqual(expect.arrayContaining(['fleet decisions/s', 'item writes/s', '9,000']));
  });

  it('charts the HTTP suite as ratios to the bare framework, naming the peer libraries', async () => {
    const chart = chartOf('http', [
      { framework: 'express', middleware: 'bare', 'req/s': '2,995', 'req/s ÷ bare': '1.00' },
      { framework: 'express', middleware: 'Tollgate rateLimit()', 'req/s': '2,653', 'req/s ÷ bare': '0.89' },
      { framework: 'express', middleware: 'express-rate-limit', 'req/s': '2,615', 'req/s ÷ bare': '0.87' },
      { framework: 'koa', middleware: 'bare', 'req/s': '10,804', 'req/s ÷ bare': '1.00' },
      { framework: 'koa', middleware: 'Tollgate rateLimit()', 'req/s': '8,560', 'req/s ÷ bare': '0.79' },
    ]);
    expect(chart?.subtitle?.[1]).toContain('express-rate-limit');
    expect(chart?.bars.map((bar) => bar.series)).toEqual([
      'bare framework',
      'Tollgate',
      'peer library',
      'bare framework',
      'Tollgate',
    ]);
    const svg = await groupedBarSvg(chart!);
    expect(barLabels(svg)).toHaveLength(5);
    expect(texts(svg)).toEqual(expect.arrayContaining(['express', 'koa', '0.79', 'peer library']));
  });

  it('reads back a table as the page holds it, padded or not', () => {
    const rows: Row[] = [
      { framework: 'koa', 'req/s': '8,560', 'req/s ÷ bare': '0.79' },
      { framework: 'express', 'req/s': '2,653', 'req/s ÷ bare': '0.89' },
    ];
    expect(parseMarkdownTable(`intro\n\n${markdownTable(rows)}\n\n![chart](x.svg)\n`)).toEqual(rows);
    const padded = '| framework | req/s |\n| --------- | ----- |\n| koa       | 8,560 |\n';
    expect(parseMarkdownTable(padded)).toEqual([{ framework: 'koa', 'req/s': '8,560' }]);
  });

  it('draws no chart for a table whose columns it does not know', () => {
    for (const suite of suites) expect(suite.chart([{ something: 'else', value: 1 }])).toBeUndefined();
  });
});
