import type { Server, ServerResponse } from 'node:http';
import {
  type ArgumentsHost,
  Body,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Param,
  Post,
  Res,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type {
  AdapterHarness,
  ContractOptions,
  ContractRequest,
  ContractResponse,
} from '@tollgate/test-utils';
import { toAdapterOptions } from '@tollgate/test-utils';
import {
  RateLimitExceededException,
  RateLimitModule,
  type RateLimitRequest,
  RateLimitState,
} from '../src/index.js';
import type { Platform } from './app.js';

/** The platform request as the harness reads it (Express `Request` or `FastifyRequest`). */
interface NestRequest extends RateLimitRequest {
  readonly method: string;
  readonly url: string;
  readonly body?: unknown;
}

/** What both platform responses share (Express `Response`, `FastifyReply`). */
interface PlatformResponse {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
  send(body: unknown): unknown;
  raw?: ServerResponse;
  hijack?(): unknown;
}

function view(req: NestRequest): ContractRequest {
  return {
    method: req.method,
    path: req.url.split('?')[0] ?? req.url,
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: req.body,
    ip: req.ip,
  };
}

function send(res: PlatformResponse, response: ContractResponse): void {
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers ?? {})) res.header(name, value);
  res.header('Content-Type', 'application/json; charset=utf-8');
  res.send(JSON.stringify(response.body));
}

/** `onLimited` the Nest way: an exception filter for `RateLimitExceededException`. */
function limitedFilter(onLimited: NonNullable<ContractOptions['onLimited']>): ExceptionFilter {
  @Catch(RateLimitExceededException)
  class LimitedFilter implements ExceptionFilter {
    catch(exception: RateLimitExceededException, host: ArgumentsHost): void {
      const http = host.switchToHttp();
      send(
        http.getResponse<PlatformResponse>(),
        onLimited(exception.error, view(http.getRequest<NestRequest>())),
      );
    }
  }
  return new LimitedFilter();
}

/**
 * The adapter contract app on one Nest platform: `RateLimitModule.forRoot({ global: true })`
 * over a controller serving the contract routes.
 */
export function nestHarness(platform: Platform): AdapterHarness {
  return {
    name: `NestJS on ${platform === 'express' ? 'Express' : 'Fastify'}`,
    stringMessages: 'status-envelope',
    async createApp({ options, routes, trustProxy }) {
      @Controller()
      class ContractController {
        @Get('ok')
        ok(@RateLimitState() state: RateLimitState | undefined, @Res() res: PlatformResponse) {
          send(res, routes.ok(state));
        }

        @Get('fail')
        fail(@RateLimitState() state: RateLimitState | undefined): never {
          return routes.fail(state);
        }

        @Get('status/:code')
        status(
          @RateLimitState() state: RateLimitState | undefined,
          @Param('code') code: string,
          @Res() res: PlatformResponse,
        ) {
          send(res, routes.status(state, code));
        }

        @Post('chat')
        async chat(
          @RateLimitState() state: RateLimitState | undefined,
          @Body() body: unknown,
          @Res() res: PlatformResponse,
        ) {
          send(res, await routes.chat(state, body));
        }

        @Get('sse')
        sse(@RateLimitState() state: RateLimitState | undefined, @Res() res: PlatformResponse) {
          res.hijack?.(); // Fastify: this handler writes the Node response itself
          const raw = res.raw ?? (res as unknown as ServerResponse);
          raw.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
          raw.flushHeaders();
          routes
            .sse(state, (chunk) => raw.write(chunk))
            .then(
              () => raw.end(),
              (error: unknown) => raw.destroy(error as Error),
            );
        }

        @Get('state')
        state(@RateLimitState() state: RateLimitState | undefined, @Res() res: PlatformResponse) {
          send(res, routes.state(state));
        }

        @Get('hang')
        hang(@RateLimitState() state: RateLimitState | undefined): Promise<never> {
          routes.hang(state);
          return new Promise<never>(() => {});
        }
      }

      const { onLimited } = options;
      const adapted = toAdapterOptions<NestRequest>(options, view);
      const ContractModule = RateLimitModule.forRoot({ ...adapted, global: true });
      const adapter = platform === 'fastify' ? new FastifyAdapter({ trustProxy }) : new ExpressAdapter();
      const app = await NestFactory.create(
        { module: class ContractAppModule {}, imports: [ContractModule], controllers: [ContractController] },
        adapter,
        { logger: false, abortOnError: false },
      );
      if (platform === 'express') {
        (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set(
          'trust proxy',
          trustProxy,
        );
      }
      if (onLimited) app.useGlobalFilters(limitedFilter(onLimited));
      await app.listen(0, '127.0.0.1');
      const server = app.getHttpServer() as Server;
      return {
        server,
        close: async () => {
          server.closeAllConnections();
          await app.close();
        },
      };
    },
  };
}
