import { ipKey, type RateLimiter } from '@tollgate/core';
import { rateLimit } from '@tollgate/express';
import express, { type Express, type Request } from 'express';
import type { Registry } from 'prom-client';
import { complete, estimateTokens } from './model.js';

/** Body of a chat request (validated loosely: a demo, not an API reference). */
interface ChatBody {
  prompt?: unknown;
  max_tokens?: unknown;
}

const DEFAULT_MAX_TOKENS = 256;

function chatInput(req: Request): { prompt: string; maxTokens: number } {
  const body = (req.body ?? {}) as ChatBody;
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  const maxTokens =
    Number.isSafeInteger(body.max_tokens) && (body.max_tokens as number) > 0
      ? (body.max_tokens as number)
      : DEFAULT_MAX_TOKENS;
  return { prompt, maxTokens };
}

/** Optional parts of {@link createGatewayApp}. */
export interface GatewayOptions {
  /** Served on `GET /metrics` in the Prometheus text format (fill it with `collectMetrics({ registry })`). */
  metrics?: Registry;
}

/**
 * The gateway: each API key (header `x-api-key`, else the client address)
 * pays 1 request and an estimate of its tokens on the way in; once the model
 * answers, the lease is adjusted to the real token count, and the lease
 * commits when the response is sent. With `metrics`, `GET /metrics` serves
 * that Prometheus registry.
 */
export function createGatewayApp(limiter: RateLimiter, options: GatewayOptions = {}): Express {
  const app = express();
  app.use(express.json({ limit: '64kb' }));

  app.post(
    '/v1/chat/completions',
    rateLimit({
      limiter,
      entity: (req) => req.get('x-api-key') ?? ipKey(req.ip),
      resource: 'chat',
      consume: (req) => {
        const { prompt, maxTokens } = chatInput(req);
        return { rpm: 1, tpm: estimateTokens(prompt, maxTokens) };
      },
    }),
    async (req, res) => {
      const { prompt, maxTokens } = chatInput(req);
      const estimate = estimateTokens(prompt, maxTokens);
      const answer = complete(prompt, maxTokens);
      const used = answer.promptTokens + answer.completionTokens;
      // Charge what the model really used: usually a refund of part of the estimate.
      await req.rateLimit?.lease.adjust({ tpm: used - estimate });
      res.json({
        choices: [{ message: { role: 'assistant', content: answer.text } }],
        usage: {
          prompt_tokens: answer.promptTokens,
          completion_tokens: answer.completionTokens,
          total_tokens: used,
          estimated_tokens: estimate,
        },
      });
    },
  );

  app.get('/v1/limits', async (req, res) => {
    const entity = req.get('x-api-key') ?? ipKey(req.ip);
    res.json({ entity, available: await limiter.available({ entity, resource: 'chat' }) });
  });

  const { metrics } = options;
  if (metrics !== undefined) {
    app.get('/metrics', async (_req, res) => {
      res.set('content-type', metrics.contentType).send(await metrics.metrics());
    });
  }

  return app;
}
