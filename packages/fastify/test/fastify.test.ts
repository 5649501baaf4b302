import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Decision, Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { eventually, recordingLogger } from '@tollgate/test-utils';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyRequest,
  type onRequestHookHandler,
} from 'fastify';
import Fastify4 from 'fastify4';
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimit } from '../src/index.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function limiterWith(limits = [Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)]) {
  const logger = recordingLogger();
  const now = Date.now();
  return { limiter: new RateLimiter({ store: new MemoryStore(), limits, logger, clock: () => now }), logger };
}

const apiKey = (request: FastifyRequest) => String(request.headers['x-api-key']);
const limitedFlag = (request: FastifyRequest) => ({ limited: request.rateLimit != null });

describe.each([
  ['Fastify 5', Fastify],
  ['Fastify 4', Fastify4],
])('%s rateLimit plugin', (_name, createFastify) => {
  function app(): FastifyInstance {
    const created = createFastify();
    apps.push(created);
    return created;
  }

  it("lets a route's config.rateLimit override the plugin's options", async () => {
    const { limiter } = limiterWith();
    const fastify = app();
    await fastify.register(rateLimit, { limiter, entity: apiKey, resource: 'api' });
    fastify.get('/plain', () => ({ ok: true }));
    fastify.get('/search', { config: { rateLimit: { resource: 'search', consume: { rpm: 5 } } } }, () => ({
      ok: true,
    }));
    const headers = { 'x-api-key': 'k' };
    expect((await fastify.inject({ url: '/plain', headers })).statusCode).toBe(200);
    const search = await fastify.inject({ url: '/search', headers });
    expect(search.statusCode).toBe(200);
    expect(search.headers['ratelimit']).toBe('"rpm";r=95;t=3, "tpm";r=10000;t=0');
    expect(await limiter.available({ entity: 'k', resource: 'api' })).toEqual({ rpm: 99, tpm: 9999 });
    expect(await limiter.available({ entity: 'k', resource: 'search' })).toEqual({ rpm: 95, tpm: 10_000 });
  });

  it('exposes the state under requestPropertyName, answers a custom status and text message, and takes onLimited', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 1)]);
    const fastify = app();
    await fastify.register(rateLimit, {
      limiter,
      entity: apiKey,
      requestPropertyName: 'quota',
      statusCode: 503,
      message: 'Slow down',
    });
    fastify.get('/quota', (request) => ({
      remaining: (request as unknown as Record<string, { statuses: { available: number }[] } | null>)['quota']
        ?.statuses[0]?.available,
    }));
    const headers = { 'x-api-key': 'k' };
    expect((await fastify.inject({ url: '/quota', headers })).json()).toEqual({ remaining: 0 });
    const limited = await fastify.inject({ url: '/quota', headers });
    expect(limited.statusCode).toBe(503);
    expect(limited.headers['content-type']).toMatch(/^text\/plain/);
    expect(limited.body).toBe('Slow down');

    const other = app();
    await other.register(rateLimit, {
      limiter,
      entity: apiKey,
      onLimited: (_request, reply) => reply.send({ custom: true }),
    });
    other.get('/x', () => ({ ok: true }));
    expect((await other.inject({ url: '/x', headers })).json()).toEqual({ custom: true });
  });

  it('exempts a route with config: { rateLimit: false }, which gets request.rateLimit null', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 1)]);
    const fastify = app();
    await fastify.register(rateLimit, { limiter });
    fastify.get('/limited', (request) => limitedFlag(request));
    fastify.get('/health', { config: { rateLimit: false } }, (request) => limitedFlag(request));
    expect((await fastify.inject('/limited')).json()).toEqual({ limited: true });
    expect((await fastify.inject('/limited')).statusCode).toBe(429);
    for (let i = 0; i < 3; i += 1) {
      const health = await fastify.inject('/health');
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ limited: false });
      expect(health.headers['ratelimit']).toBeUndefined();
    }
  });

  it('limits only the routes of the context it is registered in, and those below it', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 1)]);
    const fastify = app();
    fastify.get('/public', (request) => limitedFlag(request));
    const nested: FastifyPluginAsync = async (scope) => {
      scope.get('/api/nested', (request) => limitedFlag(request));
    };
    const api: FastifyPluginAsync = async (scope) => {
      await scope.register(rateLimit, { limiter });
      scope.get('/api/one', (request) => limitedFlag(request));
      await scope.register(nested);
    };
    await fastify.register(api);
    expect((await fastify.inject('/api/one')).json()).toEqual({ limited: true });
    expect((await fastify.inject('/api/nested')).statusCode).toBe(429);
    for (let i = 0; i < 3; i += 1)
      expect((await fastify.inject('/public')).json()).toEqual({ limited: false });
  });

  it('stacks when registered again in a child context, charging both', async () => {
    const { limiter } = limiterWith();
    const fastify = app();
    await fastify.register(rateLimit, { limiter, resource: 'all' });
    const child: FastifyPluginAsync = async (scope) => {
      await scope.register(rateLimit, { limiter, resource: 'child', consume: { rpm: 2 } });
      scope.get('/child', (request) => ({ resource: request.rateLimit?.lease.resource }));
    };
    await fastify.register(child);
    expect((await fastify.inject('/child')).json()).toEqual({ resource: 'child' });
    expect(await limiter.available({ entity: '127.0.0.1', resource: 'all' })).toEqual({ rpm: 99, tpm: 9999 });
    expect(await limiter.available({ entity: '127.0.0.1', resource: 'child' })).toEqual({
      rpm: 98,
      tpm: 10_000,
    });
  });

  it('refuses in onRequest before the body is parsed, and reads the body with a later hook', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 1), Limit.perMinute('tpm', 1000)]);
    const fastify = app();
    await fastify.register(rateLimit, { limiter, entity: apiKey });
    fastify.post('/upload', () => ({ ok: true }));
    fastify.post(
      '/chat',
      {
        config: {
          rateLimit: {
            hook: 'preValidation',
            resource: 'chat',
            consume: (request) => ({ rpm: 1, tpm: (request.body as { estimate: number }).estimate }),
          },
        },
      },
      () => ({ ok: true }),
    );
    const post = (url: string, payload: string) =>
      fastify.inject({
        method: 'POST',
        url,
        payload,
        headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
      });
    expect((await post('/upload', '{}')).statusCode).toBe(200);
    // Malformed JSON would answer 400 once parsed: the limit answers first.
    expect((await post('/upload', '{not json')).statusCode).toBe(429);
    expect((await post('/chat', '{"estimate":300}')).statusCode).toBe(200);
    expect(await limiter.available({ entity: 'k', resource: 'chat' })).toEqual({ rpm: 0, tpm: 700 });
  });

  it('runs after the app-level hooks of its kind, so entity can read what authentication set', async () => {
    const { limiter } = limiterWith();
    const fastify = app();
    fastify.decorateRequest('user', '');
    fastify.addHook('onRequest', async (request) => {
      (request as FastifyRequest & { user: string }).user = `user-${String(request.headers['x-token'])}`;
    });
    await fastify.register(rateLimit, {
      limiter,
      entity: (request) => (request as FastifyRequest & { user: string }).user,
    });
    fastify.get('/me', () => ({ ok: true }));
    expect((await fastify.inject({ url: '/me', headers: { 'x-token': '7' } })).statusCode).toBe(200);
    expect(await limiter.available({ entity: 'user-7' })).toEqual({ rpm: 99, tpm: 9999 });
  });

  it("charges once per request, even when routes share one array of their own hooks, and HEAD as GET's twin", async () => {
    const { limiter } = limiterWith();
    const fastify = app();
    await fastify.register(rateLimit, { limiter });
    const shared: onRequestHookHandler[] = [(_request, _reply, done) => done()];
    fastify.get('/a', { onRequest: shared }, () => ({ ok: true }));
    fastify.get('/b', { onRequest: shared }, () => ({ ok: true }));
    await fastify.inject('/a');
    await fastify.inject('/b');
    await fastify.inject({ method: 'HEAD', url: '/b' });
    expect(shared).toHaveLength(1);
    expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 97, tpm: 9997 });
  });

  it("sends what onLimited returns or sends, and hands what it throws to Fastify's error handler", async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 1)]);
    const fastify = app();
    const limited = (body: object) => ({ onLimited: () => body });
    await fastify.register(rateLimit, { limiter, ...limited({ slowDown: true }) });
    fastify.get('/returns', () => ({ ok: true }));
    fastify.get(
      '/sends',
      {
        config: {
          rateLimit: {
            onLimited: async (_request, reply, error) => {
              await new Promise((resolve) => setTimeout(resolve, 5));
              return reply.header('x-wait', String(error.retryAfterMs)).send({ sent: true });
            },
          },
        },
      },
      () => ({ ok: true }),
    );
    fastify.get(
      '/throws',
      {
        config: {
          rateLimit: {
            onLimited: () => {
              throw new Error('onLimited broke');
            },
          },
        },
      },
      () => ({ ok: true }),
    );
    await fastify.inject('/returns');
    const returned = await fastify.inject('/returns');
    expect([returned.statusCode, returned.json()]).toEqual([429, { slowDown: true }]);
    expect(returned.headers['retry-after']).toBe('60');
    const sent = await fastify.inject('/sends');
    expect([sent.statusCode, sent.json(), sent.headers['x-wait']]).toEqual([429, { sent: true }, '60000']);
    // Fastify's error handler keeps the status already set on the reply (429).
    const thrown = await fastify.inject('/throws');
    expect([thrown.statusCode, thrown.json().message]).toEqual([429, 'onLimited broke']);
  });

  it('rejects an unusable config.rateLimit or hook when the route is declared', async () => {
    const { limiter } = limiterWith();
    const fastify = app();
    await fastify.register(rateLimit, { limiter });
    const invalid = (field: string) =>
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field });
    expect(() => fastify.get('/yes', { config: { rateLimit: 'yes' as never } }, () => 'ok')).toThrow(
      invalid('config.rateLimit'),
    );
    expect(() =>
      fastify.get('/hook', { config: { rateLimit: { hook: 'onSend' as never } } }, () => 'ok'),
    ).toThrow(invalid('hook'));
    expect(() =>
      fastify.get('/cost', { config: { rateLimit: { consume: 5 as never } } }, () => 'ok'),
    ).toThrow(invalid('consume'));
    await expect(app().register(rateLimit, { limiter, onLimited: 42 as never })).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_INVALID_OPTION',
      field: 'onLimited',
    });
  });

  it('keys hostile header values as exact, separate ids, hashes oversized ones and refuses empty ones', async () => {
    const { limiter } = limiterWith([Limit.perMinute('rpm', 10)]);
    const fastify = app();
    await fastify.register(rateLimit, { limiter, entity: apiKey });
    fastify.get('/ok', () => ({ ok: true }));
    const get = (key: string) => fastify.inject({ url: '/ok', headers: { 'x-api-key': key } });
    const odd = ['__proto__', 'constructor', 'hasOwnProperty', 'k\tk', '%00', '../../k', 'k, j', 'k'];
    for (const key of odd) expect((await get(key)).statusCode).toBe(200);
    for (const key of odd) expect(await limiter.available({ entity: key })).toEqual({ rpm: 9 });
    const refused = await get('');
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_KEY', field: 'entity' });
    // Oversized keys are limited by their hash (longKeys: 'hash'), never echoed.
    for (const key of ['x'.repeat(257), 'x'.repeat(12_000)]) {
      const admitted = await get(key);
      expect(admitted.statusCode).toBe(200);
      expect(JSON.stringify(admitted.headers)).not.toContain('xxxx');
      expect(await limiter.available({ entity: key })).toEqual({ rpm: 9 });
    }
    expect(await limiter.available({ entity: 'x'.repeat(256) })).toEqual({ rpm: 10 });
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
    const fastify = app();
    fastify.addHook('onRequest', (request, _reply, done) => {
      request.raw.socket.on('close', () => {
        clientGone = true;
      });
      done();
    });
    await fastify.register(rateLimit, {
      limiter,
      entity: async () => {
        entityAsked = true;
        await entityGate;
        return 'slow-key';
      },
    });
    fastify.get('/ok', () => {
      handlerRan = true;
      return { ok: true };
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const { port } = fastify.server.address() as AddressInfo;
    const client = httpRequest({ host: '127.0.0.1', port, path: '/ok' });
    client.on('error', () => {});
    client.end();
    await eventually(() => entityAsked, 'the plugin asks for the entity');
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
});
