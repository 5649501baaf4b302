import { PassThrough } from 'node:stream';
import {
  type AdapterHarness,
  type ContractRequest,
  type ContractResponse,
  startServer,
  toAdapterOptions,
} from '@tollgate/test-utils';
import type Koa from 'koa';
import type { Context, Middleware } from 'koa';
import { type RateLimitKoaState, rateLimit } from '../src/index.js';

/** The parsed JSON body, set by {@link jsonBody}. */
function bodyOf(ctx: Context): unknown {
  return (ctx.request as { body?: unknown }).body;
}

/** The neutral view of a Koa context. */
function view(ctx: Context): ContractRequest {
  return {
    method: ctx.method,
    path: ctx.path,
    header: (name) =>
      ctx.get(name) === '' && ctx.headers[name.toLowerCase()] === undefined ? undefined : ctx.get(name),
    body: bodyOf(ctx),
    ip: ctx.ip,
  };
}

function send(ctx: Context, response: ContractResponse): void {
  ctx.status = response.status;
  if (response.headers) ctx.set(response.headers);
  ctx.body = response.body;
}

/** Parses JSON request bodies into `ctx.request.body` (the contract app needs nothing more). */
const jsonBody: Middleware = async (ctx, next) => {
  if (ctx.is('application/json')) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    (ctx.request as { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }
  await next();
};

/** The contract routes, without a router so the same code runs on Koa 2 and 3. */
function contractRoutes(routes: Parameters<AdapterHarness['createApp']>[0]['routes']): Middleware {
  return async (ctx) => {
    const state = (ctx.state as RateLimitKoaState).rateLimit;
    const status = /^\/status\/(\d{3})$/.exec(ctx.path);
    if (ctx.method === 'GET' && ctx.path === '/ok') return send(ctx, routes.ok(state));
    if (ctx.method === 'GET' && ctx.path === '/fail') return routes.fail(state);
    if (ctx.method === 'GET' && status) return send(ctx, routes.status(state, status[1] ?? ''));
    if (ctx.method === 'GET' && ctx.path === '/state') return send(ctx, routes.state(state));
    if (ctx.method === 'POST' && ctx.path === '/chat')
      return send(ctx, await routes.chat(state, bodyOf(ctx)));
    if (ctx.method === 'GET' && ctx.path === '/hang') {
      routes.hang(state);
      return new Promise<void>(() => {});
    }
    if (ctx.method === 'GET' && ctx.path === '/sse') {
      const stream = new PassThrough();
      ctx.type = 'text/event-stream';
      ctx.set('Cache-Control', 'no-cache');
      ctx.body = stream;
      routes
        .sse(state, (chunk) => stream.write(chunk))
        .then(
          () => stream.end(),
          (error: unknown) => stream.destroy(error as Error),
        );
      return undefined;
    }
    return undefined;
  };
}

/** The contract app on one Koa major version. */
export function koaHarness(name: string, KoaApp: typeof Koa): AdapterHarness {
  return {
    name,
    createApp({ options, routes, trustProxy }) {
      const app = new KoaApp({ proxy: trustProxy });
      app.silent = true;
      const { onLimited } = options;
      app.use(jsonBody);
      app.use(
        rateLimit({
          ...toAdapterOptions(options, view),
          ...(onLimited === undefined
            ? {}
            : { onLimited: (ctx: Context, _next: unknown, error) => send(ctx, onLimited(error, view(ctx))) }),
        }),
      );
      app.use(contractRoutes(routes));
      return startServer(app.callback());
    },
  };
}
