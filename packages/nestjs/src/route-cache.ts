import type { Type } from '@nestjs/common';

/** A route handler (a controller method). */
export type RouteHandler = (...args: never) => unknown;

/**
 * What a route's metadata resolves to, read once per (controller, handler):
 * decorators set metadata when classes are defined, and reading it through
 * `Reflector` on every request cost more than the rest of the guard. Keyed by
 * handler, then class, since a base controller's method serves every subclass.
 */
export class RouteCache<T> {
  private readonly byHandler = new WeakMap<RouteHandler, WeakMap<Type, T>>();

  constructor(private readonly resolve: (controller: Type, handler: RouteHandler) => T) {}

  get(controller: Type, handler: RouteHandler): T {
    let byController = this.byHandler.get(handler);
    if (byController === undefined) {
      byController = new WeakMap();
      this.byHandler.set(handler, byController);
    }
    if (byController.has(controller)) return byController.get(controller) as T;
    const value = this.resolve(controller, handler);
    byController.set(controller, value);
    return value;
  }
}
