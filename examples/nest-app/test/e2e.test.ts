import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MemoryStore, RateLimiter } from '@tollgate/core';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppModule, DEFAULT_LIMITS } from '../src/app.module.js';

describe('Nest chat example', () => {
  let app: INestApplication;
  let limiter: RateLimiter;
  const tokensLeft = async (key: string) =>
    (await limiter.available({ entity: key, resource: 'chat' }))['tpm'];
  const complete = (key: string, content: string, maxTokens: number) =>
    request(app.getHttpServer())
      .post('/v1/chat/completions')
      .set('Authorization', `Bearer ${key}`)
      .send({ messages: [{ role: 'user', content }], max_tokens: maxTokens });

  beforeEach(async () => {
    const now = Date.UTC(2025, 0, 1); // frozen: nothing refills during a test
    limiter = new RateLimiter({ store: new MemoryStore(), limits: DEFAULT_LIMITS, clock: () => now });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(RateLimiter)
      .useValue(limiter)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterEach(() => app.close());

  it('charges the worst case up front and settles to the real usage', async () => {
    const response = await complete('sk-a', 'hello there', 50).expect(201);
    expect(response.body.choices[0].message.content).toBe('You said: hello there');
    expect(response.body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    // the headers describe the up-front charge: 1 request, 3 + 50 tokens
    expect(response.headers['ratelimit-policy']).toBe('"rpm";q=20;w=60, "tpm";q=2000;w=60');
    expect(response.headers.ratelimit).toBe('"rpm";r=19;t=3, "tpm";r=1947;t=2');
    await vi.waitFor(async () => expect(await tokensLeft('sk-a')).toBe(2000 - 7));
  });

  it('answers 429 with Retry-After when the token budget cannot cover the worst case', async () => {
    const long = 'word '.repeat(400); // 500 prompt tokens; the echo is 402 words
    await complete('sk-b', long, 500).expect(201);
    await complete('sk-b', long, 500).expect(201);
    await vi.waitFor(async () => expect(await tokensLeft('sk-b')).toBe(2000 - 2 * 902));
    const limited = await complete('sk-b', long, 500).expect(429);
    expect(limited.headers['retry-after']).toBe('25'); // (1000 − 196) tokens × 30 ms
    expect(limited.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfterMs: 24_120 });
    expect(limited.body.limits.find((limit: { limit: string }) => limit.limit === 'tpm')).toMatchObject({
      exceeded: true,
      available: 196,
    });
    await complete('sk-other', long, 500).expect(201); // other keys are unaffected
  });

  it('answers 400 for a request that could never fit the budget, charging nothing', async () => {
    const response = await complete('sk-c', 'hi', 5_000).expect(400);
    expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY' });
    expect(await tokensLeft('sk-c')).toBe(2000);
  });

  it('charges a stream its worst case up front and its real usage once it ends', async () => {
    const response = await request(app.getHttpServer())
      .get('/v1/chat/stream?prompt=hi%20there&max_tokens=10')
      .set('Authorization', 'Bearer sk-d')
      .expect(200);
    expect(response.headers.ratelimit).toBe('"rpm";r=19;t=3, "tpm";r=1988;t=1'); // 2 + 10 tokens held
    const events = response.text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)));
    expect(events).toEqual([
      { delta: 'You' },
      { delta: 'said:' },
      { delta: 'hi' },
      { delta: 'there' },
      { done: true, total_tokens: 6 },
    ]);
    await vi.waitFor(async () => expect(await tokensLeft('sk-d')).toBe(2000 - 6));
  });

  it('keys anonymous callers by address and never limits the health check', async () => {
    await complete('', 'hello', 10).unset('Authorization').expect(201);
    expect((await limiter.available({ entity: '127.0.0.1', resource: 'chat' }))['rpm']).toBe(19);
    const health = await request(app.getHttpServer()).get('/health').expect(200, { status: 'ok' });
    expect(health.headers.ratelimit).toBeUndefined();
  });
});
