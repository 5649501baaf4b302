import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import {
  Args,
  Field,
  GraphQLModule,
  Int,
  Mutation,
  ObjectType,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { type Lease, Limit, type RateLimiter } from '@tollgate/core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RateLimit, RateLimitModule, RateLimitState, SkipRateLimit } from '../src/index.js';
import { frozenLimiter, startApp, type TestApp } from './app.js';

@ObjectType()
class Chat {
  @Field(() => String)
  id!: string;
}

@ObjectType()
class Held {
  @Field(() => Int)
  rpm!: number;

  @Field(() => Boolean)
  open!: boolean;
}

/** Resolver calls of one test request, by field name. */
let calls: string[] = [];
/** The leases those calls held. */
let leases: Lease[] = [];

@Resolver(() => Chat)
class ChatResolver {
  @Query(() => String)
  hello(@RateLimitState() state: RateLimitState): string {
    calls.push('hello');
    leases.push(state.lease);
    return 'world';
  }

  @Query(() => String)
  other(@RateLimitState() state: RateLimitState): string {
    calls.push('other');
    leases.push(state.lease);
    return 'other';
  }

  @Query(() => Held)
  held(@RateLimitState() state: RateLimitState): Held {
    return { rpm: state.lease.consumed['rpm'] ?? 0, open: !state.lease.isClosed };
  }

  @Query(() => String)
  @RateLimit({ resource: 'search', consume: { rpm: 2 } })
  search(): string {
    return 'found';
  }

  @Query(() => String)
  @RateLimit({
    resource: 'login',
    limits: [Limit.perMinute('attempts', 1)],
    consume: { attempts: 1 },
    message: 'Too many attempts',
  })
  login(): string {
    return 'welcome';
  }

  @Query(() => String, { nullable: true })
  @RateLimit({ consume: { gpu: 1 } })
  render(): string {
    return 'rendered';
  }

  @Query(() => Boolean)
  @SkipRateLimit()
  free(@RateLimitState() state: RateLimitState | undefined): boolean {
    return state !== undefined;
  }

  @Query(() => [Chat])
  chats(): Chat[] {
    return [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  }

  @ResolveField(() => String)
  title(@Parent() chat: Chat): string {
    return `chat ${chat.id}`;
  }

  @Query(() => String, { nullable: true })
  boom(): string {
    throw new Error('boom');
  }

  @Mutation(() => String)
  @RateLimit({ resource: 'send', consume: (req) => ({ rpm: Number(req.headers['x-cost'] ?? 1) }) })
  send(@Args('text', { type: () => String }) text: string): string {
    return `sent ${text}`;
  }
}

@Resolver()
@SkipRateLimit()
class AdminResolver {
  @Query(() => String)
  status(): string {
    return 'up';
  }

  @Query(() => String)
  @SkipRateLimit(false)
  audit(): string {
    return 'audited';
  }
}

/** The module every app here limits with: 1 rpm per call, keyed by `x-api-key`, on every resolver. */
function limitedModule(limiter: RateLimiter, logger: { warn: (...args: unknown[]) => void }) {
  return RateLimitModule.forRoot({
    limiter,
    entity: (req) => String(req.headers['x-api-key']),
    consume: { rpm: 1 },
    global: true,
    logger,
  });
}

/** Apollo with a generated schema, no playground and no stack traces, over `config`. */
function apolloModule(config: Partial<ApolloDriverConfig> = {}) {
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    driver: ApolloDriver,
    autoSchemaFile: true,
    playground: false,
    includeStacktraceInErrorResponses: false,
    ...config,
  });
}

describe('RateLimitGuard on GraphQL resolvers (Apollo, Express)', () => {
  const logger = { warn: vi.fn() };
  let limiter: RateLimiter;
  let test: TestApp;
  const available = (entity: string, resource = 'default') => limiter.available({ entity, resource });
  const query = (key: string, body: string, variables?: Record<string, unknown>) =>
    request(test.server).post('/graphql').set('x-api-key', key).send({ query: body, variables });

  beforeAll(async () => {
    limiter = frozenLimiter();
    test = await startApp(
      {
        imports: [apolloModule(), limitedModule(limiter, logger)],
        providers: [ChatResolver, AdminResolver],
      },
      'express',
    );
  });
  afterAll(() => test.close());

  it("checks resolvers' @RateLimit() options at startup, as controllers'", () => {
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringMatching(/^WARN_TOLLGATE_UNKNOWN_LIMIT: `consume` names `gpu`/),
      expect.anything(),
    );
  });

  it('admits a query under the limit and sets the RateLimit headers on the HTTP response', async () => {
    const res = await query('admitted', '{ hello }').expect(200);
    expect(res.body).toEqual({ data: { hello: 'world' } });
    expect(res.headers['ratelimit-policy']).toBe('"rpm";q=5;w=60, "tpm";q=1000;w=60');
    expect(res.headers.ratelimit).toBe('"rpm";r=4;t=12, "tpm";r=1000;t=0');
    expect(await available('admitted')).toEqual({ rpm: 4, tpm: 1000 });
  });

  it('answers a limited call with a GraphQL error carrying the 429, and Retry-After on the response', async () => {
    for (let i = 0; i < 5; i += 1) await query('spent', '{ hello }').expect(200);
    calls = [];
    const res = await query('spent', '{ hello }').expect(200);
    expect(calls).toEqual([]); // the resolver did not run
    expect(res.headers['retry-after']).toBe('12');
    expect(res.headers.ratelimit).toBe('"rpm";r=0;t=60, "tpm";r=1000;t=0');
    expect(res.body.data).toBeNull();
    expect(res.body.errors).toEqual([
      {
        message: 'Rate limit exceeded (rpm); retry in 12000 ms',
        locations: [{ line: 1, column: 3 }],
        path: ['hello'],
        extensions: {
          code: 'ERR_TOLLGATE_RATE_LIMITED',
          status: 429,
          retryAfterMs: 12_000,
          body: expect.objectContaining({ error: 'rate_limit_exceeded', retryAfterMs: 12_000 }),
        },
      },
    ]);
    // Nothing charged for the refused call.
    expect(await available('spent')).toEqual({ rpm: 0, tpm: 1000 });
  });

  it('exposes each resolver call its own open lease through @RateLimitState()', async () => {
    const res = await query('state', '{ held { rpm open } }').expect(200);
    expect(res.body).toEqual({ data: { held: { rpm: 1, open: true } } });
    await vi.waitFor(async () => expect(await available('state')).toEqual({ rpm: 4, tpm: 1000 }));
  });

  it('neither charges nor sets headers for a @SkipRateLimit() resolver', async () => {
    const res = await query('free', '{ free }').expect(200);
    expect(res.body).toEqual({ data: { free: false } });
    expect(res.headers.ratelimit).toBeUndefined();
    expect(await available('free')).toEqual({ rpm: 5, tpm: 1000 });
  });

  it('honours @SkipRateLimit() on a resolver class, and @SkipRateLimit(false) on its method', async () => {
    await query('admin', '{ status }').expect(200);
    expect(await available('admin')).toEqual({ rpm: 5, tpm: 1000 });
    await query('admin', '{ audit }').expect(200);
    expect(await available('admin')).toEqual({ rpm: 4, tpm: 1000 });
  });

  it("charges a resolver's own @RateLimit() options over the module's", async () => {
    const res = await query('search', '{ search }').expect(200);
    expect(res.body).toEqual({ data: { search: 'found' } });
    expect(await available('search', 'search')).toEqual({ rpm: 3, tpm: 1000 });
    expect(await available('search')).toEqual({ rpm: 5, tpm: 1000 });
  });

  it("uses the `message` option as the GraphQL error's message and body", async () => {
    expect((await query('login', '{ login }').expect(200)).body).toEqual({ data: { login: 'welcome' } });
    const res = await query('login', '{ login }').expect(200);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        message: 'Too many attempts',
        extensions: {
          code: 'ERR_TOLLGATE_RATE_LIMITED',
          status: 429,
          retryAfterMs: 60_000,
          body: 'Too many attempts',
        },
      }),
    ]);
    expect(res.headers['retry-after']).toBe('60');
  });

  it('answers an unusable cost with a GraphQL error coded like the 400, charging nothing', async () => {
    const res = await query('invalid', '{ render }').expect(200);
    expect(res.body).toEqual({
      data: { render: null },
      errors: [
        expect.objectContaining({
          path: ['render'],
          extensions: {
            code: 'ERR_TOLLGATE_UNKNOWN_LIMIT',
            status: 400,
            body: expect.objectContaining({ error: 'invalid_request', field: 'consume.gpu' }),
          },
        }),
      ],
    });
    expect(await available('invalid')).toEqual({ rpm: 5, tpm: 1000 });
  });

  it('limits a mutation, with a cost computed from the HTTP request', async () => {
    const mutation = 'mutation Send($text: String!) { send(text: $text) }';
    const sent = await query('mutate', mutation, { text: 'hi' }).set('x-cost', '4').expect(200);
    expect(sent.body).toEqual({ data: { send: 'sent hi' } });
    const refused = await query('mutate', mutation, { text: 'again' }).set('x-cost', '2').expect(200);
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors[0]).toMatchObject({
      path: ['send'],
      extensions: { code: 'ERR_TOLLGATE_RATE_LIMITED', status: 429 },
    });
    expect(refused.headers['retry-after']).toBe('12');
    expect(await available('mutate', 'send')).toEqual({ rpm: 1, tpm: 1000 });
  });

  it('charges each limited top-level field of one request, and settles each lease once', async () => {
    calls = [];
    leases = [];
    const res = await query('two', '{ hello other aliased: hello }').expect(200);
    expect(res.body).toEqual({ data: { hello: 'world', other: 'other', aliased: 'world' } });
    expect(calls).toEqual(['hello', 'other', 'hello']);
    expect(new Set(leases).size).toBe(3); // one lease per call
    expect(await available('two')).toEqual({ rpm: 2, tpm: 1000 });
    // Every lease commits when the response finishes: none left open, none refunded.
    await vi.waitFor(() => expect(leases.map((lease) => lease.isClosed)).toEqual([true, true, true]));
    expect(await available('two')).toEqual({ rpm: 2, tpm: 1000 });
  });

  it('answers the fields it admits and errors the ones refused, within one request', async () => {
    for (let i = 0; i < 4; i += 1) await query('partial', '{ hello }').expect(200);
    calls = [];
    const res = await query('partial', '{ hello other }').expect(200);
    expect(calls).toEqual(['hello']);
    // `other` is non-null: its error nulls the whole data, but `hello` was admitted and charged.
    expect(res.body.errors).toEqual([expect.objectContaining({ path: ['other'] })]);
    expect(await available('partial')).toEqual({ rpm: 0, tpm: 1000 });
  });

  it('does not charge field resolvers (Nest runs no guards on them by default)', async () => {
    const res = await query('fields', '{ chats { id title } }').expect(200);
    expect(res.body.data.chats).toHaveLength(3);
    expect(await available('fields')).toEqual({ rpm: 4, tpm: 1000 });
  });

  it('keeps the charge of a resolver that throws: the GraphQL response is still a 200', async () => {
    const res = await query('boom', '{ boom }').expect(200);
    expect(res.body.errors[0]).toMatchObject({ message: 'boom', path: ['boom'] });
    await vi.waitFor(async () => expect(await available('boom')).toEqual({ rpm: 4, tpm: 1000 }));
  });
});

describe('RateLimitGuard on GraphQL resolvers (Mercurius, Fastify)', () => {
  const logger = { warn: vi.fn() };
  let limiter: RateLimiter;
  let test: TestApp;
  const query = (key: string, body: string) =>
    request(test.server).post('/graphql').set('x-api-key', key).send({ query: body });

  beforeAll(async () => {
    limiter = frozenLimiter();
    test = await startApp(
      {
        imports: [
          GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true }),
          limitedModule(limiter, logger),
        ],
        providers: [ChatResolver, AdminResolver],
      },
      'fastify',
    );
  });
  afterAll(() => test.close());

  it('limits each top-level field on the reply of the Mercurius context', async () => {
    leases = [];
    const res = await query('mercurius', '{ hello other }').expect(200);
    expect(res.body).toEqual({ data: { hello: 'world', other: 'other' } });
    expect(res.headers.ratelimit).toBe('"rpm";r=3;t=24, "tpm";r=1000;t=0');
    await vi.waitFor(() => expect(leases.map((lease) => lease.isClosed)).toEqual([true, true]));
    expect(await limiter.available({ entity: 'mercurius' })).toEqual({ rpm: 3, tpm: 1000 });
  });

  it('answers a limited call with a GraphQL error and Retry-After', async () => {
    for (let i = 0; i < 5; i += 1) await query('mercurius-spent', '{ hello }').expect(200);
    const res = await query('mercurius-spent', '{ hello }').expect(200);
    expect(res.headers['retry-after']).toBe('12');
    expect(res.body).toEqual({
      data: null,
      errors: [
        expect.objectContaining({
          message: 'Rate limit exceeded (rpm); retry in 12000 ms',
          path: ['hello'],
          extensions: expect.objectContaining({ code: 'ERR_TOLLGATE_RATE_LIMITED', status: 429 }),
        }),
      ],
    });
  });
});

describe('RateLimitGuard on GraphQL resolvers (Apollo, Fastify)', () => {
  const logger = { warn: vi.fn() };
  const apps: TestApp[] = [];
  const start = async (config: Partial<ApolloDriverConfig>) => {
    const limiter = frozenLimiter();
    const test = await startApp(
      {
        imports: [apolloModule(config), limitedModule(limiter, logger)],
        providers: [ChatResolver, AdminResolver],
      },
      'fastify',
    );
    apps.push(test);
    return { limiter, test };
  };
  afterAll(() => Promise.all(apps.map((test) => test.close())));

  it('limits on the { req, res } a context function returns', async () => {
    const { limiter, test } = await start({
      context: (req: unknown, res: unknown) => ({ req, res }),
    });
    const res = await request(test.server)
      .post('/graphql')
      .set('x-api-key', 'k')
      .send({ query: '{ hello }' });
    expect(res.body).toEqual({ data: { hello: 'world' } });
    expect(res.headers.ratelimit).toBe('"rpm";r=4;t=12, "tpm";r=1000;t=0');
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 4, tpm: 1000 });
  });

  it("answers a coded error, not an unlimited call, under Nest's default context (no reply in it)", async () => {
    const { limiter, test } = await start({});
    const res = await request(test.server)
      .post('/graphql')
      .set('x-api-key', 'k')
      .send({ query: '{ hello }' });
    expect(res.body.errors[0]).toMatchObject({ message: expect.stringMatching(/no HTTP response/) });
    expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 5, tpm: 1000 });
  });
});
