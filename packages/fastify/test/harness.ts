import { PassThrough } from 'node:stream';
import {
  type AdapterHarness,
  type ContractRequest,
  type ContractResponse,
  toAdapterOptions,
} from '@tollgate/test-utils';
import type Fastify from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rateLimit } from '../src/index.js';

/** The neutral view of a Fastify request. */
function view(request: FastifyRequest): ContractRequest {
  return {
    method: request.method,
    path: request.url.split('?')[0] ?? request.url,
    header: (name) => {
      const value = request.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: request.body,
    ip: request.ip,
  };
}

function send(reply: FastifyReply, response: ContractResponse): FastifyReply {
  return reply
    .code(response.status)
    .headers(response.headers ?? {})
    .send(response.body);
}

/** The state the contract routes see: `request.rateLimit`, undefined when not limited. */
const stateOf = (request: FastifyRequest) => request.rateLimit ?? undefined;

/** The contract app on one Fastify major version. */
export function fastifyHarness(name: string, createFastify: typeof Fastify): AdapterHarness {
  return {
    name,
    async createApp({ options, routes, trustProxy }) {
      const app = createFastify({ trustProxy, forceCloseConnections: true });
      const { onLimited } = options;
      await app.register(rateLimit, {
        ...toAdapterOptions(options, view),
        ...(onLimited === undefined
          ? {}
          : { onLimited: (request, reply, error) => send(reply, onLimited(error, view(request))) }),
      });
      app.get('/ok', (request, reply) => send(reply, routes.ok(stateOf(request))));
      app.get('/fail', (request) => routes.fail(stateOf(request)));
      app.get<{ Params: { code: string } }>('/status/:code', (request, reply) =>
        send(reply, routes.status(stateOf(request), request.params.code)),
      );
      app.get('/state', (request, reply) => send(reply, routes.state(stateOf(request))));
      app.get('/hang', (request) => {
        routes.hang(stateOf(request));
        return new Promise(() => {});
      });
      // The cost of /chat is read from the parsed body, which `onRequest` runs before.
      app.post('/chat', { config: { rateLimit: { hook: 'preValidation' } } }, async (request, reply) =>
        send(reply, await routes.chat(stateOf(request), request.body)),
      );
      app.get('/sse', (request, reply) => {
        const stream = new PassThrough();
        routes
          .sse(stateOf(request), (chunk) => stream.write(chunk))
          .then(
            () => stream.end(),
            (error: unknown) => stream.destroy(error as Error),
          );
        return reply.type('text/event-stream').header('Cache-Control', 'no-cache').send(stream);
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { server: app.server, close: () => app.close() };
    },
  };
}
