import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Inject,
  Injectable,
  type MessageEvent,
  Post,
  Query,
  Sse,
} from '@nestjs/common';
import { RateLimit, RateLimitState, SkipRateLimit } from '@tollgate/nestjs';
import type { Request } from 'express';
import { concat, defer, from, map, type Observable } from 'rxjs';
import { type ChatRequest, EchoModel, promptTokens, worstCaseTokens } from './model.js';

/** The model, as a provider (swap in a real client here). */
@Injectable()
export class ModelService extends EchoModel {}

/** `GET /v1/chat/stream?prompt=...&max_tokens=...` as a chat request. */
function streamRequest(query: Request['query']): ChatRequest {
  const maxTokens = Number(query['max_tokens']);
  return {
    messages: [{ role: 'user', content: String(query['prompt'] ?? '') }],
    ...(Number.isInteger(maxTokens) && maxTokens > 0 ? { max_tokens: maxTokens } : {}),
  };
}

/**
 * Chat completions. Every route costs one request (`rpm`) and its worst-case
 * token count (`tpm`) up front; once the model has answered, the lease is
 * adjusted to the real usage, so unused tokens go back to the key.
 */
@Controller('v1/chat')
@RateLimit({ resource: 'chat' })
export class ChatController {
  constructor(@Inject(ModelService) private readonly model: ModelService) {}

  @Post('completions')
  @RateLimit({ consume: (req: Request) => ({ rpm: 1, tpm: worstCaseTokens(req.body) }) })
  async complete(@Body() body: ChatRequest, @RateLimitState() rateLimit: RateLimitState) {
    if (!Array.isArray(body?.messages) || body.messages.length === 0) {
      throw new BadRequestException('`messages` must be a non-empty array');
    }
    const { text, usage } = this.model.complete(body);
    const charged = rateLimit.lease.consumed['tpm'] ?? 0;
    await rateLimit.lease.adjust({ tpm: usage.total_tokens - charged });
    return {
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage,
    };
  }

  /** Streams the answer word by word; the lease stays open until the last event, then commits. */
  @Sse('stream')
  @RateLimit({ consume: (req: Request) => ({ rpm: 1, tpm: worstCaseTokens(streamRequest(req.query)) }) })
  stream(
    @Query() query: Request['query'],
    @RateLimitState() rateLimit: RateLimitState,
  ): Observable<MessageEvent> {
    const request = streamRequest(query);
    const words = this.model.words(request);
    const finish = defer(async () => {
      const usage = promptTokens(request.messages) + words.length;
      await rateLimit.lease.adjust({ tpm: usage - (rateLimit.lease.consumed['tpm'] ?? 0) });
      return { data: { done: true, total_tokens: usage } };
    });
    return concat(from(words).pipe(map((word) => ({ data: { delta: word } }))), finish);
  }
}

/** Liveness probe: never limited. */
@Controller('health')
@SkipRateLimit()
export class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}
