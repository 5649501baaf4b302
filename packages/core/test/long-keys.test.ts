import { createHash } from 'node:crypto';
import {
  type DecisionMessage,
  hashedEntityId,
  Limit,
  MAX_ID_LENGTH,
  MemoryStore,
  RateLimiter,
  type RateLimiterOptions,
  type Store,
  subscribeDiagnostics,
  ValidationError,
} from '@tollgate/core';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { asRemote } from './helpers.js';

/** A JWT-like bearer token: far longer than an id may be. */
const JWT = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIiOiIxMjM0NTY3ODkwIn0'.repeat(20)}.${'s1gn4tur3_'.repeat(10)}`;
const HUGE = `key-${'z'.repeat(10_000)}`;

function limiterOn(store: Store, options: Partial<RateLimiterOptions> = {}): RateLimiter {
  return new RateLimiter({
    store,
    limits: [Limit.perMinute('rpm', 3)],
    clock: new FakeClock().read,
    ...options,
  });
}

async function refusal(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe('hashedEntityId', () => {
  it('is sha256: and the base64url SHA-256 of the UTF-8 bytes, 50 characters', () => {
    const key = `ключ-🔑-${'x'.repeat(300)}`;
    const digest = createHash('sha256').update(Buffer.from(key, 'utf8')).digest('base64url');
    expect(hashedEntityId(key)).toBe(`sha256:${digest}`);
    expect(hashedEntityId(key)).toHaveLength(50);
    expect(hashedEntityId(JWT)).toBe(hashedEntityId(`${JWT}`));
    expect(hashedEntityId(JWT)).not.toBe(hashedEntityId(`${JWT}.`));
  });
});

describe("longKeys: 'hash' (the default)", () => {
  it.each([
    ['in process', () => new MemoryStore({ maxKeys: 100 })],
    ['behind a network', () => asRemote()],
  ])('limits a long key in one bucket shared by every limiter on the store (%s)', async (_, makeStore) => {
    const store = makeStore();
    const first = limiterOn(store);
    const second = limiterOn(store);
    expect((await first.tryAcquire({ entity: JWT })).allowed).toBe(true);
    expect((await second.tryAcquire({ entity: JWT })).allowed).toBe(true);
    expect((await first.tryAcquire({ entity: JWT })).allowed).toBe(true);
    const refused = await second.tryAcquire({ entity: JWT });
    expect(refused.allowed).toBe(false);
    // A key one character longer is another bucket.
    expect((await first.tryAcquire({ entity: `${JWT}x` })).allowed).toBe(true);
    expect(await second.available({ entity: JWT })).toEqual({ rpm: 0 });
    expect(await first.available({ entity: hashedEntityId(JWT) })).toEqual({ rpm: 0 });
  });

  it('takes a 10 000-character key, and names only its hashed id in statuses, leases and errors', async () => {
    const limiter = limiterOn(new MemoryStore({ maxKeys: 100 }));
    const lease = await limiter.acquire({ entity: HUGE, consume: { rpm: 3 } });
    expect(lease.entity).toBe(hashedEntityId(HUGE));
    const refused = await limiter.tryAcquire({ entity: HUGE });
    expect(refused.allowed).toBe(false);
    if (refused.allowed) return;
    expect(refused.statuses.map((status) => status.entity)).toEqual([hashedEntityId(HUGE)]);
    for (const text of [
      refused.error.message,
      JSON.stringify(refused.error),
      JSON.stringify(refused.error.toBody({ exposeEntities: true })),
    ]) {
      expect(text).not.toContain('zzzz');
    }
    expect(await limiter.timeUntilAvailable({ entity: HUGE })).toBe(20_000);
  });

  it('leaves ids of up to 256 characters as they are', async () => {
    const limiter = limiterOn(new MemoryStore({ maxKeys: 100 }));
    const longest = 'k'.repeat(MAX_ID_LENGTH);
    const lease = await limiter.acquire({ entity: longest });
    expect(lease.entity).toBe(longest);
    expect(await limiter.available({ entity: longest })).toEqual({ rpm: 2 });
    expect(await limiter.available({ entity: hashedEntityId(longest) })).toEqual({ rpm: 3 });
  });

  it('maps a long key the same way in every call that takes an entity id', async () => {
    const limiter = limiterOn(new MemoryStore({ maxKeys: 100 }));
    const parent = `org-${'o'.repeat(400)}`;
    const id = hashedEntityId(JWT);
    const org = await limiter.createEntity({ id: parent, name: 'Org' });
    expect(org.id).toBe(hashedEntityId(parent));
    const record = await limiter.createEntity({ id: JWT, parent, cascade: true });
    expect(record).toMatchObject({ id, parent: hashedEntityId(parent) });
    expect(await limiter.getEntity(JWT)).toEqual(record);
    expect(await limiter.getEntity(id)).toEqual(record);
    expect((await limiter.getChildren(parent)).map((child) => child.id)).toEqual([id]);

    await limiter.setLimits({ entity: parent }, [Limit.perMinute('rpm', 2)]);
    await limiter.setLimits({ entity: JWT, resource: 'chat' }, [Limit.perMinute('rpm', 10)]);
    expect(await limiter.getLimits({ entity: id, resource: 'chat' })).toEqual([Limit.perMinute('rpm', 10)]);
    await limiter.acquire({ entity: JWT, resource: 'chat' });
    const decision = await limiter.tryAcquire({ entity: JWT, resource: 'chat' });
    expect(decision.statuses.map((status) => status.entity)).toEqual([id, hashedEntityId(parent)]);

    const [usage] = await limiter.getUsage({ entity: JWT, window: 'hour' });
    expect(usage).toMatchObject({ entity: id, resource: 'chat', consumed: { rpm: 2 } });
    expect(await limiter.reset({ entity: JWT, resource: 'chat' })).toBe(1);
    expect(await limiter.reset({ entity: parent })).toBe(1);
    expect(await limiter.available({ entity: JWT, resource: 'chat' })).toEqual({ rpm: 2 });

    const moved = await limiter.updateEntity(JWT, { parent: null, name: 'token' });
    expect(moved).toMatchObject({ id, name: 'token' });
    expect(await limiter.deleteLimits({ entity: JWT, resource: 'chat' })).toBe(true);
    expect(await limiter.deleteEntity(JWT)).toBe(true);
    expect(await limiter.getEntity(id)).toBeNull();
  });

  it('publishes the hashed id, not the key, on the decision channel', async () => {
    const decisions: DecisionMessage[] = [];
    stops.push(subscribeDiagnostics({ decision: (message) => decisions.push(message) }));
    const limiter = limiterOn(new MemoryStore({ maxKeys: 100 }));
    await limiter.tryAcquire({ entity: HUGE });
    await limiter.tryAcquire({ entity: HUGE, consume: { nope: 1 } }).catch(() => undefined);
    expect(decisions.map((message) => message.entity)).toEqual([hashedEntityId(HUGE), hashedEntityId(HUGE)]);
  });

  it('still refuses a long key with a lone surrogate, without repeating it', async () => {
    const limiter = limiterOn(new MemoryStore({ maxKeys: 100 }));
    const malformed = `${'q'.repeat(300)}\uD800`;
    for (const call of [
      () => limiter.tryAcquire({ entity: malformed }),
      () => limiter.available({ entity: malformed }),
      () => limiter.reset({ entity: malformed }),
      () => limiter.createEntity({ id: malformed }),
      () => limiter.setLimits({ entity: malformed }, [Limit.perMinute('rpm', 1)]),
    ]) {
      const error = await refusal(call());
      expect(error.code).toBe('ERR_TOLLGATE_INVALID_KEY');
      expect(error.message).toMatch(/lone surrogate/);
      expect(error.message).not.toContain('qqqq');
    }
  });
});

describe("longKeys: 'reject'", () => {
  it('refuses an id over 256 characters everywhere, naming its length, never the key', async () => {
    const store = new MemoryStore({ maxKeys: 100 });
    const limiter = limiterOn(store, { longKeys: 'reject' });
    for (const call of [
      () => limiter.tryAcquire({ entity: JWT }),
      () => limiter.acquire({ entity: JWT }),
      () => limiter.available({ entity: JWT }),
      () => limiter.timeUntilAvailable({ entity: JWT }),
      () => limiter.reset({ entity: JWT }),
      () => limiter.createEntity({ id: JWT }),
      () => limiter.createEntity({ id: 'child', parent: JWT }),
      () => limiter.getEntity(JWT),
      () => limiter.updateEntity(JWT, { name: 'x' }),
      () => limiter.setLimits({ entity: JWT }, [Limit.perMinute('rpm', 1)]),
      () => limiter.getUsage({ entity: JWT, window: 'hour' }),
    ]) {
      const error = await refusal(call());
      expect(error.code).toBe('ERR_TOLLGATE_INVALID_KEY');
      expect(error.message).toContain(`a string of ${JWT.length} characters`);
      expect(error.message).not.toContain(JWT.slice(0, 20));
      expect(JSON.stringify(error)).not.toContain(JWT.slice(0, 20));
    }
    expect(store.size).toBe(0);
    expect((await limiter.tryAcquire({ entity: 'k'.repeat(MAX_ID_LENGTH) })).allowed).toBe(true);
  });

  it('is checked when the limiter is built', () => {
    const store = new MemoryStore({ maxKeys: 10 });
    expect(() => limiterOn(store, { longKeys: 'truncate' as never })).toThrow(
      "Expected `longKeys` to be 'hash' or 'reject', got `\"truncate\"` (string)",
    );
  });
});
