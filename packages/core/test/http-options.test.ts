import type { ServerResponse } from 'node:http';
import {
  HttpRateLimit,
  type HttpRateLimitOptions,
  Limit,
  MemoryStore,
  RateLimiter,
  RateLimitHeaderWriter,
  type RateLimitState,
  rateLimitHeaders,
} from '@tollgate/core';
import { describe, expect, it, vi } from 'vitest';
import { FakeClock, RecordingLogger } from './fake-clock.js';
import { status } from './helpers.js';

type Req = { ip?: string; path?: string };

const limiterOf = (limits = [Limit.perMinute('rpm', 2)]) => {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const limiter = new RateLimiter({
    store: new MemoryStore({ maxKeys: 100 }),
    limits,
    clock: clock.read,
    logger,
  });
  return { limiter, logger, clock };
};

const build = (options: Record<string, unknown>, framework: Parameters<typeof flowOf>[1] = undefined) =>
  flowOf({ limiter: limiterOf().limiter, ...options } as HttpRateLimitOptions<Req>, framework);

function flowOf(
  options: HttpRateLimitOptions<Req>,
  framework?: { options?: readonly string[]; optionHints?: Readonly<Record<string, string>> },
) {
  return new HttpRateLimit<Req>(options, { clientAddress: (req) => req.ip, ...framework });
}

/** The error a construction throws (or undefined). */
function thrownBy(construct: () => unknown): { code?: string; field?: string; message: string } | undefined {
  try {
    construct();
  } catch (error) {
    return error as { code?: string; field?: string; message: string };
  }
  return undefined;
}

describe('unknown option names', () => {
  it('refuses express-rate-limit options, naming each with its Tollgate equivalent', () => {
    const error = thrownBy(() => build({ windowMs: 60_000, max: 5 }));
    expect(error).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'windowMs' });
    expect(error?.message).toContain('Unknown options `windowMs`: a limit carries its own window');
    expect(error?.message).toContain('`max`: a limit carries its own rate');
    expect(error?.message).toContain('Limit.perMinute("rpm", 100)');
  });

  it('names the foreign options before asking for a limiter, so a pasted configuration learns what to change', () => {
    const error = thrownBy(() => new HttpRateLimit({ windowMs: 60_000, limit: 5 } as never, () => undefined));
    expect(error).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'windowMs' });
    expect(error?.message).toContain('`limit`: a limit carries its own rate');
  });

  it.each([
    ['limit', '`limits` takes Limit objects'],
    ['ttl', 'a limit carries its own window'],
    ['keyGenerator', 'use `entity: (req) => string`'],
    ['handler', 'use `onLimited`'],
    ['standardHeaders', "headers: 'draft-6' | 'draft-7' | 'draft-8' | false"],
    ['passOnStoreError', "`onUnavailable: 'allow'`"],
    ['skipIf', 'use `skip: (req) => boolean`'],
    ['getTracker', 'use `entity: (req) => string`'],
    ['errorMessage', 'use `message`'],
    ['timeWindow', 'a limit carries its own window'],
    ['allowList', 'use `skip: (req) => boolean`'],
    ['errorResponseBuilder', 'use `message: (req, error) => body` and `statusCode`'],
    ['store', 'the store belongs to the RateLimiter'],
    ['global', 'RateLimitModule.forRoot()'],
    ['duration', 'a limit carries its own window'],
    ['id', 'use `entity: (req) => string`'],
    ['driver', 'the store belongs to the RateLimiter'],
    ['whitelist', 'use `skip: (req) => boolean`'],
    ['status', 'use `statusCode`'],
  ])(
    'explains `%s` (express-rate-limit, @nestjs/throttler, @fastify/rate-limit, koa-ratelimit)',
    (key, hint) => {
      const error = thrownBy(() => build({ [key]: 1 }));
      expect(error).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: key });
      expect(error?.message).toContain(hint);
    },
  );

  it('suggests the nearest accepted name for a typo, and lists the accepted names', () => {
    const error = thrownBy(() => build({ entitiy: () => 'k' }));
    expect(error?.message).toContain('`entitiy`: did you mean `entity`?');
    expect(error?.message).toContain('Accepted options: `limiter`, `entity`');
    expect(thrownBy(() => build({ RollbackOnError: false }))?.message).toContain(
      'did you mean `rollbackOnError`?',
    );
    expect(thrownBy(() => build({ zzzzzzzzzz: 1 }))?.message).toContain(
      '`zzzzzzzzzz`: not a Tollgate option',
    );
  });

  it('refuses an unknown name even when its value is undefined (a misspelt option is still unset)', () => {
    expect(thrownBy(() => build({ windowMs: undefined }))).toMatchObject({ field: 'windowMs' });
  });

  it("accepts the adapter's own options, and uses the adapter's explanations", () => {
    const onLimited = () => undefined;
    expect(thrownBy(() => build({ onLimited }, { options: ['onLimited'] }))).toBeUndefined();
    expect(thrownBy(() => build({ onLimited }))?.message).toContain('Unknown option `onLimited`');
    const hinted = thrownBy(() => build({ onLimited }, { optionHints: { onLimited: 'use a filter' } }));
    expect(hinted?.message).toContain('`onLimited`: use a filter');
  });

  it('refuses hostile keys from parsed configuration without touching any prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as Record<
      string,
      unknown
    >;
    const error = thrownBy(() => build(parsed));
    expect(error).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: '__proto__' });
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    const long = thrownBy(() => build({ [`${'x'.repeat(5000)}\n`]: 1 }));
    expect(long?.message.length).toBeLessThan(2000);
    expect(long?.message).not.toContain('\n');
  });

  it('accepts every documented option', () => {
    const options: Required<HttpRateLimitOptions<Req>> = {
      limiter: limiterOf().limiter,
      entity: () => 'k',
      resource: 'r',
      consume: { rpm: 1 },
      limits: [Limit.perMinute('rpm', 2)],
      skip: () => false,
      headers: 'draft-7',
      legacyHeaders: true,
      rollbackOnError: true,
      rollbackOnAbort: true,
      logger: new RecordingLogger(),
      validate: true,
      exposeEntities: false,
      statusCode: 429,
      message: 'slow down',
      requestPropertyName: 'quota',
      skipSuccessfulRequests: false,
      skipFailedRequests: true,
      requestWasSuccessful: () => true,
    };
    expect(thrownBy(() => flowOf(options))).toBeUndefined();
  });
});

describe('statusCode, message and requestPropertyName validation', () => {
  it.each([200, 302, 399, 600, 429.5, '429', Number.NaN, null])('refuses statusCode %s', (statusCode) => {
    expect(thrownBy(() => build({ statusCode }))).toMatchObject({
      code: 'ERR_TOLLGATE_INVALID_OPTION',
      field: 'statusCode',
      message: expect.stringContaining('Expected `statusCode` to be an integer from 400 to 599'),
    });
  });

  it('accepts a string, a JSON object or array, a null-prototype object, or a function as message', () => {
    for (const message of ['Too many', '', { error: 'slow_down' }, ['a'], Object.create(null), () => 'x']) {
      expect(thrownBy(() => build({ message }))).toBeUndefined();
    }
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['a boolean', true],
    ['a Map', new Map()],
    ['a class instance', new (class Body {})()],
    ['a Date', new Date(0)],
  ])('refuses %s as message', (_what, message) => {
    expect(thrownBy(() => build({ message }))).toMatchObject({ field: 'message' });
  });

  it('refuses a message object that cannot be serialised, at startup', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(thrownBy(() => build({ message: cyclic }))?.message).toContain('serialisable as JSON');
    expect(thrownBy(() => build({ message: { big: 1n } }))?.message).toContain('serialisable as JSON');
  });

  it.each(['', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 5, null])(
    'refuses requestPropertyName %s',
    (requestPropertyName) => {
      expect(thrownBy(() => build({ requestPropertyName }))).toMatchObject({
        code: 'ERR_TOLLGATE_INVALID_OPTION',
        field: 'requestPropertyName',
      });
    },
  );

  it("exposes requestPropertyName, 'rateLimit' by default", () => {
    expect(build({}).requestPropertyName).toBe('rateLimit');
    expect(build({ requestPropertyName: 'quota' }).requestPropertyName).toBe('quota');
  });

  it('refuses non-boolean skip options and a non-function requestWasSuccessful', () => {
    expect(thrownBy(() => build({ skipSuccessfulRequests: 'yes' }))).toMatchObject({
      field: 'skipSuccessfulRequests',
    });
    expect(thrownBy(() => build({ skipFailedRequests: 1 }))).toMatchObject({ field: 'skipFailedRequests' });
    expect(thrownBy(() => build({ requestWasSuccessful: true }))).toMatchObject({
      field: 'requestWasSuccessful',
    });
  });

  it("points express-rate-limit's proxy validations at `proxy`", () => {
    expect(thrownBy(() => build({ validate: { trustProxy: false } }))).toMatchObject({
      field: 'validate.trustProxy',
      message: expect.stringContaining("express-rate-limit's proxy checks are `proxy` here"),
    });
  });

  it('points a boolean headers option at legacyHeaders', () => {
    expect(thrownBy(() => build({ headers: true }))?.message).toContain('use `legacyHeaders: true`');
  });
});

describe('draft-7 headers', () => {
  it('writes the combined RateLimit of one limit as express-rate-limit does', () => {
    expect(rateLimitHeaders([status({})], { standard: 'draft-7', legacy: false, nowMs: 0 })).toEqual({
      'RateLimit-Policy': '100;w=60',
      RateLimit: 'limit=100, remaining=42, reset=18',
    });
  });

  it('lists every policy and describes the most restrictive limit in RateLimit', () => {
    const statuses = [
      status({}),
      status({ limit: 'tpm', capacity: 10_000, refillAmount: 10_000, available: 50, resetAfterMs: 59_001 }),
      status({ limit: 'rph', capacity: 1000, refillAmount: 1000, refillPeriodMs: 3_600_000, available: 900 }),
    ];
    expect(rateLimitHeaders(statuses, { standard: 'draft-7', legacy: false, nowMs: 0 })).toEqual({
      'RateLimit-Policy': '100;w=60, 10000;w=60, 1000;w=3600',
      RateLimit: 'limit=10000, remaining=50, reset=60',
    });
  });

  it('names an exceeded limit first, and never states a negative remaining (debt)', () => {
    const statuses = [
      status({ available: 1 }),
      status({ limit: 'tpm', capacity: 1000, available: -300, exceeded: true, resetAfterMs: 90_000 }),
    ];
    const headers = rateLimitHeaders(statuses, { standard: 'draft-7', legacy: false, nowMs: 0 });
    expect(headers['RateLimit']).toBe('limit=1000, remaining=0, reset=90');
  });

  it('writes the same values onto a response, with legacy headers on request', () => {
    const writer = new RateLimitHeaderWriter('draft-7', true);
    const written: Record<string, string> = {};
    const sink = { setHeader: (name: string, value: string) => (written[name] = value) };
    for (let i = 0; i < 2; i += 1) writer.write(sink, [status({})], () => 1_700_000_000_000);
    expect(written).toEqual({
      'RateLimit-Policy': '100;w=60',
      RateLimit: 'limit=100, remaining=42, reset=18',
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '42',
      'X-RateLimit-Reset': '1700000018',
    });
  });
});

describe('limited responses: statusCode and message', () => {
  const spend = async (flow: HttpRateLimit<Req>, req: Req = { ip: '10.0.0.1' }) => {
    for (let i = 0; i < 2; i += 1) await flow.decide(req);
    return flow.decide(req);
  };

  it('answers with the statusCode and a string message, keeping Retry-After and the headers', async () => {
    const decision = await spend(build({ statusCode: 503, message: 'Too many requests' }));
    expect(decision).toMatchObject({
      action: 'reject',
      reason: 'limited',
      status: 503,
      body: 'Too many requests',
      headers: { 'Retry-After': '30', RateLimit: '"rpm";r=0;t=60' },
    });
  });

  it('answers with a JSON message as given', async () => {
    const decision = await spend(build({ message: { error: 'slow_down' } }));
    expect(decision).toMatchObject({ status: 429, body: { error: 'slow_down' } });
  });

  it('calls a message function with the request and the error, awaiting a promise', async () => {
    const message = vi.fn(async (req: Req, error: { retryAfterMs: number }) => ({
      path: req.path,
      waitMs: error.retryAfterMs,
    }));
    const decision = await spend(build({ message }), { ip: '10.0.0.1', path: '/x' });
    expect(decision).toMatchObject({ status: 429, body: { path: '/x', waitMs: 30_000 } });
    expect(message).toHaveBeenCalledTimes(1);
  });

  it('leaves 400 and 503 bodies alone', async () => {
    const flow = build({ message: 'Too many', statusCode: 403, entity: () => '' });
    expect(await flow.decide({})).toMatchObject({
      reason: 'invalid',
      status: 400,
      body: { code: 'ERR_TOLLGATE_INVALID_KEY' },
    });
  });

  it('propagates a message function that throws or returns something unsendable, as a server error', async () => {
    const throwing = build({
      message: () => {
        throw new Error('template missing');
      },
    });
    await expect(spend(throwing)).rejects.toThrow('template missing');
    const unsendable = build({ message: () => 42 });
    await expect(spend(unsendable)).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_INVALID_OPTION',
      field: 'message',
    });
  });

  it("never calls the message function when the adapter's onLimited answers", async () => {
    const message = vi.fn(() => 'x');
    const flow = build({ message, onLimited: () => undefined }, { options: ['onLimited'] });
    const decision = await spend(flow);
    expect(decision).toMatchObject({ reason: 'limited', body: { error: 'rate_limit_exceeded' } });
    expect(message).not.toHaveBeenCalled();
  });
});

describe('skipSuccessfulRequests and skipFailedRequests', () => {
  const res = (statusCode: number) => ({ statusCode }) as ServerResponse;

  /** Decides one request for key `k`, finishes it with `outcome`, and returns what `rpm` has left (of 10). */
  async function runs(
    options: Partial<HttpRateLimitOptions<Req>>,
    outcomes: { statusCode: number; aborted?: boolean; error?: unknown }[],
  ) {
    const { limiter, logger } = limiterOf([Limit.perMinute('rpm', 10)]);
    const flow = flowOf({ limiter, logger, entity: () => 'k', ...options });
    const states: RateLimitState[] = [];
    for (const outcome of outcomes) {
      const decision = await flow.decide({ path: '/login' });
      if (decision.action !== 'proceed') throw new Error(`expected proceed, got ${decision.action}`);
      states.push(decision.state);
      await flow.finish(decision.state, outcome, { path: '/login' }, res(outcome.statusCode));
    }
    return { left: (await limiter.available({ entity: 'k' }))['rpm'], logger, states, flow };
  }

  it('refunds successful requests and keeps failed ones with skipSuccessfulRequests', async () => {
    const { left } = await runs({ skipSuccessfulRequests: true }, [
      { statusCode: 200 },
      { statusCode: 302 },
      { statusCode: 401 },
      { statusCode: 429 },
    ]);
    expect(left).toBe(8);
  });

  it('refunds failed requests (4xx, 5xx, thrown, aborted) and keeps successful ones with skipFailedRequests', async () => {
    const { left } = await runs(
      { skipFailedRequests: true, rollbackOnError: false, rollbackOnAbort: false },
      [
        { statusCode: 200 },
        { statusCode: 404 },
        { statusCode: 500 },
        { statusCode: 200, error: new Error('boom') },
        { statusCode: 200, aborted: true },
      ],
    );
    expect(left).toBe(9);
  });

  it('still refunds 5xx under rollbackOnError with skipSuccessfulRequests, unless told otherwise', async () => {
    expect((await runs({ skipSuccessfulRequests: true }, [{ statusCode: 503 }])).left).toBe(10);
    expect(
      (await runs({ skipSuccessfulRequests: true, rollbackOnError: false }, [{ statusCode: 503 }])).left,
    ).toBe(9);
  });

  it('keeps an aborted request with skipSuccessfulRequests and rollbackOnAbort: false (it never succeeded)', async () => {
    const { left } = await runs({ skipSuccessfulRequests: true, rollbackOnAbort: false }, [
      { statusCode: 200, aborted: true },
    ]);
    expect(left).toBe(9);
  });

  it('asks requestWasSuccessful, sync or async, with the request and the response', async () => {
    const seen: unknown[] = [];
    const requestWasSuccessful = async (req: Req, response: ServerResponse) => {
      seen.push([req.path, response.statusCode]);
      return response.statusCode === 404 || response.statusCode < 400;
    };
    const { left } = await runs({ skipSuccessfulRequests: true, requestWasSuccessful }, [
      { statusCode: 404 },
      { statusCode: 401 },
    ]);
    expect(left).toBe(9);
    expect(seen).toEqual([
      ['/login', 404],
      ['/login', 401],
    ]);
  });

  it('keeps the charge and warns once when requestWasSuccessful throws or rejects', async () => {
    const { left, logger } = await runs(
      {
        skipSuccessfulRequests: true,
        requestWasSuccessful: (_req, response) => {
          if (response.statusCode === 200) throw new Error('bad check');
          return Promise.reject(new Error('bad async check'));
        },
      },
      [{ statusCode: 200 }, { statusCode: 201 }],
    );
    expect(left).toBe(8);
    const codes = logger.warnings.map((warning) => warning.details?.['code']);
    expect(codes.filter((code) => code === 'WARN_TOLLGATE_SUCCESS_CHECK_FAILED')).toHaveLength(1);
  });

  it('leaves a lease the handler settled itself, without asking', async () => {
    const { limiter, logger } = limiterOf([Limit.perMinute('rpm', 10)]);
    const requestWasSuccessful = vi.fn(() => true);
    const flow = flowOf({
      limiter,
      logger,
      entity: () => 'k',
      skipSuccessfulRequests: true,
      requestWasSuccessful,
    });
    const committed = await flow.decide({});
    const rolledBack = await flow.decide({});
    if (committed.action !== 'proceed' || rolledBack.action !== 'proceed')
      throw new Error('expected proceed');
    await committed.state.lease.commit();
    await rolledBack.state.lease.rollback();
    await flow.finish(committed.state, { statusCode: 200 }, {}, res(200));
    await flow.finish(rolledBack.state, { statusCode: 200 }, {}, res(200));
    expect(requestWasSuccessful).not.toHaveBeenCalled();
    expect(committed.state.lease.settledBy).toBe('commit');
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 9 });
    expect(logger.warnings).toEqual([]);
  });

  it('judges by the status code when finish gets no request or response', async () => {
    const { limiter } = limiterOf([Limit.perMinute('rpm', 10)]);
    const flow = flowOf({
      limiter,
      entity: () => 'k',
      skipFailedRequests: true,
      requestWasSuccessful: () => {
        throw new Error('not called');
      },
    });
    for (const statusCode of [200, 403]) {
      const decision = await flow.decide({});
      if (decision.action === 'proceed') await flow.finish(decision.state, { statusCode });
    }
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 9 });
  });
});
