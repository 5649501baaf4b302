import type { ServerResponse } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import { ValidationError } from '@tollgate/core';
import type { RateLimitRequest } from './options.js';

/**
 * The request and response the guard limits and answers on: the platform's
 * own (Express `req` and `res`, `FastifyRequest` and `FastifyReply`).
 */
export interface RateLimitExchange {
  /** The platform request: Express `Request` or `FastifyRequest`. */
  readonly req: RateLimitRequest;
  /** The platform response: Express `Response` (a Node response) or `FastifyReply` (`raw` is the Node response). */
  readonly res: ServerResponse | { readonly raw: ServerResponse };
}

/** One resolver call of a GraphQL operation: its context value, and what tells it from other calls. */
interface Resolution {
  /** The GraphQL context value (what the driver's `context` function returned). */
  readonly value: unknown;
  /** The call's `GraphQLResolveInfo` (new for every field resolved), else its argument list. */
  readonly key: object;
}

/**
 * The resolver arguments of a `'graphql'` context, read without
 * `@nestjs/graphql`: `GqlExecutionContext.create(context).getContext()` is
 * `context.getArgByIndex(2)` of `[root, args, context, info]`, so importing
 * it would make the package depend on `@nestjs/graphql` for one read. Like
 * its argument normalisation, a call of three arguments (a federation
 * reference resolver: `[root, context, info]`) has its context second; the
 * info object, which every call has, says which shape this is.
 */
function resolutionOf(context: ExecutionContext): Resolution {
  const args = context.getArgs<unknown[]>();
  const at = isResolveInfo(args[3]) ? 3 : isResolveInfo(args[2]) ? 2 : 3;
  const info = args[at];
  return { value: args[at - 1], key: isObject(info) ? info : args };
}

/**
 * What tells one resolver call from the others of the same GraphQL request
 * (two fields, or one field under two aliases, are two calls), while every
 * guard of one call sees the same key.
 */
export function resolutionKey(context: ExecutionContext): object {
  return resolutionOf(context).key;
}

/**
 * The HTTP request and response behind a resolver call, from its GraphQL
 * context: `{ req, res }` (Apollo and Mercurius with Nest's default
 * context on Express: `req`, whose `res` Express sets; a `context` function
 * returning `{ req, res }`), or Mercurius' `reply` (`reply.request`).
 *
 * @throws ValidationError `ERR_TOLLGATE_INVALID_OPTION` when the context
 *   carries none: a subscription over WebSocket, Apollo on Fastify without a
 *   `context` function, or a `context` function that drops `req`
 */
export function graphqlExchange(context: ExecutionContext): RateLimitExchange {
  const { value } = resolutionOf(context);
  const carried = isObject(value) ? (value as GraphQLContextValue) : {};
  const reply = isObject(carried.reply) ? carried.reply : undefined;
  const req = carried.req ?? reply?.request;
  const res = carried.res ?? reply ?? (isObject(req) ? (req as { res?: unknown }).res : undefined);
  if (isRequest(req) && isResponse(res)) return { req, res };
  throw new ValidationError(
    'ERR_TOLLGATE_INVALID_OPTION',
    `RateLimitGuard cannot limit the GraphQL resolver \`${context.getClass().name}.${context.getHandler().name}\`: its GraphQL context carries no HTTP ${isRequest(req) ? 'response' : 'request'}. Return \`{ req, res }\` from GraphQLModule's \`context\` option (Apollo on Fastify: \`context: (req, res) => ({ req, res })\`); a subscription over WebSocket has none, so mark its resolver \`@SkipRateLimit()\``,
    'context',
  );
}

/** What the GraphQL context value may carry, as each driver builds it. */
interface GraphQLContextValue {
  /** Nest's default context (Apollo, Mercurius), or the user's `context` function. */
  readonly req?: unknown;
  /** A `context` function returning `{ req, res }`. */
  readonly res?: unknown;
  /** Mercurius: the `FastifyReply`, whose `request` is the `FastifyRequest`. */
  readonly reply?: { readonly request?: unknown };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** A `GraphQLResolveInfo`: every resolver call's last argument names its field. */
function isResolveInfo(value: unknown): boolean {
  return isObject(value) && typeof (value as { fieldName?: unknown }).fieldName === 'string';
}

function isRequest(value: unknown): value is RateLimitRequest {
  return isObject(value) && isObject((value as { headers?: unknown }).headers);
}

function isResponse(value: unknown): value is RateLimitExchange['res'] {
  if (!isObject(value)) return false;
  const node = (value as { raw?: unknown }).raw ?? value;
  return isObject(node) && typeof (node as { setHeader?: unknown }).setHeader === 'function';
}
