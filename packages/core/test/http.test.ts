import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import {
  HttpRateLimit,
  ipKey,
  Limit,
  MemoryStore,
  RateLimiter,
  rateLimitHeaders,
  retryAfterSeconds,
} from '@tollgate/core';
import { describe, expect, it, vi } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { failingStore, status } from './helpers.js';

describe('rateLimitHeaders', () => {
  it('formats draft-8 with one named policy per limit, ancestors labelled', () => {
    const headers = rateLimitHeaders(
      [
        status({}),
        status({ limit: 'tpm', capacity: 20_000, refillAmount: 10_000, available: 9500, resetAfterMs: 3000 }),
        status({
          entity: 'org',
          depth: 1,
          capacity: 1000,
          refillAmount: 1000,
          available: 900,
          resetAfterMs: 0,
        }),
      ],
      { standard: 'draft-8', legacy: false, nowMs: 0 },
    );
    expect(headers).toEqual({
      'RateLimit-Policy': '"rpm";q=100;w=60, "tpm";q=20000;w=120, "parent.rpm";q=1000;w=60',
      RateLimit: '"rpm";r=42;t=18, "tpm";r=9500;t=3, "parent.rpm";r=900;t=0',
    });
  });

  it('formats draft-6 and legacy headers from the tightest limit', () => {
    const headers = rateLimitHeaders(
      [
        status({}),
        status({ limit: 'tpm', capacity: 1000, refillAmount: 1000, available: 10, resetAfterMs: 59_001 }),
      ],
      { standard: 'draft-6', legacy: true, nowMs: 1_700_000_000_000 },
    );
    expect(headers).toEqual({
      'RateLimit-Policy': '100;w=60, 1000;w=60',
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '10',
      'RateLimit-Reset': '60',
      'X-RateLimit-Limit': '1000',
      'X-RateLimit-Remaining': '10',
      'X-RateLimit-Reset': '1700000060',
    });
  });

  it('sends nothing when headers are off or there are no statuses', () => {
    expect(rateLimitHeaders([status({})], { standard: false, legacy: false, nowMs: 0 })).toEqual({});
    expect(rateLimitHeaders([], { standard: 'draft-8', legacy: true, nowMs: 0 })).toEqual({});
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
  });
});

describe('ipKey', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:cb00:7109', '203.0.113.9'],
    ['2001:db8:abcd:1234:5:6:7:8', '2001:db8:abcd:1200::/56'],
    ['2001:db8:abcd:12ff::1', '2001:db8:abcd:1200::/56'],
    ['fe80::1%eth0', 'fe80::/56'],
    ['::1', '::/56'],
  ])('keys %s as %s', (address, key) => {
    expect(ipKey(address)).toBe(key);
  });

  it('puts two addresses of one /56 in one bucket and another /56 in another', () => {
    expect(ipKey('2001:db8:0:1::1')).toBe(ipKey('2001:db8:0:ff::2'));
    expect(ipKey('2001:db8:0:100::1')).not.toBe(ipKey('2001:db8:0:ff::1'));
  });

  it('honours a custom subnet', () => {
    expect(ipKey('2001:db8:abcd:1234:5:6:7:8', { ipv6Subnet: 64 })).toBe('2001:db8:abcd:1234::/64');
    expect(ipKey('2001:db8:abcd:1234:5:6:7:8', { ipv6Subnet: 128 })).toBe('2001:db8:abcd:1234:5:6:7:8/128');
  });

  it.each([undefined, '', 'localhost', '1.2.3', '999.1.1.1', '1.2.3.4; DROP TABLE', 'x'.repeat(10_000)])(
    'rejects %s with ERR_TOLLGATE_INVALID_KEY',
    (address) => {
      expect(() => ipKey(address)).toThrow(expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_KEY' }));
    },
  );
});

describe('HttpRateLimit', () => {
  type Req = { ip?: string; key?: string; tokens?: unknown };
  const make = (
    options: Partial<ConstructorParameters<typeof HttpRateLimit<Req>>[0]> = {},
    store = new MemoryStore({ maxKeys: 100 }),
  ) => {
    const clock = new FakeClock();
    const logger = new RecordingLogger();
    const limiter = new RateLimiter({
      store,
      limits: [Limit.perMinute('rpm', 2), Limit.perMinute('tpm', 100)],
      clock: clock.read,
      logger,
    });
    const gate = new HttpRateLimit<Req>({ limiter, logger, ...options }, (req) => req.ip);
    return { gate, limiter, logger };
  };

  it('proceeds with headers, then rejects with 429, Retry-After and the JSON body', async () => {
    const { gate } = make({ consume: { rpm: 1 } });
    for (let i = 0; i < 2; i += 1) expect((await gate.decide({ ip: '10.0.0.1' })).action).toBe('proceed');
    const decision = await gate.decide({ ip: '10.0.0.1' });
    expect(decision).toMatchObject({ action: 'reject', status: 429 });
    if (decision.action !== 'reject') return;
    expect(decision.headers['Retry-After']).toBe('30');
    expect(decision.headers['RateLimit']).toBe('"rpm";r=0;t=60, "tpm";r=100;t=0');
    expect(decision.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfterMs: 30_000 });
  });

  it('answers 400 for an unusable key or cost and charges nothing', async () => {
    const { gate, limiter } = make({
      entity: (req) => req.key as string,
      consume: (req) => ({ tpm: req.tokens as number }),
    });
    for (const req of [
      { key: '' },
      { key: 'k', tokens: -5 },
      { key: 'k', tokens: 'lots' },
      { key: 'k', tokens: 1e9 },
      { key: 'k\uD800', tokens: 1 },
    ]) {
      const decision = await gate.decide(req);
      expect(decision).toMatchObject({ action: 'reject', status: 400 });
    }
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 2, tpm: 100 });
  });

  it("answers 503 when the store is unavailable under 'block'", async () => {
    const { gate } = make({}, failingStore('throw') as unknown as MemoryStore);
    expect(await gate.decide({ ip: '10.0.0.1' })).toMatchObject({
      action: 'reject',
      status: 503,
      headers: { 'Retry-After': '1' },
    });
  });

  it('skips without charging', async () => {
    const { gate, limiter } = make({ skip: () => true });
    expect(await gate.decide({ ip: '10.0.0.1' })).toEqual({ action: 'skip' });
    expect(await limiter.available({ entity: '10.0.0.1' })).toEqual({ rpm: 2, tpm: 100 });
  });

  it('commits on success and rolls back on 5xx, thrown errors and aborts', async () => {
    const { gate, limiter } = make({ entity: () => 'k', consume: { rpm: 1, tpm: 10 } });
    const outcomes = [
      { statusCode: 200 },
      { statusCode: 503 },
      { statusCode: 200, error: new Error('x') },
      { statusCode: 200, aborted: true },
    ];
    for (const outcome of outcomes) {
      const decision = await gate.decide({});
      if (decision.action !== 'proceed') throw new Error('expected proceed');
      await gate.finish(decision.state, outcome);
      expect(decision.state.lease.isClosed).toBe(true);
    }
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1, tpm: 90 });
  });

  it('keeps the charge on errors when rollbackOnError is false', async () => {
    const { gate, limiter } = make({
      entity: () => 'k',
      consume: { rpm: 1 },
      rollbackOnError: false,
      rollbackOnAbort: false,
    });
    for (const outcome of [{ statusCode: 500 }, { statusCode: 200, aborted: true }]) {
      const decision = await gate.decide({});
      if (decision.action === 'proceed') await gate.finish(decision.state, outcome);
    }
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ rpm: 0 });
  });

  it('settles every lease of a response admitted more than once, each exactly once', async () => {
    // One GraphQL request running two limited resolvers: two flows admit on one response.
    const { gate, limiter } = make({ entity: () => 'k', consume: { rpm: 1, tpm: 10 } });
    const other = new HttpRateLimit<Req>(
      { limiter, entity: () => 'k', consume: { tpm: 5 } },
      () => undefined,
    );
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const first = await gate.admit({}, res.req, res);
    const second = await other.admit({}, res.req, res);
    if (first.action !== 'proceed' || second.action !== 'proceed') throw new Error('expected proceed');
    expect(res.listenerCount('finish')).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1, tpm: 85 });
    res.emit('finish');
    res.emit('close');
    await vi.waitFor(() => {
      expect(first.state.lease.isClosed).toBe(true);
      expect(second.state.lease.isClosed).toBe(true);
    });
    // Committed once each: nothing refunded, nothing charged twice.
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 1, tpm: 85 });
  });

  it('keeps one pair of listeners however many admissions a response has, and settles each once', async () => {
    const { gate, limiter } = make({ entity: () => 'k', consume: { tpm: 1 } });
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    // More than Node's default of 10 listeners per event, as a query with many limited aliases would make.
    const admissions = [];
    for (let index = 0; index < 15; index += 1) admissions.push(await gate.admit({}, res.req, res));
    expect(res.listenerCount('finish')).toBe(1);
    expect(res.listenerCount('close')).toBe(1);
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ tpm: 100 - 15 });
    // Settled early (as Koa does for a thrown 5xx): every lease refunded, and the events then do nothing.
    await gate.settle(res, { statusCode: 500, error: new Error('boom') });
    for (const admission of admissions) {
      if (admission.action !== 'proceed') throw new Error('expected proceed');
      expect(admission.state.lease.settledBy).toBe('rollback');
    }
    res.emit('finish');
    res.emit('close');
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ tpm: 100 });
    expect(await gate.settle(res, { statusCode: 200 })).toBeUndefined();
  });

  it('refunds every lease of a response the client abandoned', async () => {
    const { gate, limiter } = make({ entity: () => 'k', consume: { rpm: 1 } });
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const admissions = [await gate.admit({}, res.req, res), await gate.admit({}, res.req, res)];
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ rpm: 0 });
    res.emit('close'); // before `finish`: the client went away
    await vi.waitFor(() => {
      for (const admission of admissions) {
        if (admission.action !== 'proceed') throw new Error('expected proceed');
        expect(admission.state.lease.isClosed).toBe(true);
      }
    });
    expect(await limiter.available({ entity: 'k' })).toMatchObject({ rpm: 2 });
  });

  it('validates options once, at construction', () => {
    const limiter = new RateLimiter({
      store: new MemoryStore({ maxKeys: 10 }),
      limits: [Limit.perMinute('rpm', 1)],
    });
    expect(() => new HttpRateLimit({ limiter: {} as RateLimiter }, () => undefined)).toThrow(
      'Expected `limiter` to be a RateLimiter',
    );
    expect(() => new HttpRateLimit({ limiter, headers: 'draft-9' as never }, () => undefined)).toThrow(
      "Expected `headers` to be 'draft-8', 'draft-7', 'draft-6' or false",
    );
    expect(() => new HttpRateLimit({ limiter, consume: 5 as never }, () => undefined)).toThrow(
      'Expected `consume` to be an object',
    );
    expect(() => new HttpRateLimit({ limiter, skip: 'yes' as never }, () => undefined)).toThrow(
      'Expected `skip` to be a function',
    );
  });

  it('warns at startup when a static consume names a limit no default limit has', () => {
    const { logger } = make({ consume: { rpd: 1 } });
    expect(logger.warnings.map((w) => w.details?.['code'])).toContain('WARN_TOLLGATE_UNKNOWN_LIMIT');
  });
});
