import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { collectMetrics } from '@tollgate/prometheus';
import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createGatewayApp } from '../src/app.js';
import { complete, estimateTokens } from '../src/model.js';

function gateway(metrics?: Registry) {
  let now = 1_700_000_000_000;
  const limiter = new RateLimiter({
    store: new MemoryStore({ maxKeys: 100 }),
    limits: [Limit.perMinute('rpm', 3), Limit.perMinute('tpm', 1000)],
    clock: () => now,
  });
  return {
    limiter,
    app: createGatewayApp(limiter, metrics ? { metrics } : {}),
    advance: (ms: number) => (now += ms),
  };
}

const chat = (app: ReturnType<typeof gateway>['app'], key: string, prompt = 'hello there', maxTokens = 100) =>
  request(app).post('/v1/chat/completions').set('x-api-key', key).send({ prompt, max_tokens: maxTokens });

describe('Express LLM gateway example', () => {
  it('charges the estimate on the way in and the real token count after the model answers', async () => {
    const { app, limiter } = gateway();
    const response = await chat(app, 'key-1');
    expect(response.status).toBe(200);
    const used = complete('hello there', 100);
    expect(response.body.usage.total_tokens).toBe(used.promptTokens + used.completionTokens);
    expect(response.body.usage.estimated_tokens).toBe(estimateTokens('hello there', 100));
    expect(await limiter.available({ entity: 'key-1', resource: 'chat' })).toEqual({
      rpm: 2,
      tpm: 1000 - response.body.usage.total_tokens,
    });
  });

  it('answers 429 with Retry-After and draft-8 headers once the key is out of requests', async () => {
    const { app } = gateway();
    for (let i = 0; i < 3; i += 1) expect((await chat(app, 'key-1')).status).toBe(200);
    const limited = await chat(app, 'key-1');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('20');
    expect(limited.headers['ratelimit-policy']).toBe('"rpm";q=3;w=60, "tpm";q=1000;w=60');
    expect(limited.body.limits.find((l: { limit: string }) => l.limit === 'rpm').exceeded).toBe(true);
    expect((await chat(app, 'key-2')).status).toBe(200);
  });

  it('refuses an estimate above the tokens-per-minute capacity with 400, charging nothing', async () => {
    const { app, limiter } = gateway();
    const response = await chat(app, 'key-1', 'x', 5000);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('ERR_TOLLGATE_COST_EXCEEDS_CAPACITY');
    expect(await limiter.available({ entity: 'key-1', resource: 'chat' })).toEqual({ rpm: 3, tpm: 1000 });
  });

  it('limits the keys of an organisation together through its own budget', async () => {
    const { app, limiter } = gateway();
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('tpm', 300)]);
    await limiter.createEntity({ id: 'a', parent: 'org', cascade: true });
    await limiter.createEntity({ id: 'b', parent: 'org', cascade: true });
    // 100 prompt tokens + 150 completion tokens: each request really uses 250 of the organisation's 300.
    const longPrompt = 'x'.repeat(400);
    expect((await chat(app, 'a', longPrompt, 150)).status).toBe(200);
    const fourth = await chat(app, 'b', longPrompt, 150);
    expect(fourth.status).toBe(429);
    expect(fourth.body.limits.find((l: { scope: string }) => l.scope === 'parent').exceeded).toBe(true);
  });

  it('serves Prometheus metrics of its decisions on GET /metrics', async () => {
    const collector = collectMetrics({ registry: new Registry() });
    try {
      const { app } = gateway(collector.registry);
      for (let i = 0; i < 4; i += 1) await chat(app, 'key-1');
      await chat(app, 'key-1', 'x', 5000);
      const scraped = await request(app).get('/metrics');
      expect(scraped.status).toBe(200);
      expect(scraped.headers['content-type']).toContain('text/plain');
      expect(scraped.text).toContain('tollgate_decisions_total{outcome="admitted"} 3');
      expect(scraped.text).toContain('tollgate_decisions_total{outcome="limited",limit="rpm"} 1');
      expect(scraped.text).toContain('tollgate_decisions_total{outcome="invalid"} 1');
      expect(scraped.text).toContain('tollgate_lease_settlements_total{kind="commit"} 3');
      expect(scraped.text).not.toContain('key-1');
    } finally {
      collector.stop();
    }
  });

  it('has no /metrics route unless given a registry', async () => {
    expect((await request(gateway().app).get('/metrics')).status).toBe(404);
  });
});
