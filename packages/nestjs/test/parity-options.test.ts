import { Controller, Get, HttpCode, Post, Req, UnauthorizedException, UseGuards } from '@nestjs/common';
import type { RateLimitState as State } from '@tollgate/core';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { RateLimit, RateLimitGuard, RateLimitModule, RateLimitState } from '../src/index.js';
import { frozenLimiter, PLATFORMS, startApp } from './app.js';

@Controller('auth')
class AuthController {
  /** The classic express-rate-limit login limiter: only failed attempts count. */
  @Post('login')
  @HttpCode(200)
  @RateLimit({
    resource: 'login',
    skipSuccessfulRequests: true,
    statusCode: 403,
    message: 'Too many attempts',
  })
  login(@Req() req: { headers: Record<string, string | undefined> }) {
    if (req.headers['x-password'] !== 'right') throw new UnauthorizedException();
    return { ok: true };
  }
}

@Controller('state')
@UseGuards(RateLimitGuard)
class StateController {
  @Get()
  read(@RateLimitState() state: State | undefined, @Req() req: Record<string, unknown>) {
    return {
      injected: state?.lease.consumed ?? null,
      onRequest: (req['quota'] as State | undefined)?.lease.consumed ?? null,
      rateLimit: req['rateLimit'] ?? null,
    };
  }
}

describe.each(PLATFORMS)('parity options on the %s platform', (platform) => {
  it('exposes the state under requestPropertyName; @RateLimitState() still injects it; charged once', async () => {
    const limiter = frozenLimiter();
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRoot({ limiter, entity: () => 'k', requestPropertyName: 'quota', global: true }),
        ],
        controllers: [StateController],
      },
      platform,
    );
    try {
      const response = await request(test.server).get('/state').expect(200);
      expect(response.body).toEqual({
        injected: { rpm: 1, tpm: 1 },
        onRequest: { rpm: 1, tpm: 1 },
        rateLimit: null,
      });
      // The global guard and @UseGuards both ran; the second saw `req.quota` and charged nothing.
      expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 4, tpm: 999 });
    } finally {
      await test.close();
    }
  });

  it('counts only failed logins with @RateLimit({ skipSuccessfulRequests }), answering statusCode and message', async () => {
    const limiter = frozenLimiter();
    const test = await startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter, entity: () => 'k', global: true })],
        controllers: [AuthController],
      },
      platform,
    );
    const login = (password: string) => request(test.server).post('/auth/login').set('x-password', password);
    try {
      for (let i = 0; i < 10; i += 1) await login('right').expect(200);
      for (let i = 0; i < 5; i += 1) await login('wrong').expect(401);
      const refused = await login('right').expect(403);
      expect(refused.body).toEqual({ statusCode: 403, message: 'Too many attempts' });
      expect(refused.headers['retry-after']).toBe('12');
    } finally {
      await test.close();
    }
  });
});

describe('RateLimitModule option names', () => {
  it('refuses @nestjs/throttler options in forRoot when the app starts, with the Tollgate equivalent', async () => {
    const start = startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter: frozenLimiter(), ttl: 60_000, limit: 10 } as never)],
        controllers: [StateController],
      },
      'express',
    );
    await expect(start).rejects.toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'ttl' });
    await expect(start).rejects.toThrow(/`ttl`: a limit carries its own window/);
  });

  it('explains onLimited the Nest way', async () => {
    const start = startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter: frozenLimiter(), onLimited: () => undefined } as never)],
        controllers: [StateController],
      },
      'express',
    );
    await expect(start).rejects.toThrow(/override `RateLimitGuard.throwRateLimitException`/);
  });

  it('refuses `global` returned by a forRootAsync factory, pointing at where it belongs', async () => {
    const start = startApp(
      {
        imports: [
          RateLimitModule.forRootAsync({
            useFactory: () => ({ limiter: frozenLimiter(), global: true }) as never,
          }),
        ],
        controllers: [StateController],
      },
      'express',
    );
    await expect(start).rejects.toMatchObject({ field: 'global' });
    await expect(start).rejects.toThrow(/argument of `RateLimitModule.forRoot\(\)`/);
  });

  it('refuses a @RateLimit() option it does not know when the app starts', async () => {
    @Controller('throttled')
    class ThrottledController {
      @Get()
      @RateLimit({ limit: 3 } as never)
      index() {
        return {};
      }
    }
    const start = startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter: frozenLimiter() })],
        controllers: [ThrottledController],
      },
      'express',
    );
    await expect(start).rejects.toMatchObject({ field: 'limit' });
  });
});
