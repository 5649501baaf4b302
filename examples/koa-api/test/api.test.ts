import { type ChargeRequest, type ChargeResult, MemoryStore, RateLimiter, type Store } from '@tollgate/core';
import { useDynamoDBLocal } from '@tollgate/test-utils';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiApp, EXPORT_COST } from '../src/app.js';
import { DEFAULT_LIMITS, setUpPlans } from '../src/plans.js';
import { openStore } from '../src/store.js';

/** A MemoryStore whose charges fail while `down` is set, as an unreachable database would. */
class FlakyStore extends MemoryStore {
  down = false;
  override async charge(charge: ChargeRequest): Promise<ChargeResult> {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:8000');
    return super.charge(charge);
  }
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** The API on its own port, over `store`, with the clock stopped so that every number is exact. */
async function api(store: Store = new MemoryStore()) {
  const now = Date.now();
  const limiter = new RateLimiter({ store, limits: DEFAULT_LIMITS, clock: () => now, timeoutMs: 5_000 });
  await setUpPlans(limiter);
  const server = createApiApp(limiter).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(async () => {
    server.close();
    await limiter.close();
  });
  return { limiter, server };
}

type Server = Awaited<ReturnType<typeof api>>['server'];
const get = (server: Server, path: string, key?: string) => {
  const call = request(server).get(path);
  return key === undefined ? call : call.set('x-api-key', key);
};
const search = (server: Server, key: string, body: unknown) =>
  request(server)
    .post('/v1/search')
    .set('x-api-key', key)
    .send(body as object);

describe('Koa API example', () => {
  it('charges each route its own resource and cost', async () => {
    const { limiter, server } = await api();
    await get(server, '/v1/products', 'key-1').expect(200);
    const exported = await request(server).post('/v1/exports').set('x-api-key', 'key-1').expect(200);
    expect(exported.headers['content-type']).toMatch(/^text\/csv/);
    expect(exported.headers['ratelimit']).toBe(`"rpm";r=${20 - 1 - EXPORT_COST};t=18`);
    expect(await limiter.available({ entity: 'key-1', resource: 'catalog' })).toEqual({
      rpm: 20 - 1 - EXPORT_COST,
    });
    // 3 queries charged on the way in, the repeated one refunded when the response is sent.
    const found = await search(server, 'key-1', { queries: ['tea', 'Coffee', ' TEA'] }).expect(200);
    expect(found.body).toEqual({
      results: [
        { query: 'tea', products: ['p-300', 'p-301', 'p-400'] },
        { query: 'coffee', products: ['p-100', 'p-101', 'p-200'] },
      ],
      charged: 2,
    });
    await vi.waitFor(async () =>
      expect(await limiter.available({ entity: 'key-1', resource: 'search' })).toEqual({ searches: 8 }),
    );
    expect(await limiter.available({ entity: 'key-1', resource: 'catalog' })).toEqual({ rpm: 14 });
  });

  it('keys callers without an API key by their address', async () => {
    const { limiter, server } = await api();
    await get(server, '/v1/products').expect(200);
    await get(server, '/v1/products/p-100').expect(200);
    expect(await limiter.available({ entity: '127.0.0.1', resource: 'catalog' })).toEqual({ rpm: 18 });
  });

  it('answers 429 with Retry-After and a JSON body once a key has spent its requests', async () => {
    const { server } = await api();
    for (let i = 0; i < 20; i += 1) await get(server, '/v1/products', 'key-1').expect(200);
    const limited = await get(server, '/v1/products', 'key-1').expect(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect(limited.headers['ratelimit-policy']).toBe('"rpm";q=20;w=60');
    expect(limited.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfterMs: 3000 });
    expect(limited.body.limits).toEqual([expect.objectContaining({ limit: 'rpm', exceeded: true })]);
    await get(server, '/v1/products', 'key-2').expect(200);
    await get(server, '/health', 'key-1').expect(200, { status: 'ok' });
  });

  it("limits an organisation's keys together by its stored limits", async () => {
    const { server } = await api();
    // Each key may make 20 requests a minute; org-acme allows 30 between its keys.
    for (let i = 0; i < 20; i += 1) await get(server, '/v1/products', 'key-acme-1').expect(200);
    for (let i = 0; i < 10; i += 1) await get(server, '/v1/products', 'key-acme-2').expect(200);
    const limited = await get(server, '/v1/products', 'key-acme-2').expect(429);
    const exceeded = limited.body.limits.filter((limit: { exceeded: boolean }) => limit.exceeded);
    expect(exceeded).toEqual([expect.objectContaining({ scope: 'parent', limit: 'rpm', capacity: 30 })]);
    // A key outside the organisation is not affected.
    await get(server, '/v1/products', 'key-other').expect(200);
  });

  it('reports what is left from ctx.state.rateLimit', async () => {
    const { server } = await api();
    await search(server, 'key-acme-1', { queries: ['tea'] }).expect(200);
    const quota = await get(server, '/v1/quota', 'key-acme-1').expect(200);
    expect(quota.body).toEqual({
      degraded: false,
      catalog: [
        { owner: 'key', limit: 'rpm', capacity: 20, available: 19, fullInMs: 3000 },
        { owner: 'organisation', limit: 'rpm', capacity: 30, available: 29, fullInMs: 2000 },
      ],
      search: { searches: 9 },
    });
  });

  it('refuses unusable searches with 400: a malformed body pays 1, too many queries pay nothing', async () => {
    const { limiter, server } = await api();
    const malformed = await search(server, 'key-1', { queries: 'tea' }).expect(400);
    expect(malformed.body.error).toBe('invalid_request');
    const tooMany = await search(server, 'key-1', { queries: Array.from({ length: 11 }, () => 'tea') });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.code).toBe('ERR_TOLLGATE_COST_EXCEEDS_CAPACITY');
    expect(await limiter.available({ entity: 'key-1', resource: 'search' })).toEqual({ searches: 9 });
  });

  it('answers 503 with Retry-After while the store is unreachable, and recovers', async () => {
    const store = new FlakyStore();
    const { server } = await api(store);
    store.down = true;
    const unavailable = await get(server, '/v1/products', 'key-1').expect(503);
    expect(unavailable.headers['retry-after']).toBe('1');
    expect(unavailable.body.code).toBe('ERR_TOLLGATE_UNAVAILABLE');
    store.down = false;
    await get(server, '/v1/products', 'key-1').expect(200);
  });

  it('runs on DynamoDB when TOLLGATE_ENDPOINT is set, sharing limits between processes', async () => {
    const local = await useDynamoDBLocal();
    const tableName = `tollgate-koa-api-${process.pid}-${Date.now()}`;
    const opened = await openStore({ TOLLGATE_ENDPOINT: local.endpoint, TOLLGATE_TABLE: tableName });
    // A second "process" on the same table, as a restart or another instance would be.
    const other = await openStore({ TOLLGATE_ENDPOINT: local.endpoint, TOLLGATE_TABLE: tableName });
    closers.push(async () => {
      await opened.stop();
      await other.stop();
      await local.stop();
    });
    expect(opened.description).toContain(tableName);
    const first = await api(opened.store);
    const second = await api(other.store);
    for (let i = 0; i < 10; i += 1) await get(first.server, '/v1/products', 'key-acme-1').expect(200);
    for (let i = 0; i < 20; i += 1) await get(second.server, '/v1/products', 'key-acme-2').expect(200);
    const limited = await get(first.server, '/v1/products', 'key-acme-1').expect(429);
    expect(limited.body.limits.find((limit: { exceeded: boolean }) => limit.exceeded).scope).toBe('parent');
  });
});
