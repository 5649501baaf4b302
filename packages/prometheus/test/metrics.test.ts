import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { collectMetrics, type MetricsCollector } from '../src/index.js';
import { decideEveryOutcome, decideOverReportingStore, SMALL_CACHES } from './scenario.js';

const collectors: MetricsCollector[] = [];
afterEach(() => {
  for (const collector of collectors.splice(0)) collector.stop();
});

function collect(options: Parameters<typeof collectMetrics>[0] = {}): Registry {
  const registry = options.registry ?? new Registry();
  collectors.push(collectMetrics({ ...options, registry }));
  return registry;
}

/** The sample lines of a Prometheus exposition, without comments. */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

describe('collectMetrics', () => {
  it('counts real decisions, store calls and lease settlements in the exposition text', async () => {
    const registry = collect();
    await decideEveryOutcome();
    const text = await registry.metrics();
    const lines = await samples(registry);

    expect(text).toContain('# TYPE tollgate_decisions_total counter');
    expect(lines).toContain('tollgate_decisions_total{outcome="admitted"} 3');
    expect(lines).toContain('tollgate_decisions_total{outcome="limited",limit="rpm"} 1');
    expect(lines).toContain('tollgate_decisions_total{outcome="invalid"} 1');
    expect(lines).toContain('tollgate_decisions_total{outcome="unavailable"} 2');
    expect(lines.filter((line) => line.startsWith('tollgate_decisions_total'))).toHaveLength(4);

    expect(text).toContain('# TYPE tollgate_decision_duration_seconds histogram');
    expect(lines).toContain('tollgate_decision_duration_seconds_count{outcome="admitted"} 3');
    expect(lines).toContain('tollgate_decision_duration_seconds_bucket{le="+Inf",outcome="limited"} 1');

    expect(lines).toContain('tollgate_store_calls_total{operation="charge",outcome="ok"} 4');
    expect(lines).toContain('tollgate_store_calls_total{operation="adjust",outcome="ok"} 1');
    expect(lines).toContain('tollgate_store_calls_total{operation="loadConfig",outcome="error"} 2');
    expect(text).toContain('# TYPE tollgate_store_call_duration_seconds histogram');
    expect(lines).toContain('tollgate_store_call_duration_seconds_count{operation="charge"} 4');

    expect(lines).toContain('tollgate_lease_settlements_total{kind="commit"} 1');
    expect(lines).toContain('tollgate_lease_settlements_total{kind="rollback"} 1');
  });

  it('counts the round trips a store reports, per operation', async () => {
    const registry = collect();
    await decideOverReportingStore();
    const lines = await samples(registry);
    expect(lines).toContain('tollgate_store_round_trips_total{operation="loadConfig"} 1');
    expect(lines).toContain('tollgate_store_round_trips_total{operation="charge"} 6');
  });

  it('never labels a series with an entity or a resource', async () => {
    const registry = collect();
    await decideEveryOutcome();
    const text = await registry.metrics();
    expect(text).not.toContain('key-1');
    expect(text).not.toContain('chat');
  });

  it('names the limit of the parent that was short, with cascade', async () => {
    const registry = collect();
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 100 }),
      limits: [Limit.perMinute('rpm', 10)],
      ...SMALL_CACHES,
    });
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('tpm', 100)]);
    await limiter.createEntity({ id: 'key', parent: 'org', cascade: true });
    await limiter.acquire({ entity: 'key', consume: { rpm: 1, tpm: 80 } });
    await limiter.tryAcquire({ entity: 'key', consume: { rpm: 1, tpm: 80 } });
    expect(await samples(registry)).toContain('tollgate_decisions_total{outcome="limited",limit="tpm"} 1');
  });

  it('uses the prefix for every name and registers in the global registry by default', async () => {
    const prefixed = collect({ prefix: 'gateway_rl_' });
    await decideEveryOutcome();
    expect(await samples(prefixed)).toContain('gateway_rl_decisions_total{outcome="admitted"} 3');

    const { register } = await import('prom-client');
    const global = collectMetrics();
    collectors.push(global);
    expect(global.registry).toBe(register);
    expect(register.getSingleMetric('tollgate_decisions_total')).toBeDefined();
  });

  it('stops counting and leaves the registry as it found it after stop()', async () => {
    const registry = new Registry();
    const collector = collectMetrics({ registry });
    collector.stop();
    await decideEveryOutcome();
    expect(await registry.metrics()).toBe('\n');
    collector.stop();

    // Registering again works once stopped; twice at once is refused and leaves the first intact.
    const again = collectMetrics({ registry });
    collectors.push(again);
    expect(() => collectMetrics({ registry })).toThrow(/already been registered/);
    await decideEveryOutcome();
    expect(await samples(registry)).toContain('tollgate_decisions_total{outcome="admitted"} 3');
  });
});
