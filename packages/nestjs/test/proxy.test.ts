import { Controller, Get } from '@nestjs/common';
import type { Logger } from '@tollgate/core';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { RateLimitModule } from '../src/index.js';
import { frozenLimiter, PLATFORMS, startApp } from './app.js';

@Controller()
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

async function requestThroughProxy(
  platform: (typeof PLATFORMS)[number],
  options: { trustProxy: boolean; entity?: () => string },
) {
  const logger = { warn: vi.fn<Logger['warn']>() };
  const limiter = frozenLimiter({ logger });
  const test = await startApp(
    {
      imports: [
        RateLimitModule.forRoot({
          limiter,
          logger,
          global: true,
          ...(options.entity ? { entity: options.entity } : {}),
        }),
      ],
      controllers: [PingController],
    },
    platform,
    { trustProxy: options.trustProxy },
  );
  try {
    await request(test.server).get('/ping').set('x-forwarded-for', '203.0.113.9').expect(200);
    await request(test.server).get('/ping').set('x-forwarded-for', '203.0.113.10').expect(200);
    const proxyWarnings = logger.warn.mock.calls.filter(([message]) =>
      message.startsWith('WARN_TOLLGATE_PROXY'),
    );
    const clientKeyed = await limiter.available({ entity: '203.0.113.9' });
    return { proxyWarnings, clientKeyedRpm: clientKeyed['rpm'] };
  } finally {
    await test.close();
  }
}

describe.each(PLATFORMS)('proxy check on the %s platform', (platform) => {
  const setting = platform === 'express' ? "Express's `trust proxy`" : 'Fastify `trustProxy`';

  it('warns once when X-Forwarded-For arrives but proxies are not trusted', async () => {
    const { proxyWarnings, clientKeyedRpm } = await requestThroughProxy(platform, { trustProxy: false });
    expect(proxyWarnings).toHaveLength(1);
    expect(proxyWarnings[0]?.[0]).toContain(setting);
    expect(clientKeyedRpm).toBe(5); // both requests were keyed by the proxy's address
  });

  it('stays quiet and keys by the forwarded client when proxies are trusted', async () => {
    const { proxyWarnings, clientKeyedRpm } = await requestThroughProxy(platform, { trustProxy: true });
    expect(proxyWarnings).toEqual([]);
    expect(clientKeyedRpm).toBe(4);
  });

  it('stays quiet when an entity function decides the key', async () => {
    const { proxyWarnings } = await requestThroughProxy(platform, {
      trustProxy: false,
      entity: () => 'key-1',
    });
    expect(proxyWarnings).toEqual([]);
  });
});
