import type { AddressInfo } from 'node:net';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Limit, MemoryStore, RateLimiter } from '@tollgate/core';
import { type Client, createClient } from 'graphql-ws';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RateLimitModule, SkipRateLimit } from '../src/index.js';
import { startApp, type TestApp } from './app.js';

/** Two events, then the end: enough to see a subscription run. */
async function* twoTicks(field: string): AsyncGenerator<Record<string, string>> {
  yield { [field]: 'first' };
  yield { [field]: 'second' };
}

@Resolver()
class TickResolver {
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @Subscription(() => String)
  ticks(): AsyncGenerator<Record<string, string>> {
    return twoTicks('ticks');
  }

  @SkipRateLimit()
  @Subscription(() => String)
  freeTicks(): AsyncGenerator<Record<string, string>> {
    return twoTicks('freeTicks');
  }
}

/** What one subscription delivered before it ended. */
interface Delivered {
  data: unknown[];
  errors: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** Runs one subscription to its end and returns what it delivered (an error frame ends it too). */
function subscribe(client: Client, query: string): Promise<Delivered> {
  const delivered: Delivered = { data: [], errors: [] };
  return new Promise((resolve, reject) => {
    client.subscribe(
      { query },
      {
        next: (result) => {
          if (result.data) delivered.data.push(result.data);
          if (result.errors) delivered.errors.push(...(result.errors as Delivered['errors']));
        },
        error: (error) => {
          if (Array.isArray(error)) {
            delivered.errors.push(...(error as Delivered['errors']));
            resolve(delivered);
          } else reject(error);
        },
        complete: () => resolve(delivered),
      },
    );
  });
}

describe('RateLimitGuard on a real graphql-ws subscription (Apollo, Express)', () => {
  const store = new MemoryStore();
  let limiter: RateLimiter;
  let test: TestApp;
  let client: Client;

  beforeAll(async () => {
    limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 5)] });
    test = await startApp(
      {
        imports: [
          GraphQLModule.forRoot<ApolloDriverConfig>({
            driver: ApolloDriver,
            autoSchemaFile: true,
            playground: false,
            includeStacktraceInErrorResponses: false,
            subscriptions: { 'graphql-ws': true },
          }),
          RateLimitModule.forRoot({
            limiter,
            entity: (req) => String(req.headers['x-api-key'] ?? 'anonymous'),
            global: true,
          }),
        ],
        providers: [TickResolver],
      },
      'express',
    );
    await test.app.listen(0, '127.0.0.1');
    const { port } = test.server.address() as AddressInfo;
    client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': 'socket' },
      lazy: true,
      retryAttempts: 0,
    });
  });
  afterAll(async () => {
    await client?.dispose();
    await test?.close();
  });

  it('refuses a guarded subscription with the coded error, never running it unlimited', async () => {
    const delivered = await subscribe(client, 'subscription { ticks }');
    expect(delivered.data).toEqual([]);
    expect(delivered.errors).toHaveLength(1);
    expect(delivered.errors[0]!.message).toMatch(
      /RateLimitGuard cannot limit the GraphQL resolver `TickResolver\.ticks`: its GraphQL context carries no HTTP request.*`@SkipRateLimit\(\)`/,
    );
    // Nothing was charged to anybody: the refusal happened before any decision.
    expect(store.stats()['charge']?.calls ?? 0).toBe(0);
  });

  it('runs a subscription marked @SkipRateLimit() to its end', async () => {
    const delivered = await subscribe(client, 'subscription { freeTicks }');
    expect(delivered).toEqual({ data: [{ freeTicks: 'first' }, { freeTicks: 'second' }], errors: [] });
  });

  it('charges a query over HTTP on the same app, so the counts above are live', async () => {
    const res = await request(test.server)
      .post('/graphql')
      .set('x-api-key', 'http')
      .send({ query: '{ hello }' })
      .expect(200);
    expect(res.body).toEqual({ data: { hello: 'world' } });
    expect(store.stats()['charge']?.calls).toBe(1);
    expect(await limiter.available({ entity: 'http' })).toEqual({ rpm: 4 });
  });
});
