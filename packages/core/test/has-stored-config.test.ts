import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isTollgateError, Limit, MemoryStore, RateLimiter, type RateLimiterOptions } from '../src/index.js';
import { countingStore } from './helpers.js';

const now = Date.UTC(2025, 0, 1);
/** IP addresses never have config of their own; API keys may. */
const notAnIp = (entity: string): boolean => isIP(entity) === 0;

function limiterOn(
  store: RateLimiterOptions['store'],
  options: Partial<RateLimiterOptions> = {},
): RateLimiter {
  return new RateLimiter({ store, limits: [Limit.perMinute('rpm', 10)], clock: () => now, ...options });
}

/** The code of what `promise` rejects with, or 'resolved'. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isTollgateError(error) ? error.code : String(error)),
  );
}

describe('hasStoredConfig', () => {
  it("plans an entity it returns false for from the shared sets and defaults, never from the entity's own", async () => {
    const store = new MemoryStore();
    const admin = limiterOn(store);
    await admin.setLimits({ entity: '10.0.0.1' }, [Limit.perMinute('rpm', 2)]);
    await admin.setLimits({ entity: 'key-1' }, [Limit.perMinute('rpm', 3)]);
    await admin.setLimits({ resource: 'chat' }, [Limit.perMinute('rpm', 4)]);
    const limiter = limiterOn(store, { hasStoredConfig: notAnIp });

    expect(await limiter.available({ entity: '10.0.0.1' })).toEqual({ rpm: 10 }); // defaults, not 2
    expect(await limiter.available({ entity: '10.0.0.1', resource: 'chat' })).toEqual({ rpm: 4 });
    expect(await limiter.available({ entity: 'key-1' })).toEqual({ rpm: 3 });
    expect(await admin.available({ entity: '10.0.0.1' })).toEqual({ rpm: 2 });
  });

  it("ignores a stored record's cascade, so no parent is charged", async () => {
    const store = new MemoryStore();
    const admin = limiterOn(store);
    await admin.createEntity({ id: 'org' });
    await admin.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 100)]);
    await admin.createEntity({ id: '10.0.0.1', parent: 'org', cascade: true });
    const limiter = limiterOn(store, { hasStoredConfig: notAnIp });

    const lease = await limiter.acquire({ entity: '10.0.0.1' });
    expect(lease.consumed).toEqual({ rpm: 1 });
    expect(await admin.available({ entity: 'org' })).toEqual({ rpm: 100 });
    // The limiter without the option follows the cascade.
    await admin.acquire({ entity: '10.0.0.1' });
    expect(await admin.available({ entity: 'org' })).toEqual({ rpm: 99 });
  });

  it("reads nothing of the entity's own from a shared store: one config read serves every such key", async () => {
    const store = countingStore();
    const limiter = limiterOn(store, { hasStoredConfig: notAnIp });
    for (let i = 0; i < 20; i += 1) await limiter.acquire({ entity: `10.0.0.${i}` });
    // The first key reads the shared { resource } and {} sets; the others find them cached.
    expect(store.calls).toMatchObject({ loadConfig: 1, charge: 20 });

    const reading = countingStore();
    const without = limiterOn(reading);
    for (let i = 0; i < 20; i += 1) await without.acquire({ entity: `10.0.0.${i}` });
    expect(reading.calls).toMatchObject({ loadConfig: 20, charge: 20 });
  });

  it('still reads the entities it returns true for', async () => {
    const store = countingStore();
    const limiter = limiterOn(store, { hasStoredConfig: notAnIp });
    await limiter.acquire({ entity: '10.0.0.1' });
    await limiter.acquire({ entity: 'key-1' });
    await limiter.acquire({ entity: 'key-2' });
    expect(store.calls).toMatchObject({ loadConfig: 3, charge: 3 });
  });

  it('refuses to store config it would never read, writing nothing', async () => {
    const store = new MemoryStore();
    const admin = limiterOn(store);
    await admin.createEntity({ id: '10.0.0.9' });
    const limiter = limiterOn(store, { hasStoredConfig: notAnIp });

    expect(await codeOf(limiter.createEntity({ id: '10.0.0.1' }))).toBe('ERR_TOLLGATE_INVALID_KEY');
    expect(await codeOf(limiter.setLimits({ entity: '10.0.0.1' }, [Limit.perMinute('rpm', 1)]))).toBe(
      'ERR_TOLLGATE_INVALID_KEY',
    );
    expect(
      await codeOf(limiter.setLimits({ entity: '10.0.0.1', resource: 'chat' }, [Limit.perMinute('rpm', 1)])),
    ).toBe('ERR_TOLLGATE_INVALID_KEY');
    expect(await codeOf(limiter.updateEntity('10.0.0.9', { name: 'nine' }))).toBe('ERR_TOLLGATE_INVALID_KEY');
    expect(await admin.getEntity('10.0.0.1')).toBeNull();
    expect(await admin.getLimits({ entity: '10.0.0.1' })).toEqual([]);
    expect(await admin.getLimits({ entity: '10.0.0.1', resource: 'chat' })).toEqual([]);
    expect(await admin.getEntity('10.0.0.9')).not.toHaveProperty('name');
    // Shared scopes and other entities are written as usual; the message never repeats the key.
    await limiter.setLimits({ resource: 'chat' }, [Limit.perMinute('rpm', 4)]);
    await limiter.createEntity({ id: 'key-1' });
    const error = await limiter.createEntity({ id: '10.0.0.1' }).catch((thrown: unknown) => thrown);
    expect((error as Error).message).not.toContain('10.0.0.1');
    expect((error as Error).message).toMatch(/`hasStoredConfig` returns false/);
  });

  it('is checked when the limiter is built', () => {
    expect(() => limiterOn(new MemoryStore(), { hasStoredConfig: true as never })).toThrow(
      expect.objectContaining({ code: 'ERR_TOLLGATE_INVALID_OPTION', field: 'hasStoredConfig' }),
    );
  });

  it('rejects with what it throws, never taken for a store failure', async () => {
    const bug = new TypeError('bug in hasStoredConfig');
    for (const store of [new MemoryStore(), countingStore()]) {
      const limiter = limiterOn(store, {
        onUnavailable: 'allow',
        hasStoredConfig: () => {
          throw bug;
        },
      });
      await expect(limiter.tryAcquire({ entity: 'key-1' })).rejects.toBe(bug);
    }
  });
});
