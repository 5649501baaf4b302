import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { ContextType } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test } from '@nestjs/testing';
import { isTollgateError, type RateLimiter } from '@tollgate/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitGuard, RateLimitModule } from '../src/index.js';
import { frozenLimiter } from './app.js';

// These contexts are built by hand, as Nest builds them for a resolver call: no GraphQL
// package takes part, so the guard is shown to need none.

class ChatResolver {
  chat(): string {
    return 'hello';
  }
}

/** A resolve info as graphql-js passes it (the guard reads only that it is one). */
const info = (fieldName = 'chat') => ({ fieldName, path: { key: fieldName } });

const nodeResponse = () => new ServerResponse(new IncomingMessage(new Socket()));

function context(type: ContextType | 'graphql', args: unknown[]): ExecutionContextHost {
  const host = new ExecutionContextHost(args, ChatResolver, ChatResolver.prototype.chat);
  host.setType(type);
  return host;
}

describe('RateLimitGuard on hand-built GraphQL and WebSocket contexts', () => {
  let limiter: RateLimiter;
  let guard: RateLimitGuard;
  const available = (entity: string) => limiter.available({ entity });
  const client = (key: string) => ({ headers: { 'x-api-key': key }, ip: '127.0.0.1' });

  beforeAll(async () => {
    limiter = frozenLimiter();
    const moduleRef = await Test.createTestingModule({
      imports: [
        RateLimitModule.forRoot({
          limiter,
          entity: (req) => String(req.headers['x-api-key']),
          consume: { rpm: 1 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    guard = moduleRef.get(RateLimitGuard);
  });
  afterAll(() => limiter.close());

  it('limits a resolver call on the { req, res } of its GraphQL context', async () => {
    const res = nodeResponse();
    const allowed = await guard.canActivate(
      context('graphql', [{}, {}, { req: client('apollo'), res }, info()]),
    );
    expect(allowed).toBe(true);
    expect(res.getHeader('RateLimit')).toBe('"rpm";r=4;t=12, "tpm";r=1000;t=0');
    expect(await available('apollo')).toMatchObject({ rpm: 4 });
  });

  it("finds the response through Express's req.res (Nest's default Apollo context)", async () => {
    const res = nodeResponse();
    const req = { ...client('express'), res };
    expect(await guard.canActivate(context('graphql', [{}, {}, { req }, info()]))).toBe(true);
    expect(res.getHeader('RateLimit')).toBeDefined();
    expect(await available('express')).toMatchObject({ rpm: 4 });
  });

  it("finds both through Mercurius' reply", async () => {
    const res = nodeResponse();
    const reply = { request: client('mercurius'), raw: res };
    expect(await guard.canActivate(context('graphql', [{}, {}, { reply, app: {} }, info()]))).toBe(true);
    expect(res.getHeader('RateLimit')).toBeDefined();
    expect(await available('mercurius')).toMatchObject({ rpm: 4 });
  });

  it('reads a federation reference resolver call ([root, context, info])', async () => {
    const res = nodeResponse();
    expect(await guard.canActivate(context('graphql', [{}, { req: client('reference'), res }, info()]))).toBe(
      true,
    );
    expect(await available('reference')).toMatchObject({ rpm: 4 });
  });

  it('charges each resolver call once, however many guards it has', async () => {
    const res = nodeResponse();
    const gql = { req: client('calls'), res };
    const first = context('graphql', [{}, {}, gql, info('chat')]);
    // A global guard and @UseGuards(RateLimitGuard) see the same call.
    expect(await guard.canActivate(first)).toBe(true);
    expect(await guard.canActivate(first)).toBe(true);
    expect(await available('calls')).toMatchObject({ rpm: 4 });
    // Another field of the same request is another call.
    expect(await guard.canActivate(context('graphql', [{}, {}, gql, info('other')]))).toBe(true);
    expect(await available('calls')).toMatchObject({ rpm: 3 });
  });

  it('refuses with a coded error, charging nothing, when the GraphQL context has no HTTP request', async () => {
    // A subscription over graphql-ws: the context holds connection parameters, no request.
    const subscription = context('graphql', [{}, {}, { connectionParams: { 'x-api-key': 'ws' } }, info()]);
    const error = await guard.canActivate(subscription).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(isTollgateError(error) && error.code).toBe('ERR_TOLLGATE_INVALID_OPTION');
    expect((error as Error).message).toMatch(/`ChatResolver\.chat`.*no HTTP request.*`@SkipRateLimit\(\)`/);
    await expect(
      guard.canActivate(context('graphql', [{}, {}, { req: client('no-response') }, info()])),
    ).rejects.toThrow(/no HTTP response/);
    expect(await available('no-response')).toMatchObject({ rpm: 5 });
  });

  it('lets WebSocket gateway and microservice handlers through unlimited', async () => {
    const socket = { id: 'socket-1', handshake: { headers: { 'x-api-key': 'ws' } } };
    expect(await guard.canActivate(context('ws', [socket, { text: 'hi' }, 'message']))).toBe(true);
    expect(await guard.canActivate(context('rpc', [{ pattern: 'sum' }, {}]))).toBe(true);
    expect(await available('ws')).toMatchObject({ rpm: 5 });
  });
});
