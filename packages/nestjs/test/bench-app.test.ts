import { describe, expect, it } from 'vitest';
import { PLATFORMS } from './app.js';
import { type NestBenchVariant, startNestBenchApp } from './bench-app.js';

const headerOf: Record<NestBenchVariant, string | undefined> = {
  bare: undefined,
  tollgate: 'ratelimit',
  throttler: 'x-ratelimit-limit',
};

describe.each(PLATFORMS)('benchmark apps on %s', (platform) => {
  it.each(['bare', 'tollgate', 'throttler'] as const)('the %s app answers GET /ping', async (variant) => {
    const app = await startNestBenchApp({ variant, platform, port: 0 });
    try {
      const response = await fetch(`${app.url}/ping`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
      const rateLimitHeaders = [...response.headers.keys()].filter((name) => name.includes('ratelimit'));
      const expected = headerOf[variant];
      if (expected === undefined) expect(rateLimitHeaders).toEqual([]);
      else expect(rateLimitHeaders).toContain(expected);
    } finally {
      await app.close();
    }
  });
});
