import type { IncomingMessage } from 'node:http';
import {
  type AdapterHarness,
  type ContractRequest,
  type ContractResponse,
  startServer,
  toAdapterOptions,
} from '@tollgate/test-utils';
import type express from 'express';
import type { Request, Response } from 'express';
import { rateLimit } from '../src/index.js';

/** The neutral view of an Express request. */
function view(req: Request): ContractRequest {
  return {
    method: req.method,
    path: req.path,
    header: (name) => req.get(name),
    body: req.body,
    ip: req.ip,
  };
}

function send(res: Response, response: ContractResponse): void {
  res.status(response.status);
  if (response.headers) res.set(response.headers);
  res.json(response.body);
}

/** The contract app on one Express major version. */
export function expressHarness(name: string, createExpress: typeof express): AdapterHarness {
  return {
    name,
    createApp({ options, routes, trustProxy }) {
      const app = createExpress();
      app.set('trust proxy', trustProxy);
      app.use(createExpress.json());
      const { onLimited } = options;
      app.use(
        rateLimit({
          ...toAdapterOptions(options, view),
          ...(onLimited === undefined
            ? {}
            : { onLimited: (req, res, _next, error) => send(res, onLimited(error, view(req))) }),
        }),
      );
      app.get('/ok', (req, res) => send(res, routes.ok(req.rateLimit)));
      app.get('/fail', (req) => routes.fail(req.rateLimit));
      app.get('/status/:code', (req, res) =>
        send(res, routes.status(req.rateLimit, String(req.params['code']))),
      );
      app.get('/state', (req, res) => send(res, routes.state(req.rateLimit)));
      app.get('/hang', (req) => routes.hang(req.rateLimit));
      app.post('/chat', (req, res, next) => {
        routes.chat(req.rateLimit, req.body).then((response) => send(res, response), next);
      });
      app.get('/sse', (req, res) => {
        res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.flushHeaders();
        routes
          .sse(req.rateLimit, (chunk) => res.write(chunk))
          .then(
            () => res.end(),
            (error: unknown) => res.destroy(error as Error),
          );
      });
      return startServer(
        app as unknown as (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
      );
    },
  };
}
