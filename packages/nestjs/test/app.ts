import type { Server } from 'node:http';
import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Limit, MemoryStore, RateLimiter, type RateLimiterOptions } from '@tollgate/core';

/** The Nest platforms Tollgate supports. */
export const PLATFORMS = ['express', 'fastify'] as const;
/** One Nest platform. */
export type Platform = (typeof PLATFORMS)[number];

/** A started test app; `server` is for supertest. */
export interface TestApp {
  app: INestApplication;
  server: Server;
  close(): Promise<void>;
}

/** Builds and initialises a Nest app from module metadata on the given platform. */
export async function startApp(
  metadata: ModuleMetadata,
  platform: Platform,
  adapterOptions: { trustProxy?: boolean } = {},
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const adapter = platform === 'fastify' ? new FastifyAdapter(adapterOptions) : new ExpressAdapter();
  const app = moduleRef.createNestApplication(adapter, { logger: false });
  if (platform === 'express' && adapterOptions.trustProxy) {
    (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set(
      'trust proxy',
      true,
    );
  }
  await app.init();
  if (platform === 'fastify')
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<void> }).ready();
  return { app, server: app.getHttpServer(), close: () => app.close() };
}

/** A limiter over a MemoryStore with a frozen clock, so nothing refills during a test. */
export function frozenLimiter(options: Partial<RateLimiterOptions> = {}): RateLimiter {
  const now = Date.UTC(2025, 0, 1);
  return new RateLimiter({
    store: new MemoryStore(),
    limits: [Limit.perMinute('rpm', 5), Limit.perMinute('tpm', 1_000)],
    clock: () => now,
    ...options,
  });
}
