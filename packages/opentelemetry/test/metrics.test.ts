import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
// The same real decisions the Prometheus tests count.
import { decideEveryOutcome, decideOverReportingStore } from '../../prometheus/test/scenario.js';
import { collectOpenTelemetryMetrics, type OpenTelemetryCollector } from '../src/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sdk(): { provider: MeterProvider; exported: () => Promise<MetricData[]> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  return {
    provider,
    exported: async () => {
      await reader.forceFlush();
      const batches = exporter.getMetrics();
      const latest = batches[batches.length - 1];
      return latest?.scopeMetrics.flatMap((scope) => scope.metrics) ?? [];
    },
  };
}

function started(collector: OpenTelemetryCollector): void {
  cleanups.push(() => collector.stop());
}

/** Each data point of one instrument as "attr=value,... value" (histograms: their count). */
function points(all: MetricData[], name: string): string[] {
  const metric = all.find((candidate) => candidate.descriptor.name === name);
  if (metric === undefined) return [];
  return (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) => {
    const attributes = Object.entries(point.attributes)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(',');
    const value = typeof point.value === 'number' ? point.value : point.value.count;
    return `${attributes} ${value}`;
  });
}

describe('collectOpenTelemetryMetrics', () => {
  it('records the same counts as the Prometheus collector through an OpenTelemetry SDK', async () => {
    const { provider, exported } = sdk();
    started(collectOpenTelemetryMetrics({ meterProvider: provider }));
    await decideEveryOutcome();
    const all = await exported();

    expect(points(all, 'tollgate.decisions').sort()).toEqual([
      'outcome=admitted 3',
      'outcome=invalid 1',
      'outcome=limited,limit=rpm 1',
      'outcome=unavailable 2',
    ]);
    expect(points(all, 'tollgate.decision.duration')).toContain('outcome=admitted 3');
    expect(points(all, 'tollgate.store.calls')).toEqual(
      expect.arrayContaining([
        'operation=charge,outcome=ok 4',
        'operation=adjust,outcome=ok 1',
        'operation=loadConfig,outcome=error 2',
      ]),
    );
    expect(points(all, 'tollgate.store.call.duration')).toContain('operation=charge 4');
    expect(points(all, 'tollgate.lease.settlements').sort()).toEqual(['kind=commit 1', 'kind=rollback 1']);

    const duration = all.find((metric) => metric.descriptor.name === 'tollgate.decision.duration');
    expect(duration?.descriptor.unit).toBe('s');
    expect(JSON.stringify(all)).not.toContain('key-1');
  });

  it('counts the round trips a store reports, per operation', async () => {
    const { provider, exported } = sdk();
    started(collectOpenTelemetryMetrics({ meterProvider: provider }));
    await decideOverReportingStore();
    expect(points(await exported(), 'tollgate.store.round_trips').sort()).toEqual([
      'operation=charge 6',
      'operation=loadConfig 1',
    ]);
  });

  it('uses the global meter provider the SDK registered when none is passed', async () => {
    const { provider, exported } = sdk();
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    cleanups.push(() => metrics.disable());
    started(collectOpenTelemetryMetrics());
    await decideEveryOutcome();
    expect(points(await exported(), 'tollgate.decisions')).toContain('outcome=admitted 3');
  });

  it('stops recording after stop()', async () => {
    const { provider, exported } = sdk();
    collectOpenTelemetryMetrics({ meterProvider: provider }).stop();
    await decideEveryOutcome();
    expect(points(await exported(), 'tollgate.decisions')).toEqual([]);
  });
});
