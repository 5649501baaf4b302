import { request as httpRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import Router from '@koa/router';
import { type Decision, Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { eventually, recordingLogger, startServer } from '@tollgate/test-utils';
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type RateLimitKoaState, rateLimit } from '../src/index.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function limiterWith(limits = [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)]) {
  const logger = recordingLogger();
  const now = Date.now();
  return { limiter: new RateLimiter({ store: new MemoryStore(), limits, logger, clock: () => now }), logger };
}

async function serve(app: Koa) {
  const started = await startServer(app.callback());
  closers.push(started.close);
  return started.server;
}

describe.each([
  ['Koa 3', Koa],
  ['Koa 2', Koa2],
])('%s rateLimit()', (_name, KoaApp) => {
  it('charges each @koa/router route its own resource and cost', async () => {
    const { limiter } = limiterWith();
    const app = new KoaApp();
    const router = new Router<RateLimitKoaState>();
    const key = (ctx: Koa.Context) => ctx.get('x-api-key');
    router.post(
      '/chat',
      rateLimit({
        limiter,
        entity: key,
        resource: 'chat',
        consume: (ctx) => ({ rpm: 1, tpm: Number(ctx.query['max']) }),
      }),
      async (ctx) => {
        await ctx.state.rateLimit?.lease.adjust({ tpm: 42 - Number(ctx.query['max']) });
        ctx.body = { tokens: 42 };
      },
    );
    router.get(
      '/search',
      rateLimit({ limiter, entity: key, resource: 'search', consume: { rpm: 5 } }),
      (ctx) => {
        ctx.body = { results: [] };
      },
    );
    app.use(router.routes());
    const server = await serve(app);
    await request(server).post('/chat?max=500').set('x-api-key', 'k').expect(200, { tokens: 42 });
    await request(server).get('/search').set('x-api-key', 'k').expect(200);
    await eventually(
      async () => (await limiter.available({ entity: 'k', resource: 'chat' }))['tpm'] === 9958,
      'the chat request commits its real token count',
    );
    expect(await limiter.available({ entity: 'k', resource: 'chat' })).toEqual({ rpm: 99, tpm: 9958 });
    expect(await limiter.available({ entity: 'k', resource: 'search' })).toEqual({ rpm: 95, tpm: 10_000 });
  });

  it('keeps the charge of a thrown 4xx (ctx.throw) and refunds a thrown 5xx, rethrowing both', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 10)]);
    const app = new KoaApp();
    app.silent = true;
    const seen: unknown[] = [];
    app.use(async (_ctx, next) => {
      try {
        await next();
      } catch (error) {
        seen.push((error as { status?: number }).status);
        throw error;
      }
    });
    app.use(rateLimit({ limiter }));
    app.use((ctx) => {
      if (ctx.path === '/missing') ctx.throw(404, 'no such thing');
      ctx.throw(503, 'try later');
    });
    const server = await serve(app);
    await request(server).get('/missing').expect(404);
    await request(server).get('/down').expect(503);
    expect(seen).toEqual([404, 503]);
    await eventually(
      async () => (await limiter.available({ entity: '127.0.0.1' }))['rpm'] === 9,
      'the 404 is charged and the 503 refunded',
    );
  });

  it('refunds and skips the downstream when the client leaves while the limiter decides', async () => {
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
    let clientGone = false;
    let downstreamRan = false;
    const app = new KoaApp();
    app.use(async (ctx, next) => {
      ctx.res.on('close', () => {
        clientGone = true;
      });
      await next();
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
    app.use((ctx) => {
      downstreamRan = true;
      ctx.body = { ok: true };
    });
    const server = await serve(app);
    const { port } = server.address() as AddressInfo;
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
    expect(downstreamRan).toBe(false);
    expect(await limiter.available({ entity: 'slow-key' })).toEqual({ rpm: 100, tpm: 10_000 });
  });

  it('rejects an onLimited that is not a function when the middleware is built', () => {
    const { limiter } = limiterWith();
    expect(() => rateLimit({ limiter, onLimited: 42 as never })).toThrow(
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'onLimited' }),
    );
  });

  it('warns once when the middleware is built inside a request handler', async () => {
    const { limiter, logger } = limiterWith([Limit.perSecond('rps', 1000)]);
    const app = new KoaApp();
    app.use((ctx, next) => rateLimit({ limiter, logger })(ctx, next));
    app.use((ctx) => {
      ctx.body = { ok: true };
    });
    const server = await serve(app);
    for (let i = 0; i < 102; i += 1) await request(server).get('/ok').expect(200);
    expect(logger.codes()).toEqual(['WARN_TOLLGATE_MIDDLEWARE_PER_REQUEST']);
  });

  it('stays quiet when many routes each build their middleware at startup', async () => {
    const { limiter, logger } = limiterWith([Limit.perSecond('rps', 1000)]);
    const app = new KoaApp();
    const router = new Router();
    for (let i = 0; i < 150; i += 1) {
      router.get(`/route-${i}`, rateLimit({ limiter, logger, resource: `route-${i}` }), (ctx) => {
        ctx.body = { ok: true };
      });
    }
    app.use(router.routes());
    const server = await serve(app);
    await request(server).get('/route-7').expect(200);
    await request(server).get('/route-149').expect(200);
    expect(logger.warnings).toEqual([]);
  });

  it('exposes the state on ctx.state under requestPropertyName', async () => {
    const { limiter } = limiterWith();
    const app = new KoaApp();
    app.use(rateLimit({ limiter, requestPropertyName: 'quota' }));
    app.use((ctx) => {
      const state = ctx.state as Record<string, { lease: { consumed: object } } | undefined>;
      ctx.body = { quota: state['quota']?.lease.consumed, rateLimit: state['rateLimit'] ?? null };
    });
    const server = await serve(app);
    const response = await request(server).get('/').expect(200);
    expect(response.body).toEqual({ quota: { rpm: 1, tpm: 1 }, rateLimit: null });
  });

  it('called outside Koa, rejects what it throws and accepts a next that returns no promise', async () => {
    const { limiter } = limiterWith();
    const app = new KoaApp();
    const middleware = rateLimit({
      limiter,
      entity: (ctx) => {
        if (ctx.get('x-fail') === '1') throw new Error('entity failed');
        return 'k';
      },
    });
    const ctxFor = (headers: Record<string, string>) => {
      const http = new IncomingMessage(new Socket());
      http.headers = headers;
      http.method = 'GET';
      http.url = '/';
      return app.createContext(http, new ServerResponse(http));
    };
    let ran = 0;
    await middleware(ctxFor({}), () => {
      ran += 1;
      return undefined as unknown as Promise<void>;
    });
    expect(ran).toBe(1);
    const failing = middleware(ctxFor({ 'x-fail': '1' }), async () => undefined);
    expect(failing).toBeInstanceOf(Promise);
    await expect(failing).rejects.toThrow('entity failed');
  });
});
