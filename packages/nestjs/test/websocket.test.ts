import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ArgumentsHost, Catch, Inject, UseFilters, UseGuards } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import {
  BaseWsExceptionFilter,
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WsException,
} from '@nestjs/websockets';
import { RateLimiter } from '@tollgate/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { RateLimitGuard, RateLimitModule } from '../src/index.js';
import { frozenLimiter } from './app.js';

// The recipe of docs/nestjs.md ("WebSocket gateways"), on @nestjs/platform-ws: the guard does not
// limit gateway messages, so the handler asks the limiter itself, keyed by client.

/** The key of each connected client: its API key from the handshake, else a connection id. */
const clients = new WeakMap<WebSocket, string>();

/** Sends a `WsException` to the client: Nest's base filter only emits it on the server-side socket under platform-ws. */
@Catch(WsException)
class SendWsExceptionFilter extends BaseWsExceptionFilter {
  override catch(exception: WsException, host: ArgumentsHost): void {
    host
      .switchToWs()
      .getClient<WebSocket>()
      .send(JSON.stringify({ event: 'exception', data: exception.getError() }));
  }
}

@WebSocketGateway()
@UseGuards(RateLimitGuard)
@UseFilters(SendWsExceptionFilter)
class ChatGateway implements OnGatewayConnection {
  constructor(@Inject(RateLimiter) private readonly limiter: RateLimiter) {}

  handleConnection(client: WebSocket, req: IncomingMessage): void {
    const key = req.headers['x-api-key'];
    clients.set(client, typeof key === 'string' ? `key:${key}` : `socket:${randomUUID()}`);
  }

  @SubscribeMessage('chat')
  async chat(@ConnectedSocket() client: WebSocket, @MessageBody() text: string) {
    const decision = await this.limiter.tryAcquire({
      entity: clients.get(client) ?? 'unknown',
      resource: 'ws:chat',
    });
    if (!decision.allowed) {
      throw new WsException({ error: 'rate_limit_exceeded', retryAfterMs: decision.retryAfterMs });
    }
    try {
      const answer = `echo ${text}`; // the real work
      await decision.lease.commit();
      return { event: 'chat', data: answer };
    } catch (error) {
      await decision.lease.rollback();
      throw error;
    }
  }

  @SubscribeMessage('ping')
  ping() {
    return { event: 'pong', data: null };
  }
}

describe('A WebSocket gateway beside RateLimitModule', () => {
  let limiter: RateLimiter;
  let close: () => Promise<void>;
  let url: string;

  beforeAll(async () => {
    limiter = frozenLimiter();
    const moduleRef = await Test.createTestingModule({
      imports: [
        RateLimitModule.forRoot({
          limiter,
          entity: (req) => String(req.headers['x-api-key']),
          consume: { rpm: 1 },
          global: true,
        }),
      ],
      providers: [{ provide: RateLimiter, useValue: limiter }, ChatGateway],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
    close = () => app.close();
  });
  afterAll(() => close());

  /** Opens a connection, sends each message in turn and collects one answer per message. */
  async function exchange(key: string, messages: readonly object[]): Promise<unknown[]> {
    const socket = new WebSocket(url, { headers: { 'x-api-key': key } });
    const answers: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    for (const message of messages) {
      const answered = new Promise<void>((resolve) =>
        socket.once('message', (raw: Buffer) => {
          answers.push(JSON.parse(raw.toString()));
          resolve();
        }),
      );
      socket.send(JSON.stringify(message));
      await answered;
    }
    socket.close();
    return answers;
  }

  it('lets messages through the guard without charging them (the ws context passes)', async () => {
    const canActivate = vi.spyOn(RateLimitGuard.prototype, 'canActivate');
    const answers = await exchange(
      'pinger',
      Array.from({ length: 7 }, () => ({ event: 'ping' })),
    );
    expect(answers).toHaveLength(7);
    expect(answers[0]).toEqual({ event: 'pong', data: null });
    // `@UseGuards(RateLimitGuard)` runs it (Nest applies no global guard to gateways); it passes.
    expect(canActivate).toHaveBeenCalledTimes(7);
    expect(canActivate.mock.calls[0]?.[0].getType()).toBe('ws');
    canActivate.mockRestore();
    expect(await limiter.available({ entity: 'pinger' })).toEqual({ rpm: 5, tpm: 1000 });
  });

  it('limits a message handler that acquires itself, answering with a WsException', async () => {
    const chat = { event: 'chat', data: 'hi' };
    const answers = await exchange(
      'chatty',
      Array.from({ length: 6 }, () => chat),
    );
    expect(answers.slice(0, 5)).toEqual(
      Array.from({ length: 5 }, () => ({ event: 'chat', data: 'echo hi' })),
    );
    expect(answers[5]).toEqual({
      event: 'exception',
      data: { error: 'rate_limit_exceeded', retryAfterMs: 12_000 },
    });
    expect(await limiter.available({ entity: 'key:chatty', resource: 'ws:chat' })).toEqual({
      rpm: 0,
      tpm: 995,
    });
  });
});
