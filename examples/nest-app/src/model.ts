/** One chat message, as in the OpenAI-style API. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Body of `POST /v1/chat/completions`. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Most completion tokens the caller accepts (default {@link DEFAULT_MAX_TOKENS}). */
  max_tokens?: number;
}

/** Token counts of one answer. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Completion tokens assumed when the request does not say. */
export const DEFAULT_MAX_TOKENS = 256;

/** Rough prompt size: about four characters per token. */
export function promptTokens(messages: readonly ChatMessage[]): number {
  const characters = messages.reduce((sum, message) => sum + String(message.content ?? '').length, 0);
  return Math.max(1, Math.ceil(characters / 4));
}

/**
 * The most a request can cost in tokens: its prompt plus `max_tokens`. Charged
 * up front; the difference to the real usage is settled after the answer.
 */
export function worstCaseTokens(body: Partial<ChatRequest> | undefined): number {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const maxTokens = Number.isInteger(body?.max_tokens) ? Number(body?.max_tokens) : DEFAULT_MAX_TOKENS;
  return promptTokens(messages) + Math.max(1, maxTokens);
}

/**
 * A stand-in for a model: it echoes the last user message, one word per
 * token, up to `max_tokens`. Deterministic, so the example's tests can check
 * exact charges.
 */
export class EchoModel {
  /** The answer's words (its completion tokens). */
  words(request: ChatRequest): string[] {
    const last = [...request.messages].reverse().find((message) => message.role === 'user');
    const words = `You said: ${last?.content ?? ''}`.split(/\s+/).filter(Boolean);
    return words.slice(0, request.max_tokens ?? DEFAULT_MAX_TOKENS);
  }

  /** The whole answer with its usage. */
  complete(request: ChatRequest): { text: string; usage: Usage } {
    const words = this.words(request);
    const prompt = promptTokens(request.messages);
    return {
      text: words.join(' '),
      usage: { prompt_tokens: prompt, completion_tokens: words.length, total_tokens: prompt + words.length },
    };
  }
}
