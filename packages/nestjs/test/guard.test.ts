import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  Catch,
  Controller,
  type ExceptionFilter,
  ForbiddenException,
  Get,
  type MessageEvent,
  NotFoundException,
  Post,
  Req,
  Res,
  Sse,
  UseGuards,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { MemoryStore, type RateLimiter } from '@tollgate/core';
import { concatMap, from, type Observable } from 'rxjs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  RateLimit,
  RateLimitExceededException,
  RateLimitGuard,
  RateLimitModule,
  RateLimitRoutes,
  RateLimitState,
  SkipRateLimit,
} from '../src/index.js';
import { frozenLimiter, PLATFORMS, startApp, type TestApp } from './app.js';

const quiet = { warn: vi.fn() };

let release: () => void = () => {};
let entered: () => void = () => {};

@Controller('chat')
@UseGuards(RateLimitGuard)
@RateLimit({ resource: 'chat', consume: { rpm: 2 } })
class ChatController {
  @Get('plain')
  plain(@RateLimitState() state: RateLimitState, @Req() req: { rateLimit?: RateLimitState }) {
    return { held: state.lease.consumed, degraded: state.degraded, sameAsRequest: req.rateLimit === state };
  }

  @Get('cheap')
  @RateLimit({ consume: { rpm: 1 } })
  cheap(@RateLimitState() state: RateLimitState) {
    return { held: state.lease.consumed, resource: state.lease.resource };
  }

  @Get('free')
  @SkipRateLimit()
  free(@RateLimitState() state: RateLimitState | undefined) {
    return { limited: state !== undefined };
  }

  @Post('complete')
  @RateLimit({ consume: (req) => ({ rpm: 1, tpm: Number(req.headers['x-estimate']) }) })
  async complete(@RateLimitState() state: RateLimitState) {
    await state.lease.adjust({ tpm: 242 }); // the answer used more than estimated
    return { ok: true };
  }

  @Get('unknown-limit')
  @RateLimit({ consume: { gpu: 1 } })
  unknownLimit() {
    return { ok: true };
  }

  @Get('boom')
  boom(): never {
    throw new Error('boom');
  }

  @Get('missing')
  missing(): never {
    throw new NotFoundException();
  }

  @Get('slow')
  async slow() {
    entered();
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    return { ok: true };
  }

  @Sse('stream')
  @RateLimit({ consume: { rpm: 1, tpm: 10 } })
  stream(@RateLimitState() state: RateLimitState): Observable<MessageEvent> {
    return from(['a', 'b', 'c']).pipe(
      concatMap(async (chunk) => {
        await state.lease.adjust({ tpm: 5 });
        return { data: { chunk, leaseOpen: !state.lease.isClosed } };
      }),
    );
  }
}

@Controller('open')
class UnguardedController {
  @Get()
  open(@RateLimitState() state: RateLimitState | undefined) {
    return { limited: state !== undefined };
  }
}

@Controller('raw')
@UseGuards(RateLimitGuard)
@RateLimit({ resource: 'raw', consume: { rpm: 1, tpm: 1 } })
class RawStreamController {
  @Get()
  async stream(
    @Res() res: { write(chunk: string): void; end(chunk?: string): void },
    @RateLimitState() state: RateLimitState,
  ) {
    res.write('one\n');
    await state.lease.adjust({ tpm: 99 });
    res.end('two\n');
  }
}

describe.each(PLATFORMS)('RateLimitGuard on the %s platform', (platform) => {
  let limiter: RateLimiter;
  let test: TestApp;
  const available = (entity: string, resource: string) => limiter.available({ entity, resource });

  beforeAll(async () => {
    limiter = frozenLimiter();
    test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({
            limiter,
            entity: (req) => String(req.headers['x-api-key'] ?? 'anonymous'),
            logger: quiet,
          }),
        ],
        controllers: [ChatController, UnguardedController],
      },
      platform,
    );
  });
  afterAll(() => test.close());

  it('charges the controller options and exposes the lease to the handler', async () => {
    const res = await request(test.server).get('/chat/plain').set('x-api-key', 'plain').expect(200);
    expect(res.body).toEqual({ held: { rpm: 2 }, degraded: false, sameAsRequest: true });
    expect(res.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60, "tpm";q=1000;w=60');
    expect(res.headers.ratelimit).toBe('"rpm";r=3;t=24, "tpm";r=1000;t=0');
    expect(await available('plain', 'chat')).toEqual({ rpm: 3, tpm: 1000 });
  });

  it('merges handler options over the controller options (the handler wins)', async () => {
    const res = await request(test.server).get('/chat/cheap').set('x-api-key', 'cheap').expect(200);
    expect(res.body).toEqual({ held: { rpm: 1 }, resource: 'chat' });
    expect(await available('cheap', 'chat')).toEqual({ rpm: 4, tpm: 1000 });
  });

  it('neither charges nor sets headers on a @SkipRateLimit() handler', async () => {
    const res = await request(test.server).get('/chat/free').set('x-api-key', 'free').expect(200);
    expect(res.body).toEqual({ limited: false });
    expect(res.headers.ratelimit).toBeUndefined();
    expect(await available('free', 'chat')).toEqual({ rpm: 5, tpm: 1000 });
  });

  it('leaves controllers without the guard alone when the module is not global', async () => {
    const res = await request(test.server).get('/open').set('x-api-key', 'open').expect(200);
    expect(res.body).toEqual({ limited: false });
    expect(res.headers.ratelimit).toBeUndefined();
  });

  it('answers 429 with Retry-After, RateLimit headers and the JSON body once the budget is spent', async () => {
    await request(test.server).get('/chat/plain').set('x-api-key', 'spent').expect(200);
    await request(test.server).get('/chat/plain').set('x-api-key', 'spent').expect(200);
    const res = await request(test.server).get('/chat/plain').set('x-api-key', 'spent').expect(429);
    expect(res.headers['retry-after']).toBe('12'); // 1 token left, 2 needed, 12 s per token
    expect(res.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60, "tpm";q=1000;w=60');
    expect(res.headers.ratelimit).toBe('"rpm";r=1;t=48, "tpm";r=1000;t=0');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfterMs: 12_000 });
    expect(res.body.limits).toEqual([
      expect.objectContaining({
        scope: 'self',
        resource: 'chat',
        limit: 'rpm',
        requested: 2,
        exceeded: true,
      }),
      expect.objectContaining({
        scope: 'self',
        resource: 'chat',
        limit: 'tpm',
        requested: 0,
        exceeded: false,
      }),
    ]);
    expect(await available('spent', 'chat')).toEqual({ rpm: 1, tpm: 1000 });
  });

  it('answers 400 with a coded error and charges nothing when the cost names an unknown limit', async () => {
    const res = await request(test.server).get('/chat/unknown-limit').set('x-api-key', 'bad').expect(400);
    expect(res.body).toMatchObject({ code: 'ERR_TOLLGATE_UNKNOWN_LIMIT' });
    expect(await available('bad', 'chat')).toEqual({ rpm: 5, tpm: 1000 });
  });

  it('charges a cost computed from the request plus what the handler adjusts', async () => {
    await request(test.server)
      .post('/chat/complete')
      .set('x-api-key', 'llm')
      .set('x-estimate', '500')
      .expect(201);
    await vi.waitFor(async () => expect(await available('llm', 'chat')).toEqual({ rpm: 4, tpm: 258 }));
  });

  it('refunds the lease when the handler throws (500)', async () => {
    await request(test.server).get('/chat/boom').set('x-api-key', 'boom').expect(500);
    await vi.waitFor(async () => expect(await available('boom', 'chat')).toEqual({ rpm: 5, tpm: 1000 }));
  });

  it('keeps the charge when the handler answers with a 4xx exception', async () => {
    await request(test.server).get('/chat/missing').set('x-api-key', 'missing').expect(404);
    expect(await available('missing', 'chat')).toEqual({ rpm: 3, tpm: 1000 });
  });

  it('refunds the lease when the client disconnects before the response', async () => {
    const server = test.app.getHttpServer() as import('node:http').Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const handlerEntered = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const { port } = server.address() as AddressInfo;
      const req = httpRequest({
        port,
        host: '127.0.0.1',
        path: '/chat/slow',
        headers: { 'x-api-key': 'gone' },
      });
      req.on('error', () => {});
      req.end();
      await handlerEntered;
      expect(await available('gone', 'chat')).toEqual({ rpm: 3, tpm: 1000 });
      req.destroy();
      await vi.waitFor(async () => expect(await available('gone', 'chat')).toEqual({ rpm: 5, tpm: 1000 }));
      release();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('keeps the lease open through an @Sse() stream and charges what was adjusted while streaming', async () => {
    const res = await request(test.server).get('/chat/stream').set('x-api-key', 'sse').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers.ratelimit).toBe('"rpm";r=4;t=12, "tpm";r=990;t=1');
    const events = res.text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)));
    expect(events).toEqual([
      { chunk: 'a', leaseOpen: true },
      { chunk: 'b', leaseOpen: true },
      { chunk: 'c', leaseOpen: true },
    ]);
    await vi.waitFor(async () => expect(await available('sse', 'chat')).toEqual({ rpm: 4, tpm: 975 }));
  });
});

describe.each(PLATFORMS)('when the store is unavailable (%s)', (platform) => {
  function downLimiter(onUnavailable: 'block' | 'allow'): RateLimiter {
    const store = new MemoryStore();
    store.charge = () => Promise.reject(new Error('connection refused'));
    return frozenLimiter({ store, onUnavailable, logger: quiet });
  }

  it("answers 503 with Retry-After under onUnavailable: 'block'", async () => {
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({ limiter: downLimiter('block'), entity: () => 'k', logger: quiet }),
        ],
        controllers: [ChatController],
      },
      platform,
    );
    try {
      const res = await request(test.server).get('/chat/plain').expect(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ error: 'rate_limiter_unavailable', code: 'ERR_TOLLGATE_UNAVAILABLE' });
    } finally {
      await test.close();
    }
  });

  it("lets the request through, degraded, under onUnavailable: 'allow'", async () => {
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({ limiter: downLimiter('allow'), entity: () => 'k', logger: quiet }),
        ],
        controllers: [ChatController],
      },
      platform,
    );
    try {
      const res = await request(test.server).get('/chat/plain').expect(200);
      expect(res.body).toMatchObject({ degraded: true });
    } finally {
      await test.close();
    }
  });
});

describe.each(PLATFORMS)('a client that disconnects while the limiter is deciding (%s)', (platform) => {
  it('is refunded, and its handler never runs', async () => {
    const store = new MemoryStore();
    const charge = store.charge.bind(store);
    const adjust = store.adjust.bind(store);
    let chargeEntered: () => void = () => {};
    let openGate: () => void = () => {};
    let refunded: () => void = () => {};
    const entered = new Promise<void>((resolve) => {
      chargeEntered = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const refund = new Promise<void>((resolve) => {
      refunded = resolve;
    });
    store.charge = async (request) => {
      chargeEntered();
      await gate;
      return charge(request);
    };
    store.adjust = async (request) => {
      await adjust(request);
      refunded();
    };
    const denied: unknown[] = [];
    @Catch()
    class RecordingFilter implements ExceptionFilter {
      catch(exception: unknown) {
        denied.push(exception);
      }
    }
    let handlerRan = false;
    @Controller('work')
    class WorkController {
      @Get()
      work() {
        handlerRan = true;
        return {};
      }
    }
    let socket: Socket | undefined;
    const limiter = frozenLimiter({ store });
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({
            limiter,
            global: true,
            entity: (req) => {
              socket = ((req as { raw?: IncomingMessage }).raw ?? (req as unknown as IncomingMessage)).socket;
              return 'gone';
            },
          }),
        ],
        controllers: [WorkController],
        providers: [{ provide: APP_FILTER, useValue: new RecordingFilter() }],
      },
      platform,
    );
    const server = test.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const req = httpRequest({ port, host: '127.0.0.1', path: '/work' });
      req.on('error', () => {});
      req.end();
      await entered;
      const serverSideClosed = new Promise((resolve) => socket?.once('close', resolve));
      req.destroy();
      await serverSideClosed;
      openGate();
      await refund;
      expect(await limiter.available({ entity: 'gone' })).toEqual({ rpm: 5, tpm: 1000 });
      await vi.waitFor(() => expect(denied).toHaveLength(1));
      expect(denied[0]).toBeInstanceOf(ForbiddenException);
      expect(handlerRan).toBe(false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await test.close();
    }
  });
});

describe('a raw response stream (express)', () => {
  let limiter: RateLimiter;
  let test: TestApp;
  const available = (entity: string, resource: string) => limiter.available({ entity, resource });

  beforeAll(async () => {
    limiter = frozenLimiter();
    test = await startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter, entity: () => 'raw', logger: quiet })],
        controllers: [RawStreamController],
      },
      'express',
    );
  });
  afterAll(() => test.close());

  it('charges adjustments made while writing a raw response stream', async () => {
    const res = await request(test.server).get('/raw').set('x-api-key', 'raw').expect(200);
    expect(res.text).toBe('one\ntwo\n');
    expect(res.headers.ratelimit).toBe('"rpm";r=4;t=12, "tpm";r=999;t=1');
    await vi.waitFor(async () => expect(await available('raw', 'raw')).toEqual({ rpm: 4, tpm: 900 }));
  });
});

describe('RateLimitExceededException', () => {
  it('carries the headers, the status and the body of a 429', async () => {
    const limiter = frozenLimiter();
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({ limiter, entity: () => 'x', consume: { rpm: 1 }, logger: quiet }),
        ],
        controllers: [ChatController],
      },
      'express',
    );
    try {
      const { flow } = test.app
        .get(RateLimitRoutes)
        .forRoute(UnguardedController, UnguardedController.prototype.open);
      await limiter.acquire({ entity: 'x', consume: { rpm: 5 } });
      const decision = await flow.decide({ headers: {} });
      if (decision.action !== 'reject') throw new Error(`expected a rejection, got ${decision.action}`);
      const exception = new RateLimitExceededException(decision);
      expect(exception.getStatus()).toBe(429);
      expect(exception.getResponse()).toMatchObject({ error: 'rate_limit_exceeded', retryAfterMs: 12_000 });
      expect(exception.headers['Retry-After']).toBe('12');
      expect(exception.retryAfterMs).toBe(12_000);
      expect(exception.statuses.filter((status) => status.exceeded).map((status) => status.limit)).toEqual([
        'rpm',
      ]);
    } finally {
      await test.close();
    }
  });
});
