import { Controller, type ExecutionContext, Get, HttpException, Injectable, UseGuards } from '@nestjs/common';
import type { HttpRejection } from '@tollgate/core';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { RateLimitGuard, RateLimitModule, type RateLimitRequest } from '../src/index.js';
import { frozenLimiter, PLATFORMS, startApp } from './app.js';

/** A subclass as @nestjs/throttler users write them: key, skip and refusal of their own. */
@Injectable()
class ApiKeyGuard extends RateLimitGuard {
  protected override getTracker(req: RateLimitRequest, context: ExecutionContext): string | Promise<string> {
    const key = req.headers['x-api-key'];
    return typeof key === 'string' ? Promise.resolve(`key:${key}`) : super.getTracker(req, context);
  }

  protected override shouldSkip(context: ExecutionContext): boolean | Promise<boolean> {
    const req = context.switchToHttp().getRequest<RateLimitRequest>();
    return req.headers['x-internal'] === '1' || super.shouldSkip(context);
  }

  protected override throwRateLimitException(_context: ExecutionContext, rejection: HttpRejection): never {
    throw new HttpException({ code: 'SLOW_DOWN', status: rejection.status }, rejection.status);
  }
}

@Controller()
@UseGuards(ApiKeyGuard)
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

describe.each(PLATFORMS)('RateLimitGuard hooks on the %s platform', (platform) => {
  async function start() {
    const logger = { warn: vi.fn() };
    const limiter = frozenLimiter({ logger });
    const test = await startApp(
      { imports: [RateLimitModule.forRoot({ limiter, logger })], controllers: [PingController] },
      platform,
    );
    return { ...test, limiter, logger };
  }

  it('charges the key getTracker returns, and falls back to the default key through super', async () => {
    const test = await start();
    try {
      await request(test.server).get('/ping').set('x-api-key', 'abc').expect(200);
      await request(test.server).get('/ping').expect(200);
      expect(await test.limiter.available({ entity: 'key:abc' })).toEqual({ rpm: 4, tpm: 999 });
      expect(await test.limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 4, tpm: 999 });
    } finally {
      await test.close();
    }
  });

  it('charges nothing when shouldSkip says so', async () => {
    const test = await start();
    try {
      await request(test.server).get('/ping').set('x-api-key', 'abc').set('x-internal', '1').expect(200);
      expect(await test.limiter.available({ entity: 'key:abc' })).toEqual({ rpm: 5, tpm: 1000 });
    } finally {
      await test.close();
    }
  });

  it('answers with the exception throwRateLimitException throws, headers already set', async () => {
    const test = await start();
    try {
      for (let i = 0; i < 5; i += 1) await request(test.server).get('/ping').set('x-api-key', 'abc');
      const limited = await request(test.server).get('/ping').set('x-api-key', 'abc').expect(429);
      expect(limited.body).toEqual({ code: 'SLOW_DOWN', status: 429 });
      expect(limited.headers['retry-after']).toBe('12');
      expect(limited.headers['ratelimit']).toMatch(/^"rpm";r=0;t=60, "tpm";r=995;t=1$/);
    } finally {
      await test.close();
    }
  });

  it('skips the proxy check when getTracker decides the key', async () => {
    const test = await start();
    try {
      await request(test.server).get('/ping').set('x-api-key', 'abc').set('x-forwarded-for', '203.0.113.9');
      expect(test.logger.warn).not.toHaveBeenCalled();
    } finally {
      await test.close();
    }
  });
});
