import {
  describeValue,
  type HttpAdmission,
  type HttpFramework,
  HttpRateLimit,
  type HttpRateLimitOptions,
  type RateLimitExceeded,
  type RateLimitState,
  ValidationError,
} from '@tollgate/core';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify';
import fastifyPlugin from 'fastify-plugin';

export type { RateLimitState } from '@tollgate/core';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by Tollgate's `rateLimit` plugin on admitted requests; null when the request was not limited. */
    rateLimit: RateLimitState | null;
  }
  interface FastifyContextConfig {
    /** Tollgate options for this route, over the plugin's; `false` exempts the route. */
    rateLimit?: RouteRateLimitOptions | false;
  }
}

/**
 * The request hook the limit runs in. `onRequest` (default) refuses before
 * the body is read or parsed; `preValidation` sees the parsed body (a cost
 * computed from it); `preHandler` also runs after schema validation and
 * other plugins' `preHandler` hooks (authentication).
 */
export type RateLimitHook = 'onRequest' | 'preValidation' | 'preHandler';

/**
 * Options of {@link rateLimit}: the shared adapter options (`limiter`,
 * `entity`, `resource`, `consume`, `limits`, `skip`, `headers`,
 * `legacyHeaders`, `rollbackOnError`, `rollbackOnAbort`, `logger`,
 * `validate`, `exposeEntities`) with Fastify's `request`, plus the hook and a custom 429.
 */
export interface RateLimitOptions extends HttpRateLimitOptions<FastifyRequest> {
  /** Where in the request lifecycle the limit runs. Default `'onRequest'`. */
  hook?: RateLimitHook;
  /**
   * Answers a limited request instead of the default JSON 429: send the reply,
   * or return (or resolve to) the body to send. The status (429),
   * `Retry-After` and the rate-limit headers are already set.
   */
  onLimited?: (request: FastifyRequest, reply: FastifyReply, error: RateLimitExceeded) => unknown;
}

/** One route's `config.rateLimit`: any option of {@link RateLimitOptions}, over the plugin's. */
export type RouteRateLimitOptions = Partial<RateLimitOptions>;

type RouteHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

const HOOKS: readonly RateLimitHook[] = ['onRequest', 'preValidation', 'preHandler'];

const FASTIFY: HttpFramework<FastifyRequest> = {
  clientAddress: (request) => request.ip,
  // `request.ips` exists only when `trustProxy` is on: Fastify's own setting, read from the request.
  proxy: { name: 'Fastify `trustProxy`', trusts: (request) => request.ips !== undefined },
  options: ['onLimited'],
};

/**
 * Fastify plugin (Fastify 4 and 5) that charges each request to its entity
 * and answers `429` with `Retry-After` once the budget is spent. It applies to
 * the routes declared after it in its context and the contexts below (await
 * the registration); a route's `config.rateLimit` overrides options or, with
 * `false`, exempts it. The core decides, sets the headers and settles the
 * lease when the response ends; this maps the answer to Fastify. Options are
 * validated when the plugin loads and when each route is declared. Admitted
 * requests get `request.rateLimit`.
 *
 * @example
 * const app = Fastify({ trustProxy: true });
 * await app.register(rateLimit, { limiter, entity: (req) => String(req.headers['x-api-key'] ?? ipKey(req.ip)) });
 * app.get('/health', { config: { rateLimit: false } }, () => ({ ok: true }));
 */
export const rateLimit: FastifyPluginAsync<RateLimitOptions> = fastifyPlugin(
  // Async: avvio turns a rejection (invalid options) into `register`'s error; a sync throw escapes it.
  async (fastify: FastifyInstance, options: RateLimitOptions) => {
    const base = routeHook(options);
    const overridden = new WeakMap<RouteRateLimitOptions, ReturnType<typeof routeHook>>();
    decorate(fastify, base.property);
    // A hook per route, attached when the route is declared: options are settled once, and exempt
    // routes pay nothing (the way @fastify/rate-limit works, so `config.rateLimit` reads the same).
    fastify.addHook('onRoute', (route) => {
      const config = route.config?.rateLimit;
      if (config === false) return;
      let limited = base;
      if (config != null) {
        if (typeof config !== 'object') {
          throw new ValidationError(
            'ERR_TOLLGATE_INVALID_OPTION',
            `Expected \`config.rateLimit\` of ${route.url} to be an options object or false, got ${describeValue(config)}`,
            'config.rateLimit',
          );
        }
        limited =
          overridden.get(config) ??
          routeHook({ ...options, ...config, limiter: config.limiter ?? options.limiter });
        overridden.set(config, limited);
        decorate(fastify, limited.property);
      }
      addRouteHook(route, limited.hook, limited.handler);
    });
  },
  { fastify: '4.x || 5.x', name: '@tollgate/fastify' },
);

/** Builds the hook for one set of options, validating them now rather than per request. */
function routeHook(options: RateLimitOptions): { hook: RateLimitHook; handler: RouteHook; property: string } {
  // `hook` is this adapter's alone; everything else, `onLimited` included, is the core's to validate.
  const { hook = 'onRequest', ...shared } = options;
  const { onLimited } = options;
  if (!HOOKS.includes(hook)) {
    throw new ValidationError(
      'ERR_TOLLGATE_INVALID_OPTION',
      `Expected \`hook\` to be ${HOOKS.map((name) => `'${name}'`).join(', ')}, got ${describeValue(hook)}`,
      'hook',
    );
  }
  const flow = new HttpRateLimit<FastifyRequest>(shared, FASTIFY);
  const property = flow.requestPropertyName;

  function respond(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    admission: HttpAdmission,
  ): void {
    if (admission.action !== 'reject') {
      if (admission.action === 'proceed')
        (request as unknown as Record<string, unknown>)[property] = admission.state;
      else if (admission.action === 'gone') reply.hijack(); // the client left: nothing to answer or run
      done();
    } else if (admission.reason === 'limited' && onLimited !== undefined) {
      reply.code(admission.status);
      // Sends the body it returns or resolves to, unless it sent the reply; what it throws goes to Fastify.
      new Promise((resolve) => resolve(onLimited(request, reply, admission.error))).then((body) => {
        if (body !== undefined && body !== reply && !reply.sent) reply.send(body);
      }, done);
    } else if (typeof admission.body === 'string') {
      // A string `message` goes out as text: never let a client's browser guess HTML for it.
      reply.code(admission.status).type('text/plain; charset=utf-8').send(admission.body);
    } else {
      reply.code(admission.status).send(admission.body);
    }
  }

  // Callback style, so a decision the store answers synchronously (MemoryStore) costs no promise.
  const handler: RouteHook = (request, reply, done) => {
    let admission: HttpAdmission | Promise<HttpAdmission>;
    try {
      admission = flow.admit(request, request.raw, reply.raw);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (admission instanceof Promise) admission.then((answer) => respond(request, reply, done, answer), done);
    else respond(request, reply, done, admission);
  };
  return { hook, handler, property };
}

/** Declares where admitted requests carry their state (`requestPropertyName`), once per name. */
function decorate(fastify: FastifyInstance, property: string): void {
  if (!fastify.hasRequestDecorator(property)) fastify.decorateRequest(property, null);
}

/** Appends `handler` to the route's own hooks, in a new array: the route's may be shared. */
function addRouteHook(route: RouteOptions, name: RateLimitHook, handler: RouteHook): void {
  const own = route[name] as RouteHook | readonly RouteHook[] | undefined;
  (route as unknown as Record<RateLimitHook, RouteHook[]>)[name] =
    own === undefined ? [handler] : [...(Array.isArray(own) ? own : [own]), handler];
}
