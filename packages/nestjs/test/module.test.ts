import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { RateLimit, RateLimitGuard, RateLimitModule, SkipRateLimit } from '../src/index.js';
import { PLATFORMS, startApp } from './app.js';

@Injectable()
class PlanConfig {
  readonly requestsPerMinute = 2;
}

@Module({ providers: [PlanConfig], exports: [PlanConfig] })
class PlanConfigModule {}

@Controller('items')
class ItemsController {
  @Get()
  list() {
    return [];
  }

  @Get('health')
  @SkipRateLimit()
  health() {
    return { ok: true };
  }
}

@Controller('admin')
@SkipRateLimit()
class AdminController {
  @Get()
  index() {
    return { ok: true };
  }

  @Get('audited')
  @SkipRateLimit(false)
  audited() {
    return { ok: true };
  }
}

describe.each(PLATFORMS)('RateLimitModule on the %s platform', (platform) => {
  it('forRootAsync builds the options from injected providers and global: true guards every route', async () => {
    const test = await startApp(
      {
        imports: [
          RateLimitModule.forRootAsync({
            imports: [PlanConfigModule],
            inject: [PlanConfig],
            useFactory: (config: PlanConfig) => ({
              limiter: new RateLimiter({
                store: new MemoryStore(),
                limits: [Limit.perMinute('rpm', config.requestsPerMinute)],
                clock: () => Date.UTC(2025, 0, 1),
              }),
              entity: () => 'k',
            }),
            global: true,
          }),
        ],
        controllers: [ItemsController, AdminController],
      },
      platform,
    );
    try {
      await request(test.server).get('/items').expect(200);
      await request(test.server).get('/items').expect(200);
      const limited = await request(test.server).get('/items').expect(429);
      expect(limited.headers['retry-after']).toBe('30');
      await request(test.server).get('/items/health').expect(200);
      await request(test.server).get('/admin').expect(200);
      // the handler's @SkipRateLimit(false) wins over the controller's skip
      await request(test.server).get('/admin/audited').expect(429);
    } finally {
      await test.close();
    }
  });
});

describe('a global guard and @UseGuards(RateLimitGuard) on the same route', () => {
  @Controller('twice')
  @UseGuards(RateLimitGuard)
  class TwiceGuardedController {
    @Get()
    index() {
      return {};
    }
  }

  it('charge the request once', async () => {
    const limiter = new RateLimiter({
      store: new MemoryStore(),
      limits: [Limit.perMinute('rpm', 5)],
      clock: () => 0,
    });
    const test = await startApp(
      {
        imports: [RateLimitModule.forRoot({ limiter, entity: () => 'k', global: true })],
        controllers: [TwiceGuardedController],
      },
      'express',
    );
    try {
      await request(test.server).get('/twice').expect(200);
      expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 4 });
    } finally {
      await test.close();
    }
  });
});

describe('startup validation', () => {
  const limiter = new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 5)] });

  it('rejects unusable module options when the app starts', async () => {
    await expect(
      startApp(
        {
          imports: [RateLimitModule.forRoot({ limiter, headers: 'draft-9' as never })],
          controllers: [ItemsController],
        },
        'express',
      ),
    ).rejects.toMatchObject({
      code: 'ERR_TOLLGATE_INVALID_OPTION',
      message: expect.stringContaining("Expected `headers` to be 'draft-8', 'draft-7', 'draft-6' or false"),
    });
  });

  it('rejects unusable @RateLimit() options when the app starts, not at the first request', async () => {
    @Controller('broken')
    @RateLimit({ consume: 'lots' as never })
    class BrokenController {
      @Get()
      index() {
        return {};
      }
    }
    await expect(
      startApp(
        { imports: [RateLimitModule.forRoot({ limiter })], controllers: [BrokenController] },
        'express',
      ),
    ).rejects.toThrow(/Expected `consume` to be an object of limit name → tokens or a function/);
  });

  it('warns at startup when a decorator consumes a limit no default limit has', async () => {
    const logger = { warn: vi.fn() };
    @Controller('typo')
    class TypoController {
      @Get()
      @RateLimit({ consume: { rmp: 1 } })
      index() {
        return {};
      }
    }
    const test = await startApp(
      { imports: [RateLimitModule.forRoot({ limiter, logger })], controllers: [TypoController] },
      'express',
    );
    await test.close();
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('WARN_TOLLGATE_UNKNOWN_LIMIT'), {
      code: 'WARN_TOLLGATE_UNKNOWN_LIMIT',
      names: ['rmp'],
    });
  });
});
