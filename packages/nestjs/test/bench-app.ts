/**
 * Nest apps for the HTTP benchmark: the same `GET /ping` route bare, behind
 * Tollgate's `RateLimitGuard`, and behind `@nestjs/throttler`'s guard, with
 * limits high enough that nothing is rejected, so the difference is overhead.
 *
 * Decorators need this package's tsconfig: from the repository root, run
 * `TSX_TSCONFIG_PATH=packages/nestjs/tsconfig.json node --conditions=tollgate-source --import tsx
 * packages/nestjs/test/bench-app.ts --variant tollgate --platform express --port 3001`
 * (prints `listening <url>`), or import {@link startNestBenchApp} from code run that way.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Controller, Get, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { RateLimitModule, type RateLimitRequest } from '../src/index.js';

/** Which guard the benchmark app runs. */
export type NestBenchVariant = 'bare' | 'tollgate' | 'throttler';

/** Options of {@link startNestBenchApp}. */
export interface NestBenchAppOptions {
  variant: NestBenchVariant;
  /** Default `'express'`. */
  platform?: 'express' | 'fastify';
  /** 0 picks a free port. */
  port: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** For `'tollgate'`: the limiter (default: a MemoryStore limiter that never limits the benchmark). */
  limiter?: RateLimiter;
}

/** A listening benchmark app. */
export interface NestBenchApp {
  /** Base URL, e.g. `http://127.0.0.1:3001`; the route is `GET /ping`. */
  url: string;
  close(): Promise<void>;
}

@Controller()
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

/** Keys by `x-api-key` when the load generator sends one, else by client address. */
const benchEntity = (req: RateLimitRequest): string => {
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : (req.ip ?? 'unknown');
};

function rootModule(options: NestBenchAppOptions): {
  module: Type;
  imports: unknown[];
  providers: unknown[];
} {
  const imports: unknown[] = [];
  const providers: unknown[] = [];
  if (options.variant === 'tollgate') {
    const limiter =
      options.limiter ??
      new RateLimiter({ store: new MemoryStore(), limits: [Limit.perSecond('rps', 1_000_000_000)] });
    imports.push(RateLimitModule.forRoot({ limiter, entity: benchEntity, global: true }));
  } else if (options.variant === 'throttler') {
    imports.push(ThrottlerModule.forRoot([{ ttl: 1_000, limit: 1_000_000_000 }]));
    providers.push({ provide: APP_GUARD, useClass: ThrottlerGuard });
  }
  return { module: class BenchModule {}, imports, providers };
}

/** Builds one benchmark app and starts listening. */
export async function startNestBenchApp(options: NestBenchAppOptions): Promise<NestBenchApp> {
  const platform = options.platform ?? 'express';
  const adapter = platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app: INestApplication = await NestFactory.create(
    { ...rootModule(options), controllers: [PingController] } as never,
    adapter,
    { logger: false, abortOnError: false },
  );
  const host = options.host ?? '127.0.0.1';
  await app.listen(options.port, host);
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await app.close();
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', default: 'tollgate' },
      platform: { type: 'string', default: 'express' },
      port: { type: 'string', default: '0' },
    },
  });
  const started = await startNestBenchApp({
    variant: values.variant as NestBenchVariant,
    platform: values.platform as 'express' | 'fastify',
    port: Number(values.port),
  });
  console.log(`listening ${started.url}`);
  // The HTTP benchmark asks for this process's CPU time to measure CPU per request.
  process.on('message', (message) => {
    if (message === 'cpu') process.send?.(process.cpuUsage());
  });
  const stop = (): void => {
    void started.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop).once('SIGINT', stop);
}
