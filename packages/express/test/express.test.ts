import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Decision, Limit, MemoryStore, RateLimiter, type RateLimitState } from '@tollgate/core';
import { eventually, recordingLogger, startServer } from '@tollgate/test-utils';
import express from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import express4 from 'express4';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimit } from '../src/index.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function limiterWith(limits = [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)]) {
  const logger = recordingLogger();
  const now = Date.now();
  return { limiter: new RateLimiter({ store: new MemoryStore(), limits, logger, clock: () => now }), logger };
}

describe.each([
  ['Express 5', express],
  ['Express 4', express4],
])('%s rateLimit()', (_name, createExpress) => {
  it('charges each route its own resource and cost when mounted per route', async () => {
    const { limiter } = limiterWith();
    const app = createExpress();
    app.use(createExpress.json());
    const key = (req: express.Request) => req.get('x-api-key') ?? '';
    app.post(
      '/chat',
      rateLimit({
        limiter,
        entity: key,
        resource: 'chat',
        consume: (req) => ({ rpm: 1, tpm: req.body.maxTokens }),
      }),
      (req, res, next) => {
        const lease = req.rateLimit?.lease;
        lease?.adjust({ tpm: 42 - req.body.maxTokens }).then(() => res.json({ tokens: 42 }), next);
      },
    );
    app.get(
      '/search',
      rateLimit({ limiter, entity: key, resource: 'search', consume: { rpm: 5 } }),
      (_req, res) => {
        res.json({ results: [] });
      },
    );
    await request(app).post('/chat').set('x-api-key', 'k').send({ maxTokens: 500 }).expect(200);
    await request(app).get('/search').set('x-api-key', 'k').expect(200);
    await eventually(
      async () => (await limiter.available({ entity: 'k', resource: 'chat' }))['tpm'] === 9958,
      'the chat request commits its real token count',
    );
    expect(await limiter.available({ entity: 'k', resource: 'chat' })).toEqual({ rpm: 99, tpm: 9958 });
    expect(await limiter.available({ entity: 'k', resource: 'search' })).toEqual({ rpm: 95, tpm: 10_000 });
  });

  it('refunds and skips the handler when the client leaves while the limiter decides', async () => {
    const { limiter } = limiterWith();
    const decisions: Decision[] = [];
    const tryAcquire = limiter.tryAcquire.bind(limiter);
    limiter.tryAcquire = async (request) => {
      const decision = await tryAcquire(request);
      decisions.push(decision);
      return decision;
    };
    let releaseEntity: () => void = () => {};
    const entityGate = new Promise<void>((resolve) => {
      releaseEntity = resolve;
    });
    let entityAsked = false;
    let handlerRan = false;
    let clientGone = false;
    const app = createExpress();
    app.use((_req, res, next) => {
      res.on('close', () => {
        clientGone = true;
      });
      next();
    });
    app.use(
      rateLimit({
        limiter,
        entity: async () => {
          entityAsked = true;
          await entityGate;
          return 'slow-key';
        },
      }),
    );
    app.get('/ok', (_req, res) => {
      handlerRan = true;
      res.json({ ok: true });
    });
    const started = await startServer(app);
    closers.push(started.close);
    const { port } = started.server.address() as AddressInfo;
    const client = httpRequest({ host: '127.0.0.1', port, path: '/ok' });
    client.on('error', () => {});
    client.end();
    await eventually(() => entityAsked, 'the middleware asks for the entity');
    client.destroy();
    await eventually(() => clientGone, 'the server sees the client leave');
    releaseEntity();
    await eventually(() => {
      const decision = decisions[0];
      return decision?.allowed === true && decision.lease.isClosed;
    }, 'the abandoned request is settled');
    if (decisions[0]?.allowed) await decisions[0].lease.release();
    expect(handlerRan).toBe(false);
    expect(await limiter.available({ entity: 'slow-key' })).toEqual({ rpm: 100, tpm: 10_000 });
  });

  it('rejects an onLimited that is not a function when the middleware is built', () => {
    const { limiter } = limiterWith();
    expect(() => rateLimit({ limiter, onLimited: 'nope' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'onLimited' }),
    );
  });

  it('warns once when the middleware is built inside a request handler', async () => {
    const { limiter, logger } = limiterWith([Limit.perSecond('rps', 1000)]);
    const app = createExpress();
    app.get(
      '/ok',
      (req, res, next) => rateLimit({ limiter, logger })(req, res, next),
      (_req, res) => {
        res.json({ ok: true });
      },
    );
    for (let i = 0; i < 102; i += 1) await request(app).get('/ok').expect(200);
    expect(logger.codes()).toEqual(['WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST']);
  });

  it('stays quiet when many routes each build their middleware at startup', async () => {
    const { limiter, logger } = limiterWith([Limit.perSecond('rps', 1000)]);
    const app = createExpress();
    for (let i = 0; i < 150; i += 1) {
      app.get(`/route-${i}`, rateLimit({ limiter, logger, resource: `route-${i}` }), (_req, res) => {
        res.json({ ok: true });
      });
    }
    await request(app).get('/route-7').expect(200);
    await request(app).get('/route-149').expect(200);
    expect(logger.warnings).toEqual([]);
  });

  it('keeps the charge when an error handler answers a passed error with 4xx', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 10)]);
    const app = createExpress();
    app.use(rateLimit({ limiter }));
    app.get('/missing', (_req, _res, next) =>
      next(Object.assign(new Error('no such thing'), { status: 404 })),
    );
    app.get('/broken', (_req, _res, next) => next(new Error('database down')));
    await request(app).get('/missing').expect(404);
    await request(app).get('/broken').expect(500);
    await eventually(
      async () => (await limiter.available({ entity: '127.0.0.1' }))['rpm'] === 9,
      'the 404 is charged and the 500 refunded',
    );
  });

  it('exposes the state under requestPropertyName, beside express-rate-limit on req.rateLimit', async () => {
    const { limiter } = limiterWith();
    const app = createExpress();
    app.use(expressRateLimit({ windowMs: 60_000, limit: 10, standardHeaders: false, legacyHeaders: false }));
    app.use(rateLimit({ limiter, requestPropertyName: 'tollgate', headers: false }));
    app.get('/state', (req, res) => {
      const ours = (req as unknown as { tollgate?: RateLimitState }).tollgate;
      const theirs = req.rateLimit as unknown as { limit?: number; remaining?: number };
      res.json({
        consumed: ours?.lease.consumed,
        theirs: { limit: theirs.limit, remaining: theirs.remaining },
      });
    });
    const response = await request(app).get('/state').expect(200);
    expect(response.body).toEqual({ consumed: { rpm: 1, tpm: 1 }, theirs: { limit: 10, remaining: 9 } });
  });

  it('writes draft-7 headers in the form express-rate-limit writes them', async () => {
    const theirs = createExpress();
    theirs.use(
      expressRateLimit({ windowMs: 60_000, limit: 3, standardHeaders: 'draft-7', legacyHeaders: false }),
    );
    theirs.get('/ok', (_req, res) => {
      res.json({ ok: true });
    });
    const { limiter } = limiterWith([Limit.perMinute('rpm', 3)]);
    const ours = createExpress();
    ours.use(rateLimit({ limiter, headers: 'draft-7' }));
    ours.get('/ok', (_req, res) => {
      res.json({ ok: true });
    });
    const fields = (value: string | undefined) =>
      /^limit=(\d+), remaining=(\d+), reset=(\d+)$/.exec(value ?? '')?.slice(1, 3);
    for (let i = 0; i < 3; i += 1) {
      const [a, b] = await Promise.all([request(theirs).get('/ok'), request(ours).get('/ok')]);
      expect(b.headers['ratelimit-policy']).toBe(a.headers['ratelimit-policy']);
      // Same limit and remaining; `reset` differs by design: a fixed window against a bucket refilling continuously.
      expect(fields(b.headers['ratelimit'])).toEqual(fields(a.headers['ratelimit']));
      expect(fields(b.headers['ratelimit'])).toBeDefined();
    }
  });
});
