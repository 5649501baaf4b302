/**
 * A stand-in for a language model: deterministic token counts, so the demo
 * and its test show exact numbers.
 */

/** Tokens a prompt is estimated to use before the model runs: prompt tokens plus the requested maximum. */
export function estimateTokens(prompt: string, maxTokens: number): number {
  return promptTokens(prompt) + maxTokens;
}

/** Roughly four characters per token. */
export function promptTokens(prompt: string): number {
  return Math.max(1, Math.ceil(prompt.length / 4));
}

/** "Runs" the model: the completion is shorter than the maximum for short prompts. */
export function complete(
  prompt: string,
  maxTokens: number,
): { text: string; promptTokens: number; completionTokens: number } {
  const completionTokens = Math.min(maxTokens, 20 + promptTokens(prompt) * 3);
  return { text: `echo: ${prompt.slice(0, 40)}`, promptTokens: promptTokens(prompt), completionTokens };
}
