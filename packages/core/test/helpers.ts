import { type LimitStatus, MemoryStore, type Store } from '@tollgate/core';

/**
 * A MemoryStore that counts calls per method, to assert round trips. Its
 * methods are wrapped, so the store offers no synchronous calls and every
 * call is counted.
 */
export function countingStore(
  inner: Store = new MemoryStore({ maxKeys: 1000 }),
): Store & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'calls') return calls;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store & { calls: Record<string, number> };
}

/**
 * The same store seen as a remote one: not in process and without the
 * synchronous calls, so the limiter takes the path a database store takes
 * (deadline timers, the config and plan caches).
 */
export function asRemote(inner: Store = new MemoryStore({ maxKeys: 1000 })): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'inProcess' || property === 'chargeSync' || property === 'loadConfigSync')
        return undefined;
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A store whose every call fails the given way (for unavailable / degraded paths). */
export function failingStore(
  mode: 'throw' | 'hang',
  inner: Store = new MemoryStore({ maxKeys: 100 }),
): Store & { failing: boolean } {
  const state = { failing: true };
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'failing') return state.failing;
      if (property === 'inProcess') return false;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!state.failing) return (value as (...a: unknown[]) => unknown).apply(target, args);
        if (mode === 'throw') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8000'));
        return new Promise(() => undefined);
      };
    },
    set(_target, property, value) {
      if (property === 'failing') {
        state.failing = Boolean(value);
        return true;
      }
      return false;
    },
  }) as Store & { failing: boolean };
}

/** A limit status for header tests: 42 of 100 rpm left, full again in 17.5 s; `over` changes fields. */
export const status = (over: Partial<LimitStatus>): LimitStatus => ({
  entity: 'k',
  resource: 'default',
  limit: 'rpm',
  capacity: 100,
  available: 42,
  requested: 1,
  exceeded: false,
  retryAfterMs: 0,
  resetAfterMs: 17_500,
  refillAmount: 100,
  refillPeriodMs: 60_000,
  depth: 0,
  ...over,
});
