import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import { ipKey, type RateLimiter } from '@tollgate/core';
import { type RateLimitKoaState, rateLimit } from '@tollgate/koa';
import Koa, { type Context } from 'koa';
import { catalogCsv, findProduct, PRODUCTS, searchProducts } from './catalog.js';

/** Options of {@link createApiApp}. */
export interface ApiAppOptions {
  /** Trust `X-Forwarded-For` from a proxy in front (Koa's `app.proxy`); default false. */
  proxy?: boolean;
}

/** What one API call costs: `POST /v1/exports` is worth five ordinary requests. */
export const EXPORT_COST = 5;

/** Who pays: the `x-api-key` header, else the client address (IPv6 by /56 subnet). */
function callerOf(ctx: Context): string {
  return ctx.get('x-api-key') || ipKey(ctx.ip);
}

/** The queries of a `POST /v1/search` body, or undefined when the body is not `{ queries: string[] }`. */
function searchQueries(ctx: Context): string[] | undefined {
  const queries = (ctx.request.body as { queries?: unknown } | undefined)?.queries;
  return Array.isArray(queries) &&
    queries.length > 0 &&
    queries.every((query): query is string => typeof query === 'string')
    ? queries
    : undefined;
}

/**
 * The API: a product catalogue (resource `catalog`, budget `rpm`) and a batch
 * search (resource `search`, budget `searches`, one token per query). Each
 * route gets its own `rateLimit()` middleware, built here once; `/health` is
 * not limited.
 */
export function createApiApp(limiter: RateLimiter, options: ApiAppOptions = {}): Koa {
  const app = new Koa({ proxy: options.proxy ?? false });
  const router = new Router<RateLimitKoaState>();

  const limitCatalog = rateLimit({ limiter, entity: callerOf, resource: 'catalog', consume: { rpm: 1 } });
  const limitExport = rateLimit({
    limiter,
    entity: callerOf,
    resource: 'catalog',
    consume: { rpm: EXPORT_COST },
  });
  const limitSearch = rateLimit({
    limiter,
    entity: callerOf,
    resource: 'search',
    // One token per query; a malformed body pays 1, so it cannot be retried for free.
    consume: (ctx) => ({ searches: searchQueries(ctx)?.length ?? 1 }),
  });

  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/v1/products', limitCatalog, (ctx) => {
    ctx.body = { products: PRODUCTS };
  });

  router.get('/v1/products/:id', limitCatalog, (ctx) => {
    const product = findProduct(ctx.params['id'] ?? '');
    // A 404 keeps its charge, like every 4xx: probing for ids is not free.
    if (product === undefined) ctx.throw(404, 'no such product');
    ctx.body = product;
  });

  router.post('/v1/exports', limitExport, (ctx) => {
    ctx.type = 'text/csv';
    ctx.body = catalogCsv();
  });

  router.post('/v1/search', limitSearch, async (ctx) => {
    const queries = searchQueries(ctx);
    if (queries === undefined) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', message: '`queries` must be a non-empty array of strings' };
      return;
    }
    const distinct = [...new Set(queries.map((query) => query.trim().toLowerCase()))];
    // Repeated queries are answered once: refund what they were charged on the way in.
    const refund = distinct.length - queries.length;
    if (refund < 0) await ctx.state.rateLimit?.lease.adjust({ searches: refund });
    ctx.body = {
      results: distinct.map((query) => ({ query, products: searchProducts(query).map((p) => p.id) })),
      charged: distinct.length,
    };
  });

  // What this caller has left: the statuses the limiter returned for this very request.
  router.get('/v1/quota', limitCatalog, async (ctx) => {
    const { statuses, degraded } = ctx.state.rateLimit!;
    ctx.body = {
      degraded,
      catalog: statuses.map((status) => ({
        owner: status.depth === 0 ? 'key' : 'organisation',
        limit: status.limit,
        capacity: status.capacity,
        available: status.available,
        fullInMs: status.resetAfterMs,
      })),
      search: await limiter.available({ entity: callerOf(ctx), resource: 'search' }),
    };
  });

  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
