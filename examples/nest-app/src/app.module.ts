import { Module } from '@nestjs/common';
import { ipKey, Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { RateLimitModule } from '@tollgate/nestjs';
import type { Request } from 'express';
import { ChatController, HealthController, ModelService } from './chat.controller.js';

/** Per API key: 20 requests and 2 000 tokens a minute (stored limits, if any, win). */
export const DEFAULT_LIMITS = [Limit.perMinute('rpm', 20), Limit.perMinute('tpm', 2_000)];

/** The API key of `Authorization: Bearer <key>`, or undefined. */
export function apiKeyOf(req: Request): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/**
 * Provides the one `RateLimiter` of the process. MemoryStore limits one
 * process; for a fleet, build it over `new DynamoDBStore({ tableName, client })`.
 */
@Module({
  providers: [
    {
      provide: RateLimiter,
      useFactory: () => new RateLimiter({ store: new MemoryStore(), limits: DEFAULT_LIMITS }),
    },
  ],
  exports: [RateLimiter],
})
export class LimiterModule {}

/** The app: every route limited per API key (anonymous callers per IP address). */
@Module({
  imports: [
    RateLimitModule.forRootAsync({
      imports: [LimiterModule],
      inject: [RateLimiter],
      useFactory: (limiter: RateLimiter) => ({
        limiter,
        entity: (req: Request) => apiKeyOf(req) ?? ipKey(req.ip),
      }),
      global: true,
    }),
  ],
  controllers: [ChatController, HealthController],
  providers: [ModelService],
})
export class AppModule {}
