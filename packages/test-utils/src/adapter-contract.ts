import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Consumption,
  type HeaderStandard,
  type HttpRateLimitOptions,
  type Lease,
  Limit,
  type Logger,
  MemoryStore,
  type RateLimitExceeded,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimitState,
  type Store,
  type ValidateOption,
} from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestTable, type DynamoDBLocal, useDynamoDBLocal } from './dynamodb-local.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * A framework-neutral view of one request, handed to the contract's
 * `entity`, `resource`, `consume`, `skip` and `onLimited` functions. Each
 * harness builds it from its own request (Express `req`, Koa `ctx`, ...).
 */
export interface ContractRequest {
  readonly method: string;
  /** Path without the query string, e.g. `/status/503`. */
  readonly path: string;
  /** A request header (case-insensitive name); undefined when absent. */
  header(name: string): string | undefined;
  /** The parsed JSON body (POST /chat), else undefined. */
  readonly body: unknown;
  /** The client address as the framework reports it (proxy settings applied). */
  readonly ip: string | undefined;
}

/** A response a contract route or `onLimited` asks the harness to send as JSON. */
export interface ContractResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * Adapter options in neutral form. Functions take a {@link ContractRequest};
 * {@link toAdapterOptions} turns them into functions of the framework's
 * request. `onLimited` describes the custom 429 to send; the harness wires it
 * to its framework's `onLimited` signature.
 */
export interface ContractOptions {
  limiter: RateLimiter;
  entity?: (req: ContractRequest) => MaybePromise<string>;
  resource?: string | ((req: ContractRequest) => MaybePromise<string>);
  consume?: Consumption | ((req: ContractRequest) => MaybePromise<Consumption>);
  limits?: readonly Limit[];
  skip?: (req: ContractRequest) => MaybePromise<boolean>;
  headers?: HeaderStandard;
  legacyHeaders?: boolean;
  rollbackOnError?: boolean;
  rollbackOnAbort?: boolean;
  logger?: Logger;
  exposeEntities?: boolean;
  validate?: ValidateOption;
  onLimited?: (error: RateLimitExceeded, req: ContractRequest) => ContractResponse;
  statusCode?: number;
  message?:
    | string
    | object
    | ((req: ContractRequest, error: RateLimitExceeded) => MaybePromise<string | object>);
  skipSuccessfulRequests?: boolean;
  skipFailedRequests?: boolean;
  /** Gets the neutral request and the Node response (its `statusCode` once the response has finished). */
  requestWasSuccessful?: (
    req: ContractRequest,
    res: { readonly statusCode: number },
  ) => MaybePromise<boolean>;
}

/**
 * What every contract route does, framework-neutral. The harness only does
 * the HTTP plumbing around these calls; `state` is the adapter's
 * `req.rateLimit` / `ctx.state.rateLimit` (undefined when skipped). A
 * {@link ContractResponse} is sent as JSON with its status and headers.
 */
export interface ContractRoutes {
  /** GET /ok: answer with this (200 `{ ok: true }`). */
  ok(state: RateLimitState | undefined): ContractResponse;
  /** GET /fail: throws synchronously (`Error('handler failed')`); the framework answers 500. */
  fail(state: RateLimitState | undefined): never;
  /** GET /status/:code: answer with this (that status, `{ status: code }`). */
  status(state: RateLimitState | undefined, code: string): ContractResponse;
  /** POST /chat: computes the answer, then charges the real token count (`body.tokens`) via `adjust`. */
  chat(state: RateLimitState | undefined, body: unknown): Promise<ContractResponse>;
  /**
   * GET /sse: the harness sends `200` with `Content-Type: text/event-stream`,
   * flushes the head, passes a `write` for event chunks, and ends the
   * response when the promise resolves (destroys it when it rejects).
   */
  sse(state: RateLimitState | undefined, write: (chunk: string) => void): Promise<void>;
  /** GET /state: answer with this. */
  state(state: RateLimitState | undefined): ContractResponse;
  /** GET /hang: called on arrival; the route then never answers. */
  hang(state: RateLimitState | undefined): void;
}

/** What {@link AdapterHarness.createApp} receives. */
export interface ContractAppConfig {
  /** Adapter options, neutral; convert with {@link toAdapterOptions} and wire `onLimited`. */
  options: ContractOptions;
  routes: ContractRoutes;
  /** Trust `X-Forwarded-For` for the client address (Express `trust proxy`, Koa `app.proxy`). */
  trustProxy: boolean;
}

/** A started app, listening on 127.0.0.1. */
export interface ContractApp {
  server: Server;
  close(): Promise<void>;
}

/**
 * Builds one app for the contract suite. The app parses JSON bodies, applies
 * the adapter built from `config.options` to every route, and serves:
 *
 * - `GET /ok` → `routes.ok(state)`
 * - `GET /fail` → `routes.fail(state)`, which throws (the framework answers 500)
 * - `GET /status/:code` → `routes.status(state, code)`
 * - `POST /chat` → `routes.chat(state, body)`
 * - `GET /sse` → `routes.sse(state, write)` (see {@link ContractRoutes.sse})
 * - `GET /state` → `routes.state(state)`
 * - `GET /hang` → `routes.hang(state)`, then never answers
 *
 * Building the adapter with invalid options must reject (throw) here.
 */
export interface AdapterHarness {
  /** Shown in test names, e.g. `Express 5`. */
  readonly name: string;
  /**
   * How the framework sends a string `message`: as `text/plain` (`'text'`,
   * the default: Express, Koa) or as Nest's `{ statusCode, message }` JSON,
   * as for any `HttpException` built from a string (`'status-envelope'`).
   */
  readonly stringMessages?: 'text' | 'status-envelope';
  createApp(config: ContractAppConfig): MaybePromise<ContractApp>;
}

/** Where the limiters of one contract run keep their buckets. */
export interface StoreFactory {
  /** Shown in test names, e.g. `MemoryStore`. */
  readonly name: string;
  /** Runs once before the suite (start a database). */
  setup?(): Promise<void>;
  /** A fresh, empty store for one test. */
  create(): MaybePromise<Store>;
  /** Runs once after the suite. */
  teardown?(): Promise<void>;
  /** Store call deadline for the limiters (default 500 ms; raise it for a database on a busy machine). */
  timeoutMs?: number;
}

/** The in-process store. */
export const memoryStoreFactory: StoreFactory = {
  name: 'MemoryStore',
  create: () => new MemoryStore(),
};

/**
 * `DynamoDBStore` on the run's DynamoDB Local: one table per suite, a fresh
 * namespace per test.
 */
export function dynamoDBStoreFactory(): StoreFactory {
  let local: DynamoDBLocal | undefined;
  let tableName = '';
  let namespaces = 0;
  return {
    name: 'DynamoDB Local',
    timeoutMs: 5000,
    async setup() {
      local = await useDynamoDBLocal();
      tableName = await createTestTable(local.client, 'adapter-contract');
    },
    create() {
      if (local === undefined) throw new Error('dynamoDBStoreFactory: setup() has not run');
      namespaces += 1;
      return new DynamoDBStore({ tableName, client: local.client, namespace: `adapter-${namespaces}` });
    },
    async teardown() {
      await local?.stop();
    },
  };
}

/** Options of {@link describeAdapterContract}. */
export interface AdapterContractOptions {
  /** Default {@link memoryStoreFactory}. */
  store?: StoreFactory;
}

/**
 * Converts neutral {@link ContractOptions} (minus `onLimited`) into the
 * adapter options of a framework, given how to view its request. Values that
 * are not functions pass through untouched, so option validation still sees them.
 */
export function toAdapterOptions<Req>(
  options: ContractOptions,
  view: (req: Req) => ContractRequest,
): HttpRateLimitOptions<Req> {
  const {
    onLimited: _onLimited,
    entity,
    resource,
    consume,
    skip,
    message,
    requestWasSuccessful,
    ...rest
  } = options;
  const viaView =
    <T>(neutral: (req: ContractRequest) => T) =>
    (req: Req): T =>
      neutral(view(req));
  const adapted: HttpRateLimitOptions<Req> = { ...rest };
  if (entity !== undefined)
    adapted.entity = typeof entity === 'function' ? viaView(entity) : (entity as never);
  if (resource !== undefined)
    adapted.resource = typeof resource === 'function' ? viaView(resource) : resource;
  if (consume !== undefined) adapted.consume = typeof consume === 'function' ? viaView(consume) : consume;
  if (skip !== undefined) adapted.skip = typeof skip === 'function' ? viaView(skip) : (skip as never);
  if (message !== undefined) {
    adapted.message =
      typeof message === 'function'
        ? (req: Req, error: RateLimitExceeded) => message(view(req), error)
        : message;
  }
  if (requestWasSuccessful !== undefined) {
    adapted.requestWasSuccessful =
      typeof requestWasSuccessful === 'function'
        ? (req: Req, res: { readonly statusCode: number }) => requestWasSuccessful(view(req), res)
        : (requestWasSuccessful as never);
  }
  return adapted;
}

/** Starts a request listener on 127.0.0.1 (ephemeral port); `close()` also drops open connections. */
export async function startServer(listener: RequestListener): Promise<ContractApp> {
  const server = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * A Store whose every call fails (`'throw'`) or never answers (`'hang'`). It
 * never claims to be in-process, so the limiter's deadline applies to it.
 */
export function unavailableStore(inner: Store, mode: 'throw' | 'hang'): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'inProcess') return false;
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close' || property === 'stats') return value;
      return mode === 'throw'
        ? () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8000'))
        : () => new Promise<never>(() => {});
    },
  });
}

/**
 * A Store whose lease writes (`adjust`) reach the backend only after
 * `delayMs`, as over a slow network: a settle stays in flight long enough for
 * a racing one to start.
 */
export function slowSettlingStore(inner: Store, delayMs: number): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'inProcess') return false;
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property !== 'adjust') return value.bind(target);
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Logger that records warnings. */
export interface RecordingLogger extends Logger {
  readonly warnings: { message: string; code: unknown }[];
  codes(): unknown[];
}

/** A logger that keeps every warning, for asserting coded warnings. */
export function recordingLogger(): RecordingLogger {
  const warnings: { message: string; code: unknown }[] = [];
  return {
    warnings,
    warn(message, details) {
      warnings.push({ message, code: details?.['code'] });
    },
    codes: () => warnings.map((warning) => warning.code),
  };
}

/**
 * Polls `check` every 10 ms until it returns true; fails after `attempts`
 * polls (for events that settle after the response, such as a lease being
 * refunded after the client went away).
 */
export async function eventually(
  check: () => MaybePromise<boolean>,
  what: string,
  attempts = 300,
): Promise<void> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`Timed out waiting until ${what}`);
}

/** Route behaviour shared by every harness, with hooks the tests observe and drive. */
class RouteLog implements ContractRoutes {
  /** Tokens the SSE route adds with `adjust` after its first event. */
  sseExtraTokens = 5;
  /** Latest state seen by /ok, /fail, /status, /chat; by /hang; by /sse. */
  last: RateLimitState | undefined;
  hung: RateLimitState | undefined;
  streamed: RateLimitState | undefined;
  /** Runs inside GET /status/:code before it answers (a handler settling its own lease). */
  onStatus: ((state: RateLimitState | undefined) => void) | undefined;
  private releaseStream: () => void = () => {};
  private readonly streamGate = new Promise<void>((resolve) => {
    this.releaseStream = resolve;
  });

  ok(state: RateLimitState | undefined): ContractResponse {
    this.last = state;
    return { status: 200, body: { ok: true } };
  }

  fail(state: RateLimitState | undefined): never {
    this.last = state;
    throw new Error('handler failed');
  }

  status(state: RateLimitState | undefined, code: string): ContractResponse {
    this.last = state;
    this.onStatus?.(state);
    return { status: Number(code), body: { status: Number(code) } };
  }

  async chat(state: RateLimitState | undefined, body: unknown): Promise<ContractResponse> {
    this.last = state;
    const tokens = (body as { tokens?: unknown } | undefined)?.tokens;
    const answer = { tokens, text: 'the answer' };
    if (state) {
      const estimate = state.lease.consumed['tpm'] ?? 0;
      await state.lease.adjust({ tpm: (tokens as number) - estimate });
    }
    return { status: 200, body: answer };
  }

  async sse(state: RateLimitState | undefined, write: (chunk: string) => void): Promise<void> {
    this.streamed = state;
    write('data: first\n\n');
    await state?.lease.adjust({ tpm: this.sseExtraTokens });
    await this.streamGate;
    write('data: last\n\n');
  }

  state(state: RateLimitState | undefined): ContractResponse {
    if (!state) return { status: 200, body: { rateLimit: null } };
    return {
      status: 200,
      body: {
        rateLimit: {
          degraded: state.degraded,
          consumed: state.lease.consumed,
          limits: state.statuses.map((status) => status.limit),
        },
      },
    };
  }

  hang(state: RateLimitState | undefined): void {
    this.hung = state;
  }

  finishStream(): void {
    this.releaseStream();
  }
}

/** An open raw HTTP request, for streaming and client-abort cases supertest cannot express. */
interface RawExchange {
  response: Promise<IncomingMessage>;
  destroy(): void;
}

function rawGet(server: Server, path: string, headers: Record<string, string> = {}): RawExchange {
  const { port } = server.address() as AddressInfo;
  const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers });
  req.on('error', () => {});
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  req.end();
  return { response, destroy: () => req.destroy() };
}

/** Reads a response body until `done(text)` holds or the body ends, leaving the stream open. */
function readUntil(response: IncomingMessage, done: (text: string) => boolean): Promise<string> {
  response.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (): void => {
      response.off('data', onData);
      response.off('end', finish);
      response.off('error', reject);
      response.pause();
      resolve(text);
    };
    const onData = (chunk: string): void => {
      text += chunk;
      if (done(text)) finish();
    };
    response.on('data', onData);
    response.once('end', finish);
    response.once('error', reject);
    response.resume();
  });
}

/** A fixed instant in whole seconds, so header values are exact. */
const START_MS = Math.floor(Date.now() / 1000) * 1000;

/**
 * The shared HTTP contract every Tollgate adapter passes: admission at the
 * exact count, headers, `Retry-After`, costs, resources, skip, custom 429s,
 * 400/503/degraded answers, lease commit/refund on every way a request can
 * end (error, 5xx, client abort, streaming), proxies and IPv6 keys, hostile
 * input. Run it once per framework version and store.
 *
 * @example
 * describeAdapterContract(expressHarness(express), { store: memoryStoreFactory });
 */
export function describeAdapterContract(harness: AdapterHarness, options: AdapterContractOptions = {}): void {
  const storeFactory = options.store ?? memoryStoreFactory;

  describe(`${harness.name} adapter contract (${storeFactory.name})`, () => {
    const open: ContractApp[] = [];

    beforeAll(async () => {
      await storeFactory.setup?.();
    });
    afterAll(async () => {
      await storeFactory.teardown?.();
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((app) => app.close()));
    });

    interface Fixture {
      limiter: RateLimiter;
      store: Store;
      clock: { now: number };
      logger: RecordingLogger;
    }

    async function fixture(
      limits: readonly Limit[] = [Limit.perMinute('rpm', 3)],
      limiterOptions: Partial<RateLimiterOptions> = {},
    ): Promise<Fixture> {
      const store = await storeFactory.create();
      const clock = { now: START_MS };
      const logger = recordingLogger();
      const limiter = new RateLimiter({
        store,
        limits,
        clock: () => clock.now,
        logger,
        ...(storeFactory.timeoutMs === undefined ? {} : { timeoutMs: storeFactory.timeoutMs }),
        ...limiterOptions,
      });
      return { limiter, store, clock, logger };
    }

    async function app(
      adapterOptions: ContractOptions,
      trustProxy = false,
    ): Promise<{ server: Server; routes: RouteLog }> {
      const routes = new RouteLog();
      const started = await harness.createApp({ options: adapterOptions, routes, trustProxy });
      open.push(started);
      return { server: started.server, routes };
    }

    const apiKey = (req: ContractRequest) => req.header('x-api-key') as string;

    /**
     * Waits until a lease is settled: the adapter claimed it (`isClosed`) and
     * its write is done (`release()` resolves with the settle under way).
     */
    const settledLease = async (lease: () => Lease | undefined, what: string) => {
      await eventually(() => lease()?.isClosed === true, what);
      await lease()?.release();
    };

    /** Waits until the lease of the last /ok, /fail, /status or /chat request is settled. */
    const settled = (routes: RouteLog) =>
      settledLease(() => routes.last?.lease, 'the request settles its lease');

    describe('admission and headers', () => {
      it('admits up to the limit and answers 429 with Retry-After and the JSON body at the exact count', async () => {
        const { limiter, logger } = await fixture();
        const { server } = await app({ limiter, logger });
        for (let i = 0; i < 3; i += 1) await request(server).get('/ok').expect(200, { ok: true });
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.headers['retry-after']).toBe('20');
        expect(limited.headers['content-type']).toMatch(/application\/json/);
        expect(limited.body).toMatchObject({
          error: 'rate_limit_exceeded',
          message: 'Rate limit exceeded (rpm); retry in 20000 ms',
          retryAfterMs: 20_000,
          limits: [
            { scope: 'self', depth: 0, resource: 'default', limit: 'rpm', exceeded: true, available: 0 },
          ],
        });
        expect(limited.body.limits[0]).not.toHaveProperty('entity');
      });

      it('sends exact draft-8 RateLimit and RateLimit-Policy headers on allowed and limited responses', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter });
        const first = await request(server).get('/ok').expect(200);
        expect(first.headers['ratelimit-policy']).toBe('"rpm";q=3;w=60');
        expect(first.headers['ratelimit']).toBe('"rpm";r=2;t=20');
        await request(server).get('/ok').expect(200);
        const third = await request(server).get('/ok').expect(200);
        expect(third.headers['ratelimit']).toBe('"rpm";r=0;t=60');
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.headers['ratelimit-policy']).toBe('"rpm";q=3;w=60');
        expect(limited.headers['ratelimit']).toBe('"rpm";r=0;t=60');
        expect(limited.headers['ratelimit-limit']).toBeUndefined();
        expect(limited.headers['x-ratelimit-limit']).toBeUndefined();
      });

      it('names one policy per limit when several limits apply', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10), Limit.perHour('rph', 100)]);
        const { server } = await app({ limiter });
        const response = await request(server).get('/ok').expect(200);
        expect(response.headers['ratelimit-policy']).toBe('"rpm";q=10;w=60, "rph";q=100;w=3600');
        expect(response.headers['ratelimit']).toBe('"rpm";r=9;t=6, "rph";r=99;t=36');
      });

      it('sets Retry-After to the exact wait rounded up to whole seconds', async () => {
        const { limiter, clock } = await fixture();
        const { server } = await app({ limiter });
        for (let i = 0; i < 3; i += 1) await request(server).get('/ok').expect(200);
        clock.now += 5_500;
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.body.retryAfterMs).toBe(14_500);
        expect(limited.headers['retry-after']).toBe('15');
        clock.now += 14_499;
        const almost = await request(server).get('/ok').expect(429);
        expect(almost.body.retryAfterMs).toBe(1);
        expect(almost.headers['retry-after']).toBe('1');
        clock.now += 1;
        await request(server).get('/ok').expect(200);
      });

      it('sends draft-6 RateLimit-Limit/Remaining/Reset headers when asked', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, headers: 'draft-6' });
        const response = await request(server).get('/ok').expect(200);
        expect(response.headers['ratelimit-limit']).toBe('3');
        expect(response.headers['ratelimit-remaining']).toBe('2');
        expect(response.headers['ratelimit-reset']).toBe('20');
        expect(response.headers['ratelimit-policy']).toBe('3;w=60');
        expect(response.headers['ratelimit']).toBeUndefined();
      });

      it('adds legacy X-RateLimit headers on request, with the reset in epoch seconds', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, legacyHeaders: true });
        const before = Math.ceil((Date.now() + 20_000) / 1000);
        const response = await request(server).get('/ok').expect(200);
        const after = Math.ceil((Date.now() + 20_000) / 1000);
        expect(response.headers['x-ratelimit-limit']).toBe('3');
        expect(response.headers['x-ratelimit-remaining']).toBe('2');
        const reset = Number(response.headers['x-ratelimit-reset']);
        expect(reset).toBeGreaterThanOrEqual(before);
        expect(reset).toBeLessThanOrEqual(after);
        expect(response.headers['ratelimit']).toBe('"rpm";r=2;t=20');
      });

      it('sends no rate-limit headers with headers: false', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, headers: false });
        const response = await request(server).get('/ok').expect(200);
        expect(Object.keys(response.headers).filter((name) => name.includes('ratelimit'))).toEqual([]);
      });

      it('exposes the lease and statuses to the handler', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10), Limit.perMinute('tpm', 1000)]);
        const { server } = await app({ limiter, consume: { rpm: 1, tpm: 40 } });
        const response = await request(server).get('/state').expect(200);
        expect(response.body).toEqual({
          rateLimit: { degraded: false, consumed: { rpm: 1, tpm: 40 }, limits: ['rpm', 'tpm'] },
        });
      });
    });

    describe('what is charged', () => {
      it('charges the cost computed from the request', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10)]);
        const { server } = await app({
          limiter,
          entity: apiKey,
          consume: (req) => ({ rpm: Number(req.header('x-cost')) }),
        });
        await request(server).get('/ok').set({ 'x-api-key': 'k1', 'x-cost': '4' }).expect(200);
        expect(await limiter.available({ entity: 'k1' })).toEqual({ rpm: 6 });
        await request(server).get('/ok').set({ 'x-api-key': 'k1', 'x-cost': '7' }).expect(429);
        await request(server).get('/ok').set({ 'x-api-key': 'k1', 'x-cost': '6' }).expect(200);
        expect(await limiter.available({ entity: 'k1' })).toEqual({ rpm: 0 });
      });

      it('keeps a separate budget per resource chosen from the route', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 2)]);
        const { server } = await app({
          limiter,
          entity: apiKey,
          resource: (req) => (req.path === '/ok' ? 'ok-route' : 'other-route'),
        });
        await request(server).get('/ok').set('x-api-key', 'k').expect(200);
        await request(server).get('/ok').set('x-api-key', 'k').expect(200);
        await request(server).get('/ok').set('x-api-key', 'k').expect(429);
        await request(server).get('/status/200').set('x-api-key', 'k').expect(200);
        expect(await limiter.available({ entity: 'k', resource: 'ok-route' })).toEqual({ rpm: 0 });
        expect(await limiter.available({ entity: 'k', resource: 'other-route' })).toEqual({ rpm: 1 });
      });

      it('uses a fixed resource name', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, entity: apiKey, resource: 'search' });
        await request(server).get('/ok').set('x-api-key', 'k').expect(200);
        expect(await limiter.available({ entity: 'k', resource: 'search' })).toEqual({ rpm: 2 });
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 3 });
      });

      it('neither limits nor charges skipped requests', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          entity: apiKey,
          skip: (req) => req.header('x-skip') === 'yes',
        });
        await request(server).get('/ok').set('x-api-key', 'k').expect(200);
        await request(server).get('/ok').set('x-api-key', 'k').expect(429);
        const skipped = await request(server).get('/state').set({ 'x-api-key': 'k', 'x-skip': 'yes' });
        expect(skipped.status).toBe(200);
        expect(skipped.body).toEqual({ rateLimit: null });
        expect(skipped.headers['ratelimit']).toBeUndefined();
      });

      it('keys clients by IP address by default', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter });
        await request(server).get('/ok').expect(200);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 2 });
      });

      it('keys IPv6 clients behind a trusted proxy by /56 subnet and IPv4-mapped clients as IPv4', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter }, true);
        const via = (address: string) => request(server).get('/ok').set('x-forwarded-for', address);
        await via('2001:db8:abcd:1201::1').expect(200);
        await via('2001:db8:abcd:12ff:ffff::2').expect(200);
        await via('2001:db8:abcd:1300::1').expect(200);
        await via('::ffff:203.0.113.9').expect(200);
        expect(await limiter.available({ entity: '2001:db8:abcd:1200::/56' })).toEqual({ rpm: 1 });
        expect(await limiter.available({ entity: '2001:db8:abcd:1300::/56' })).toEqual({ rpm: 2 });
        expect(await limiter.available({ entity: '203.0.113.9' })).toEqual({ rpm: 2 });
      });
    });

    describe('custom 429', () => {
      it('lets onLimited answer a limited request, after the rate-limit headers are set', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          onLimited: (error, req) => ({
            status: 429,
            body: { slowDown: true, waitMs: error.retryAfterMs, path: req.path },
            headers: { 'x-custom-limited': 'yes' },
          }),
        });
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.body).toEqual({ slowDown: true, waitMs: 60_000, path: '/ok' });
        expect(limited.headers['x-custom-limited']).toBe('yes');
        expect(limited.headers['retry-after']).toBe('60');
        expect(limited.headers['ratelimit']).toBe('"rpm";r=0;t=60');
      });
    });

    describe('limited response options (statusCode, message)', () => {
      it('answers with statusCode and a JSON message, keeping Retry-After and the rate-limit headers', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({ limiter, statusCode: 503, message: { error: 'slow_down' } });
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').expect(503);
        expect(limited.headers['content-type']).toMatch(/application\/json/);
        expect(limited.body).toEqual({ error: 'slow_down' });
        expect(limited.headers['retry-after']).toBe('60');
        expect(limited.headers['ratelimit']).toBe('"rpm";r=0;t=60');
      });

      it('sends a string message as text, never as HTML, even when built from the request', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          entity: () => 'k',
          message: (req) => `<b>No more for ${req.header('x-user')}</b>`,
        });
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').set('x-user', '<script>x</script>').expect(429);
        const text = '<b>No more for <script>x</script></b>';
        if (harness.stringMessages === 'status-envelope') {
          expect(limited.headers['content-type']).toMatch(/application\/json/);
          expect(limited.body).toEqual({ statusCode: 429, message: text });
        } else {
          expect(limited.headers['content-type']).toMatch(/^text\/plain/);
          expect(limited.text).toBe(text);
        }
      });

      it('builds the message from the request and the error, awaiting a promise', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          message: async (req, error) => ({ path: req.path, waitMs: error.retryAfterMs }),
        });
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.body).toEqual({ path: '/ok', waitMs: 60_000 });
      });

      it('lets onLimited answer instead of message', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          statusCode: 403,
          message: 'not sent',
          onLimited: (error) => ({ status: 403, body: { custom: true, waitMs: error.retryAfterMs } }),
        });
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').expect(403);
        expect(limited.body).toEqual({ custom: true, waitMs: 60_000 });
      });

      it('answers 500 when the message function fails, still charging nothing', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 1)]);
        const { server } = await app({
          limiter,
          message: () => {
            throw new Error('template missing');
          },
        });
        await request(server).get('/ok').expect(200);
        await request(server).get('/ok').expect(500);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 0 });
      });

      it('keeps the coded 400 and 503 bodies whatever the message', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, statusCode: 403, message: 'Too many', entity: apiKey });
        const response = await request(server).get('/ok').expect(400);
        expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_KEY' });
      });

      it('sends draft-7 headers: combined RateLimit of the tightest limit, every policy listed', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, headers: 'draft-7' });
        const first = await request(server).get('/ok').expect(200);
        expect(first.headers['ratelimit-policy']).toBe('3;w=60');
        expect(first.headers['ratelimit']).toBe('limit=3, remaining=2, reset=20');
        await request(server).get('/ok').expect(200);
        await request(server).get('/ok').expect(200);
        const limited = await request(server).get('/ok').expect(429);
        expect(limited.headers['ratelimit']).toBe('limit=3, remaining=0, reset=60');
        expect(limited.headers['ratelimit-limit']).toBeUndefined();
        const several = await fixture([Limit.perMinute('rpm', 10), Limit.perHour('rph', 100)]);
        const { server: other } = await app({ limiter: several.limiter, headers: 'draft-7' });
        const response = await request(other).get('/ok').expect(200);
        expect(response.headers['ratelimit-policy']).toBe('10;w=60, 100;w=3600');
        expect(response.headers['ratelimit']).toBe('limit=10, remaining=9, reset=6');
      });
    });

    describe('skipSuccessfulRequests / skipFailedRequests', () => {
      /** Sends `path`, waits for its lease to settle, and returns what `rpm` has left for the client. */
      const after = async (server: Server, routes: RouteLog, limiter: RateLimiter, path: string) => {
        await request(server).get(path);
        await settled(routes);
        return (await limiter.available({ entity: '127.0.0.1' }))['rpm'];
      };

      it('refunds successful requests with skipSuccessfulRequests, so only failures count', async () => {
        const { limiter } = await fixture();
        const { server, routes } = await app({ limiter, skipSuccessfulRequests: true });
        for (const path of ['/status/200', '/status/201', '/status/302', '/status/200'])
          expect(await after(server, routes, limiter, path)).toBe(3);
        expect(await after(server, routes, limiter, '/status/401')).toBe(2);
        expect(await after(server, routes, limiter, '/status/404')).toBe(1);
        expect(await after(server, routes, limiter, '/status/403')).toBe(0);
        await request(server).get('/status/200').expect(429);
      });

      it('refunds 4xx, 5xx, thrown and abandoned requests with skipFailedRequests, even without rollbacks', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10)]);
        const { server, routes } = await app({
          limiter,
          skipFailedRequests: true,
          rollbackOnError: false,
          rollbackOnAbort: false,
        });
        for (const path of ['/status/404', '/status/429', '/status/500', '/fail'])
          expect(await after(server, routes, limiter, path)).toBe(10);
        const { response, destroy } = rawGet(server, '/hang');
        void response.catch(() => {});
        await eventually(() => routes.hung !== undefined, 'the hanging request is admitted');
        destroy();
        await settledLease(() => routes.hung?.lease, 'the abandoned request settles');
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 10 });
        expect(await after(server, routes, limiter, '/ok')).toBe(9);
      });

      it('asks requestWasSuccessful, awaiting it, with the request and the final status', async () => {
        const { limiter } = await fixture();
        const seen: [string, number][] = [];
        const { server, routes } = await app({
          limiter,
          skipSuccessfulRequests: true,
          requestWasSuccessful: async (req, res) => {
            seen.push([req.path, res.statusCode]);
            return res.statusCode < 400 || res.statusCode === 404;
          },
        });
        expect(await after(server, routes, limiter, '/status/404')).toBe(3);
        expect(await after(server, routes, limiter, '/status/403')).toBe(2);
        expect(seen).toEqual([
          ['/status/404', 404],
          ['/status/403', 403],
        ]);
      });

      it('keeps the charge and warns once when requestWasSuccessful throws', async () => {
        const { limiter, logger } = await fixture();
        const { server, routes } = await app({
          limiter,
          logger,
          skipSuccessfulRequests: true,
          requestWasSuccessful: () => {
            throw new Error('bad check');
          },
        });
        expect(await after(server, routes, limiter, '/ok')).toBe(2);
        expect(await after(server, routes, limiter, '/ok')).toBe(1);
        expect(logger.codes().filter((code) => code === 'WARN_TOLLGATE_SUCCESS_CHECK_FAILED')).toHaveLength(
          1,
        );
      });

      it('settles once when the handler settles its own lease under the skip options', async () => {
        const { store, clock, logger } = await fixture();
        const limiter = new RateLimiter({
          store: slowSettlingStore(store, 50),
          limits: [Limit.perMinute('rpm', 3)],
          clock: () => clock.now,
          logger,
          ...(storeFactory.timeoutMs === undefined ? {} : { timeoutMs: storeFactory.timeoutMs }),
        });
        const { server, routes } = await app({
          limiter,
          logger,
          skipFailedRequests: true,
          skipSuccessfulRequests: true,
        });
        // One request holds a token the whole time: a second refund would give it back too.
        const held = rawGet(server, '/hang');
        void held.response.catch(() => {});
        await eventually(() => routes.hung !== undefined, 'the hanging request is admitted');
        routes.onStatus = (state) => void state?.lease.rollback();
        await request(server).get('/status/404').expect(404);
        await settled(routes);
        // A handler that commits keeps its charge although the request would count as skipped.
        routes.onStatus = (state) => void state?.lease.commit();
        await request(server).get('/status/200').expect(200);
        await settled(routes);
        await limiter.close();
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 1 });
        expect(logger.warnings).toEqual([]);
        held.destroy();
      });
    });

    describe('unusable input (400, nothing consumed)', () => {
      it('answers 400 for a negative cost', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, consume: () => ({ rpm: -1 }) });
        const response = await request(server).get('/ok').expect(400);
        expect(response.body).toMatchObject({ error: 'invalid_request', code: 'ERR_TOLLGATE_INVALID_COST' });
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });

      it('answers 400 for a cost naming an unknown limit, and warns at startup', async () => {
        const { limiter, logger } = await fixture();
        const { server } = await app({ limiter, logger, consume: { rpm: 1, nope: 1 } });
        expect(logger.codes()).toContain('WARN_TOLLGATE_UNKNOWN_LIMIT');
        const response = await request(server).get('/ok').expect(400);
        expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_UNKNOWN_LIMIT', field: 'consume.nope' });
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });

      it('answers 400 for a cost above the capacity, which could never pass', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, consume: { rpm: 4 } });
        const response = await request(server).get('/ok').expect(400);
        expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY' });
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });

      it('answers 400 for a non-numeric or fractional estimate in the body', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10), Limit.perMinute('tpm', 1000)]);
        const { server } = await app({
          limiter,
          entity: apiKey,
          consume: (req) => ({ rpm: 1, tpm: (req.body as { estimate: number }).estimate }),
        });
        for (const estimate of ['500', 'lots', 1.5, null, { $gt: 0 }, [1]]) {
          const response = await request(server)
            .post('/chat')
            .set('x-api-key', 'k')
            .send({ estimate, tokens: 10 })
            .expect(400);
          expect(response.body).toMatchObject({
            error: 'invalid_request',
            code: 'ERR_TOLLGATE_INVALID_COST',
          });
        }
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 10, tpm: 1000 });
      });

      it('answers 400 when the API key is absent or empty', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, entity: apiKey });
        for (const headers of [{}, { 'x-api-key': '' }]) {
          const response = await request(server).get('/ok').set(headers).expect(400);
          expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_KEY', field: 'entity' });
        }
        await request(server).get('/ok').set('x-api-key', 'k'.repeat(256)).expect(200);
      });

      it('limits a key longer than 256 characters (a JWT) by its hash instead of refusing it', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, entity: apiKey });
        const jwt = `eyJhbGciOiJIUzI1NiJ9.${'eyJzdWIiOiJ1c2VyLTQyIn0'.repeat(20)}.c2lnbmF0dXJl`;
        for (let i = 0; i < 3; i += 1) await request(server).get('/ok').set('x-api-key', jwt).expect(200);
        const limited = await request(server).get('/ok').set('x-api-key', jwt).expect(429);
        expect(limited.text).not.toContain('eyJzdWIi');
        expect(JSON.stringify(limited.headers)).not.toContain('eyJzdWIi');
        // Another long key is another bucket; the same key is the same bucket for the limiter too.
        await request(server).get('/ok').set('x-api-key', `${jwt}x`).expect(200);
        expect(await limiter.available({ entity: jwt })).toEqual({ rpm: 0 });
        const huge = 'x'.repeat(12_000);
        await request(server).get('/ok').set('x-api-key', huge).expect(200);
        expect(await limiter.available({ entity: huge })).toEqual({ rpm: 2 });
      });

      it("answers 400 for a key longer than 256 characters with longKeys: 'reject'", async () => {
        const { limiter } = await fixture(undefined, { longKeys: 'reject' });
        const { server } = await app({ limiter, entity: apiKey });
        for (const key of ['k'.repeat(257), 'x'.repeat(12_000)]) {
          const response = await request(server).get('/ok').set('x-api-key', key).expect(400);
          expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_INVALID_KEY', field: 'entity' });
        }
        await request(server).get('/ok').set('x-api-key', 'k'.repeat(256)).expect(200);
      });

      it('treats keys with delimiters and odd characters as distinct, exact ids', async () => {
        const { limiter } = await fixture();
        const { server } = await app({ limiter, entity: apiKey });
        const odd = ['k#1', 'k', 'k#', '#1', 'k|1/../é', ' k '];
        for (const key of odd) await request(server).get('/ok').set('x-api-key', key).expect(200);
        await request(server).get('/ok').set('x-api-key', 'k#1').expect(200);
        expect(await limiter.available({ entity: 'k#1' })).toEqual({ rpm: 1 });
        for (const key of odd.slice(1)) {
          const expected = key === ' k ' ? 'k' : key;
          expect(await limiter.available({ entity: expected })).toEqual({ rpm: expected === 'k' ? 1 : 2 });
        }
      });

      it('rejects invalid options when the middleware is built, not per request', async () => {
        const { limiter } = await fixture();
        const routes = new RouteLog();
        const build = async (options: ContractOptions) => {
          const started = await harness.createApp({ options, routes, trustProxy: false });
          open.push(started);
        };
        await expect(build({ limiter: {} as RateLimiter })).rejects.toMatchObject({
          code: 'ERR_TOLLGATE_INVALID_OPTION',
        });
        await expect(build({ limiter, headers: 'draft-9' as HeaderStandard })).rejects.toMatchObject({
          code: 'ERR_TOLLGATE_INVALID_OPTION',
        });
        await expect(build({ limiter, consume: 5 as unknown as Consumption })).rejects.toMatchObject({
          code: 'ERR_TOLLGATE_INVALID_OPTION',
        });
        for (const [bad, field] of [
          [{ statusCode: 200 }, 'statusCode'],
          [{ message: 42 }, 'message'],
          [{ skipFailedRequests: 'yes' }, 'skipFailedRequests'],
          [{ requestWasSuccessful: true }, 'requestWasSuccessful'],
        ] as const) {
          await expect(build({ limiter, ...(bad as object) })).rejects.toMatchObject({
            code: 'ERR_TOLLGATE_INVALID_OPTION',
            field,
          });
        }
      });

      it('refuses option names it does not know, with the Tollgate equivalent of foreign ones', async () => {
        const { limiter } = await fixture();
        const routes = new RouteLog();
        const build = async (options: object) => {
          const started = await harness.createApp({
            options: options as ContractOptions,
            routes,
            trustProxy: false,
          });
          open.push(started);
        };
        const erl = build({ limiter, windowMs: 60_000, max: 5 });
        await expect(erl).rejects.toMatchObject({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'windowMs' });
        await expect(erl).rejects.toThrow(/`max`: a limit carries its own rate/);
        const throttler = build({ limiter, ttl: 60_000, limit: 10 });
        await expect(throttler).rejects.toMatchObject({ field: 'ttl' });
        await expect(throttler).rejects.toThrow(/`limits` takes Limit objects/);
        await expect(build({ limiter, keyGenerator: () => 'k' })).rejects.toThrow(/use `entity/);
        await expect(build({ limiter, rollbackOnErorr: false })).rejects.toThrow(
          /did you mean `rollbackOnError`/,
        );
      });

      it('passes an error thrown by the entity function to the framework, charging nothing', async () => {
        const { limiter } = await fixture();
        const { server } = await app({
          limiter,
          entity: () => {
            throw new Error('key lookup failed');
          },
        });
        await request(server).get('/ok').expect(500);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });
    });

    describe('what a response reveals', () => {
      const orgId = 'org-internal-7731';
      const childKey = 'sk-live-child-4f9a';

      /** A key cascading into an organisation whose own limit (2/min) is tighter than the key's (10/min). */
      async function cascadeFixture(limiterOptions: Partial<RateLimiterOptions> = {}): Promise<Fixture> {
        const fixed = await fixture([Limit.perMinute('rpm', 10)], limiterOptions);
        await fixed.limiter.createEntity({ id: orgId });
        await fixed.limiter.setLimits({ entity: orgId }, [Limit.perMinute('rpm', 2)]);
        await fixed.limiter.createEntity({ id: childKey, parent: orgId, cascade: true });
        return fixed;
      }

      const headerText = (headers: Record<string, unknown>): string => JSON.stringify(headers);

      it("names neither the parent's id nor the caller's key when the parent's limit refuses", async () => {
        const { limiter } = await cascadeFixture();
        const { server } = await app({ limiter, entity: apiKey, legacyHeaders: true });
        for (let i = 0; i < 2; i += 1)
          await request(server).get('/ok').set('x-api-key', childKey).expect(200);
        const limited = await request(server).get('/ok').set('x-api-key', childKey).expect(429);
        expect(limited.body).toEqual({
          error: 'rate_limit_exceeded',
          message: 'Rate limit exceeded (parent.rpm); retry in 30000 ms',
          retryAfterMs: 30_000,
          limits: [
            expect.objectContaining({ scope: 'self', depth: 0, limit: 'rpm', exceeded: false, available: 8 }),
            expect.objectContaining({
              scope: 'parent',
              depth: 1,
              limit: 'rpm',
              exceeded: true,
              available: 0,
            }),
          ],
        });
        for (const limit of limited.body.limits) expect(limit).not.toHaveProperty('entity');
        expect(limited.headers['ratelimit-policy']).toBe('"rpm";q=10;w=60, "parent.rpm";q=2;w=60');
        for (const secret of [orgId, childKey]) {
          expect(limited.text).not.toContain(secret);
          expect(headerText(limited.headers)).not.toContain(secret);
        }
      });

      it('names the entities in the 429 body with exposeEntities: true, never in headers', async () => {
        const { limiter } = await cascadeFixture();
        const { server } = await app({ limiter, entity: apiKey, exposeEntities: true });
        for (let i = 0; i < 2; i += 1)
          await request(server).get('/ok').set('x-api-key', childKey).expect(200);
        const limited = await request(server).get('/ok').set('x-api-key', childKey).expect(429);
        expect(limited.body.limits).toEqual([
          expect.objectContaining({ scope: 'self', entity: childKey, limit: 'rpm', exceeded: false }),
          expect.objectContaining({ scope: 'parent', entity: orgId, limit: 'rpm', exceeded: true }),
        ]);
        expect(limited.body.message).toContain(orgId);
        for (const secret of [orgId, childKey]) expect(headerText(limited.headers)).not.toContain(secret);
      });

      it("does not echo a rejected key or an ancestor's id in a 400 body", async () => {
        const { limiter } = await cascadeFixture({ longKeys: 'reject' });
        const { server } = await app({
          limiter,
          entity: apiKey,
          consume: (req) => ({ rpm: Number(req.header('x-cost') ?? 1) }),
        });
        const tooLong = `sk-live-${'q'.repeat(300)}`;
        const badKey = await request(server).get('/ok').set('x-api-key', tooLong).expect(400);
        expect(badKey.body).toEqual({
          error: 'invalid_request',
          code: 'ERR_TOLLGATE_INVALID_KEY',
          field: 'entity',
          message: 'The `entity` key is missing, empty, too long or malformed',
        });
        expect(badKey.text).not.toContain('sk-live-');
        expect(badKey.text).not.toContain('qqqq');
        // 5 fits the key's capacity (10) but never its parent's (2).
        const tooDear = await request(server)
          .get('/ok')
          .set({ 'x-api-key': childKey, 'x-cost': '5' })
          .expect(400);
        expect(tooDear.body).toMatchObject({
          code: 'ERR_TOLLGATE_COST_EXCEEDS_CAPACITY',
          field: 'consume.rpm',
        });
        for (const secret of [orgId, childKey]) {
          expect(tooDear.text).not.toContain(secret);
          expect(headerText(tooDear.headers)).not.toContain(secret);
        }
        // Nothing charged: the tighter of the key's 10 and its parent's 2 is still whole.
        expect(await limiter.available({ entity: childKey })).toEqual({ rpm: 2 });
      });
    });

    describe('store failures', () => {
      it("answers 503 with Retry-After when the store fails under 'block'", async () => {
        const base = await fixture();
        const limiter = new RateLimiter({
          store: unavailableStore(base.store, 'throw'),
          limits: [Limit.perMinute('rpm', 3)],
          logger: base.logger,
        });
        const { server } = await app({ limiter });
        const response = await request(server).get('/ok').expect(503);
        expect(response.headers['retry-after']).toBe('1');
        expect(response.body).toMatchObject({
          error: 'rate_limiter_unavailable',
          code: 'ERR_TOLLGATE_UNAVAILABLE',
        });
      });

      it("answers 503 when the store does not answer within timeoutMs under 'block'", async () => {
        const base = await fixture();
        const limiter = new RateLimiter({
          store: unavailableStore(base.store, 'hang'),
          limits: [Limit.perMinute('rpm', 3)],
          timeoutMs: 30,
          logger: base.logger,
        });
        const { server } = await app({ limiter });
        const response = await request(server).get('/ok').expect(503);
        expect(response.body).toMatchObject({ code: 'ERR_TOLLGATE_UNAVAILABLE' });
      });

      it("lets requests through marked degraded under 'allow', warning once", async () => {
        const base = await fixture();
        const limiter = new RateLimiter({
          store: unavailableStore(base.store, 'hang'),
          limits: [Limit.perMinute('rpm', 1)],
          timeoutMs: 30,
          onUnavailable: 'allow',
          logger: base.logger,
        });
        const { server } = await app({ limiter, logger: base.logger });
        for (let i = 0; i < 2; i += 1) {
          const response = await request(server).get('/state').expect(200);
          expect(response.body).toEqual({ rateLimit: { degraded: true, consumed: {}, limits: [] } });
          expect(response.headers['ratelimit']).toBeUndefined();
        }
        await request(server).post('/chat').send({ tokens: 50 }).expect(200);
        expect(base.logger.codes().filter((code) => code === 'WARN_TOLLGATE_DEGRADED')).toHaveLength(1);
      });
    });

    describe('lease settlement', () => {
      it('refunds the charge when the handler throws', async () => {
        const { limiter } = await fixture();
        const { server, routes } = await app({ limiter });
        await request(server).get('/fail').expect(500);
        await settled(routes);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });

      it('refunds the charge when the handler answers 5xx, and keeps it for 2xx and 4xx', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 10)]);
        const { server, routes } = await app({ limiter });
        const expected: [string, number][] = [
          ['503', 10],
          ['500', 10],
          ['404', 9],
          ['201', 8],
        ];
        for (const [code, left] of expected) {
          await request(server).get(`/status/${code}`).expect(Number(code));
          await settled(routes);
          expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: left });
        }
      });

      it('keeps the charge of a failed request with rollbackOnError: false', async () => {
        const { limiter } = await fixture();
        const { server, routes } = await app({ limiter, rollbackOnError: false });
        await request(server).get('/status/500').expect(500);
        await settled(routes);
        await request(server).get('/fail').expect(500);
        await settled(routes);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 1 });
      });

      it('charges the real token count adjusted after the answer is computed', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 10_000)]);
        const { server, routes } = await app({
          limiter,
          entity: apiKey,
          resource: 'chat',
          consume: (req) => ({ rpm: 1, tpm: (req.body as { estimate: number }).estimate }),
        });
        const chat = (body: object) => request(server).post('/chat').set('x-api-key', 'k').send(body);
        const answer = await chat({ estimate: 500, tokens: 742 }).expect(200);
        expect(answer.body).toEqual({ tokens: 742, text: 'the answer' });
        await settled(routes);
        expect(await limiter.available({ entity: 'k', resource: 'chat' })).toEqual({ rpm: 99, tpm: 9258 });
        await chat({ estimate: 500, tokens: 120 }).expect(200);
        await settled(routes);
        expect(await limiter.available({ entity: 'k', resource: 'chat' })).toEqual({ rpm: 98, tpm: 9138 });
      });

      it('lets an adjust take the bucket into debt, limiting the next request', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 1000)]);
        const { server, routes } = await app({
          limiter,
          entity: apiKey,
          consume: (req) => ({ rpm: 1, tpm: (req.body as { estimate: number }).estimate }),
        });
        await request(server)
          .post('/chat')
          .set('x-api-key', 'k')
          .send({ estimate: 100, tokens: 1500 })
          .expect(200);
        await settled(routes);
        const limited = await request(server)
          .post('/chat')
          .set('x-api-key', 'k')
          .send({ estimate: 1, tokens: 1 });
        expect(limited.status).toBe(429);
        expect(limited.body.retryAfterMs).toBe(30_060);
      });

      it('refunds the estimate when the handler cannot account a non-numeric token count', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 1000)]);
        const { server, routes } = await app({ limiter, entity: apiKey, consume: { rpm: 1, tpm: 100 } });
        for (const tokens of ['many', 1e20, -5]) {
          await request(server).post('/chat').set('x-api-key', 'k').send({ tokens }).expect(500);
          await settled(routes);
        }
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 100, tpm: 1000 });
      });

      it('keeps a streamed response open and charges its adjust when the stream ends, not before', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 1000)]);
        const { server, routes } = await app({ limiter, entity: apiKey, consume: { rpm: 1, tpm: 10 } });
        routes.sseExtraTokens = 25;
        const exchange = rawGet(server, '/sse', { 'x-api-key': 'k' });
        const response = await exchange.response;
        expect(response.statusCode).toBe(200);
        expect(response.headers['content-type']).toMatch(/text\/event-stream/);
        expect(response.headers['ratelimit']).toBe('"rpm";r=99;t=1, "tpm";r=990;t=1');
        let text = await readUntil(response, (body) => body.includes('data: first'));
        await eventually(() => routes.streamed?.lease.consumed['tpm'] === 35, 'the stream adjusts its lease');
        expect(routes.streamed?.lease.isClosed).toBe(false);
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 99, tpm: 990 });
        routes.finishStream();
        text += await readUntil(response, () => false);
        expect(text).toBe('data: first\n\ndata: last\n\n');
        await settledLease(() => routes.streamed?.lease, 'the stream settles');
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 99, tpm: 965 });
      });

      it('refunds a request whose client disconnects before the response', async () => {
        const { limiter } = await fixture();
        const { server, routes } = await app({ limiter });
        const { response, destroy } = rawGet(server, '/hang');
        void response.catch(() => {});
        await eventually(() => routes.hung !== undefined, 'the hanging request is admitted');
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 2 });
        destroy();
        await settledLease(() => routes.hung?.lease, 'the aborted request is settled');
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 3 });
      });

      it('refunds a stream the client abandons midway', async () => {
        const { limiter } = await fixture([Limit.perMinute('rpm', 100), Limit.perMinute('tpm', 1000)]);
        const { server, routes } = await app({ limiter, entity: apiKey, consume: { rpm: 1, tpm: 10 } });
        const exchange = rawGet(server, '/sse', { 'x-api-key': 'k' });
        await readUntil(await exchange.response, (body) => body.includes('data: first'));
        exchange.destroy();
        await settledLease(() => routes.streamed?.lease, 'the abandoned stream settles');
        routes.finishStream();
        expect(await limiter.available({ entity: 'k' })).toEqual({ rpm: 100, tpm: 1000 });
      });

      it('settles once when the handler rolls its lease back itself and answers 500', async () => {
        const { store, clock } = await fixture();
        const limiter = new RateLimiter({
          store: slowSettlingStore(store, 50),
          limits: [Limit.perMinute('rpm', 3)],
          clock: () => clock.now,
          ...(storeFactory.timeoutMs === undefined ? {} : { timeoutMs: storeFactory.timeoutMs }),
        });
        const { server, routes } = await app({ limiter });
        // One request holds a token the whole time: a second refund would give it back too.
        const held = rawGet(server, '/hang');
        void held.response.catch(() => {});
        await eventually(() => routes.hung !== undefined, 'the hanging request is admitted');
        routes.onStatus = (state) => void state?.lease.rollback();
        await request(server).get('/status/500').expect(500);
        await settled(routes);
        await limiter.close();
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 2 });
        held.destroy();
      });

      it('commits a completed request exactly once, without settle warnings', async () => {
        const { limiter, logger } = await fixture([Limit.perMinute('rpm', 3), Limit.perMinute('tpm', 1000)]);
        const { server, routes } = await app({ limiter, logger });
        await request(server).get('/ok').expect(200);
        const stream = rawGet(server, '/sse');
        routes.finishStream();
        await readUntil(await stream.response, () => false);
        await settledLease(() => routes.streamed?.lease, 'the stream settles');
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 1, tpm: 993 });
        expect(logger.warnings).toEqual([]);
      });
    });

    describe('proxy warnings', () => {
      it('warns once when X-Forwarded-For arrives but the app does not trust proxies', async () => {
        const { limiter, logger } = await fixture([Limit.perMinute('rpm', 10)]);
        const { server } = await app({ limiter, logger });
        await request(server).get('/ok').set('x-forwarded-for', '198.51.100.7').expect(200);
        await request(server).get('/ok').set('x-forwarded-for', '198.51.100.8').expect(200);
        expect(logger.codes().filter((code) => code === 'WARN_TOLLGATE_PROXY')).toHaveLength(1);
        expect(await limiter.available({ entity: '127.0.0.1' })).toEqual({ rpm: 8 });
      });

      it('stays quiet when the app trusts the proxy, keying by the forwarded address', async () => {
        const { limiter, logger } = await fixture();
        const { server } = await app({ limiter, logger }, true);
        await request(server).get('/ok').set('x-forwarded-for', '198.51.100.7').expect(200);
        expect(logger.warnings).toEqual([]);
        expect(await limiter.available({ entity: '198.51.100.7' })).toEqual({ rpm: 2 });
      });

      it('stays quiet when an entity function decides the key', async () => {
        const { limiter, logger } = await fixture();
        const { server } = await app({ limiter, logger, entity: () => 'key-1' });
        await request(server).get('/ok').set('x-forwarded-for', '198.51.100.7').expect(200);
        expect(logger.warnings).toEqual([]);
        expect(await limiter.available({ entity: 'key-1' })).toEqual({ rpm: 2 });
      });

      it('stays quiet when the proxy check is switched off with validate: { proxy: false }', async () => {
        const { limiter, logger } = await fixture();
        const { server } = await app({ limiter, logger, validate: { proxy: false } });
        await request(server).get('/ok').set('x-forwarded-for', '198.51.100.7').expect(200);
        expect(logger.warnings).toEqual([]);
      });
    });
  });
}
