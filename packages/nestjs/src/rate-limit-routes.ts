import { Inject, Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { type HttpFramework, HttpRateLimit, type HttpRateLimitOptions } from '@tollgate/core';
import { RATE_LIMIT_METADATA } from './decorators.js';
import {
  RATE_LIMIT_OPTIONS,
  type RateLimitModuleOptions,
  type RateLimitOptions,
  type RateLimitRequest,
} from './options.js';
import { RouteCache, type RouteHandler } from './route-cache.js';

const NONE: RateLimitOptions = {};

export type { RouteHandler } from './route-cache.js';

/** How one route is limited. */
export interface RateLimitRoute {
  /** The core flow with the route's merged options. */
  readonly flow: HttpRateLimit<RateLimitRequest>;
  /** True when no `entity` function applies, so clients are keyed by address (the proxy check matters). */
  readonly keysByAddress: boolean;
}

/**
 * The `HttpRateLimit` of every route: one per distinct combination of module,
 * controller and handler options, built (and validated) once, at startup for
 * every decorated controller and provider (GraphQL resolvers are providers),
 * so a bad `@RateLimit()` fails `app.init()`.
 */
@Injectable()
export class RateLimitRoutes implements OnModuleInit {
  private readonly base: RateLimitRoute;
  private readonly built = new WeakMap<RateLimitOptions, WeakMap<RateLimitOptions, RateLimitRoute>>();
  private readonly routes = new RouteCache((controller, handler) => this.build(controller, handler));

  constructor(
    @Inject(RATE_LIMIT_OPTIONS) private readonly options: RateLimitModuleOptions,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    this.base = routeOf(options);
  }

  /** Validates the options of every decorated controller, resolver and handler. */
  onModuleInit(): void {
    for (const { instance, metatype } of [
      ...this.discovery.getControllers(),
      ...this.discovery.getProviders(),
    ]) {
      if (typeof instance !== 'object' || instance === null || typeof metatype !== 'function') continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler === 'function') this.forRoute(metatype as Type, handler as RouteHandler);
      }
    }
  }

  /** How a handler of a controller class is limited. */
  forRoute(controller: Type, handler: RouteHandler): RateLimitRoute {
    return this.routes.get(controller, handler);
  }

  /** The route of a handler, from its options merged over its controller's and the module's. */
  private build(controller: Type, handler: RouteHandler): RateLimitRoute {
    const onController = this.optionsOf(controller);
    const onHandler = this.optionsOf(handler);
    if (onController === NONE && onHandler === NONE) return this.base;
    let byHandler = this.built.get(onController);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.built.set(onController, byHandler);
    }
    let route = byHandler.get(onHandler);
    if (!route) {
      route = routeOf({ ...this.options, ...defined(onController), ...defined(onHandler) });
      byHandler.set(onHandler, route);
    }
    return route;
  }

  private optionsOf(target: Type | RouteHandler): RateLimitOptions {
    return this.reflector.get<RateLimitOptions | undefined>(RATE_LIMIT_METADATA, target) ?? NONE;
  }
}

/** The platform request as the proxy check reads it. */
interface ProxiedRequest extends RateLimitRequest {
  /** Express: the application, for `trust proxy`. */
  readonly app?: { get(setting: string): unknown };
  /** Fastify: the Node request. */
  readonly raw?: { readonly socket?: { readonly remoteAddress?: string | undefined } };
  readonly socket?: { readonly remoteAddress?: string | undefined };
}

const isExpress = (req: ProxiedRequest): boolean => typeof req.app?.get === 'function';

/** Nest on Express or Fastify: the platform request's `ip`, and the platform's proxy setting. */
const NEST: HttpFramework<RateLimitRequest> = {
  optionHints: {
    onLimited:
      'Nest answers a limited request by throwing `RateLimitExceededException`: catch it in an exception filter, or override `RateLimitGuard.throwRateLimitException`; `message` and `statusCode` shape the default answer',
    handler:
      'catch `RateLimitExceededException` in an exception filter, or override `RateLimitGuard.throwRateLimitException`; `message` and `statusCode` shape the default answer',
  },
  clientAddress: (req) => req.ip,
  proxy: {
    name: (req) => (isExpress(req) ? "Express's `trust proxy`" : 'Fastify `trustProxy`'),
    // Express exposes its setting; Fastify only its effect: without trustProxy, `ip` is the peer address.
    trusts: (req: ProxiedRequest) =>
      isExpress(req)
        ? Boolean(req.app?.get('trust proxy'))
        : req.ip !== (req.raw ?? req).socket?.remoteAddress,
  },
};

function routeOf(options: RateLimitModuleOptions): RateLimitRoute {
  // `message` and `requestWasSuccessful` are the core's, typed for either platform's request.
  const flow = new HttpRateLimit<RateLimitRequest>(options as HttpRateLimitOptions<RateLimitRequest>, NEST);
  return { flow, keysByAddress: options.entity === undefined };
}

function defined(options: RateLimitOptions): RateLimitOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
