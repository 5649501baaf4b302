import {
  EntityError,
  Limit,
  MAX_CASCADE_DEPTH,
  RateLimiter,
  type Store,
  ValidationError,
} from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { asRemote, countingStore } from './helpers.js';

function setup(store: Store = countingStore()) {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 100)], clock: clock.read });
  return { clock, limiter, store };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** Two organisations with their own limit, and a key that cascades into the first. */
async function organisations(limiter: RateLimiter): Promise<void> {
  await limiter.createEntity({ id: 'org-a' });
  await limiter.createEntity({ id: 'org-b' });
  await limiter.setLimits({ entity: 'org-a' }, [Limit.perMinute('rpm', 2)]);
  await limiter.setLimits({ entity: 'org-b' }, [Limit.perMinute('rpm', 5)]);
  await limiter.createEntity({ id: 'key', parent: 'org-a', cascade: true, name: 'Key', metadata: { n: 1 } });
}

describe('updateEntity', () => {
  it.each([
    ['in process', () => countingStore()],
    ['behind a network (plan cache)', () => asRemote()],
  ])('re-parents a key: the new parent caps it at once, the old one no more (%s)', async (_, makeStore) => {
    const { limiter } = setup(makeStore());
    await organisations(limiter);
    // Warm the plan: the key cascades into org-a (2 per minute).
    await (await limiter.acquire({ entity: 'key' })).commit();

    const updated = await limiter.updateEntity('key', { parent: 'org-b' });

    expect(updated).toMatchObject({
      id: 'key',
      parent: 'org-b',
      cascade: true,
      name: 'Key',
      metadata: { n: 1 },
    });
    expect(await limiter.getEntity('key')).toEqual(updated);
    expect(await limiter.getChildren('org-a')).toEqual([]);
    expect(await limiter.getChildren('org-b')).toEqual([updated]);
    const decision = await limiter.tryAcquire({ entity: 'key' });
    expect(decision.statuses.map((status) => status.entity)).toEqual(['key', 'org-b']);
    let admitted = 1;
    while ((await limiter.tryAcquire({ entity: 'key' })).allowed) admitted += 1;
    expect(admitted).toBe(5);
    expect(await limiter.available({ entity: 'org-a' })).toEqual({ rpm: 1 });
  });

  it("keeps the key's buckets, limits and usage: moving is not recreating", async () => {
    const { limiter } = setup();
    await organisations(limiter);
    await limiter.setLimits({ entity: 'key' }, [Limit.perMinute('rpm', 10)]);
    for (let index = 0; index < 2; index += 1) await limiter.acquire({ entity: 'key' });
    const usage = await limiter.getUsage({ entity: 'key', window: 'hour' });

    await limiter.updateEntity('key', { parent: 'org-b' });

    expect(await limiter.getLimits({ entity: 'key' })).toEqual([Limit.perMinute('rpm', 10)]);
    expect(await limiter.getUsage({ entity: 'key', window: 'hour' })).toEqual(usage);
    // The key's own bucket still holds the 2 it spent: 7 left after one more.
    const decision = await limiter.tryAcquire({ entity: 'key' });
    expect(decision.statuses.find((status) => status.entity === 'key')).toMatchObject({ available: 7 });
  });

  it('detaches with parent: null, and turns cascade off and on', async () => {
    const { limiter } = setup();
    await organisations(limiter);
    const root = await limiter.updateEntity('key', { parent: null });
    expect(root).not.toHaveProperty('parent');
    expect(await limiter.getChildren('org-a')).toEqual([]);
    expect((await limiter.tryAcquire({ entity: 'key' })).statuses.map((s) => s.entity)).toEqual(['key']);

    await limiter.updateEntity('key', { parent: 'org-a', cascade: false });
    expect((await limiter.tryAcquire({ entity: 'key' })).statuses.map((s) => s.entity)).toEqual(['key']);
    await limiter.updateEntity('key', { cascade: true });
    expect((await limiter.tryAcquire({ entity: 'key' })).statuses.map((s) => s.entity)).toEqual([
      'key',
      'org-a',
    ]);
  });

  it('renames and replaces or removes metadata, keeping the rest', async () => {
    const { limiter } = setup();
    const created = await limiter.createEntity({ id: 'org', name: 'Acme', metadata: { plan: 'pro' } });
    expect(await limiter.updateEntity('org', { name: 'Acme Ltd' })).toEqual({ ...created, name: 'Acme Ltd' });
    expect(await limiter.updateEntity('org', { metadata: { plan: 'enterprise', seats: 40 } })).toEqual({
      ...created,
      name: 'Acme Ltd',
      metadata: { plan: 'enterprise', seats: 40 },
    });
    const bare = await limiter.updateEntity('org', { name: null, metadata: null });
    expect(bare).toEqual({ id: 'org', cascade: false, createdAt: created.createdAt });
    expect(await limiter.getEntity('org')).toEqual(bare);
    expect(await limiter.updateEntity('org', {})).toEqual(bare);
  });

  it('refuses a missing entity or parent with ERR_TOLLGATE_ENTITY_NOT_FOUND', async () => {
    const { limiter, store } = setup();
    await limiter.createEntity({ id: 'org' });
    await limiter.createEntity({ id: 'key' });
    const missingParent = await limiter.updateEntity('key', { parent: 'nope' }).catch((e: unknown) => e);
    expect(missingParent).toBeInstanceOf(EntityError);
    expect(missingParent).toMatchObject({ code: 'ERR_TOLLGATE_ENTITY_NOT_FOUND', entity: 'nope' });
    expect(await codeOf(limiter.updateEntity('ghost', { parent: 'org' }))).toBe(
      'ERR_TOLLGATE_ENTITY_NOT_FOUND',
    );
    expect(await codeOf(limiter.updateEntity('ghost', { name: 'x' }))).toBe('ERR_TOLLGATE_ENTITY_NOT_FOUND');
    expect(await codeOf(limiter.updateEntity('ghost', {}))).toBe('ERR_TOLLGATE_ENTITY_NOT_FOUND');
    expect(await limiter.getEntity('ghost')).toBeNull();
    expect(await limiter.getChildren('org')).toEqual([]);
    expect((store as Store & { calls: Record<string, number> }).calls['createEntity']).toBe(2);
  });

  it('refuses a cycle, through any number of levels, and changes nothing', async () => {
    const { limiter } = setup();
    await limiter.createEntity({ id: 'a' });
    await limiter.createEntity({ id: 'b', parent: 'a', cascade: true });
    await limiter.createEntity({ id: 'c', parent: 'b', cascade: true });
    await limiter.createEntity({ id: 'd', parent: 'c', cascade: true });
    for (const [id, parent] of [
      ['a', 'a'],
      ['a', 'b'],
      ['a', 'd'],
      ['b', 'd'],
      ['c', 'd'],
    ] as const) {
      const error = await limiter.updateEntity(id, { parent }).catch((e: unknown) => e);
      expect(error, `${id} under ${parent}`).toBeInstanceOf(EntityError);
      expect(error).toMatchObject({ code: 'ERR_TOLLGATE_ENTITY_CYCLE', entity: id });
    }
    expect(await limiter.getEntity('a')).not.toHaveProperty('parent');
    expect((await limiter.getChildren('d')).map((e) => e.id)).toEqual([]);
    // Moving down a branch that does not lead back is fine.
    await limiter.createEntity({ id: 'e', parent: 'a' });
    expect(await limiter.updateEntity('d', { parent: 'e' })).toMatchObject({ parent: 'e' });
  });

  it(`refuses a parent that would leave the entity deeper than ${MAX_CASCADE_DEPTH} levels`, async () => {
    const { limiter } = setup();
    // A chain of MAX_CASCADE_DEPTH - 1 entities: the deepest can still take one more level below it.
    const chain = Array.from({ length: MAX_CASCADE_DEPTH }, (_, index) => `level-${index}`);
    for (const [index, id] of chain.entries()) {
      await limiter.createEntity({ id, ...(index === 0 ? {} : { parent: chain[index - 1] }) });
    }
    await limiter.createEntity({ id: 'leaf' });
    const deepest = chain[MAX_CASCADE_DEPTH - 2] as string;
    expect(await limiter.updateEntity('leaf', { parent: deepest })).toMatchObject({ parent: deepest });
    const tooDeep = chain[MAX_CASCADE_DEPTH - 1] as string;
    const error = await limiter.updateEntity('leaf', { parent: tooDeep }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EntityError);
    expect(error).toMatchObject({ code: 'ERR_TOLLGATE_ENTITY_TOO_DEEP', entity: 'leaf' });
    expect(await limiter.getEntity('leaf')).toMatchObject({ parent: deepest });
  });

  it('walks past a cycle already stored above the new parent without looping', async () => {
    const store = countingStore();
    await store.createEntity(
      { id: 'x', parent: 'y', cascade: true, createdAt: '' },
      new AbortController().signal,
    );
    await store.createEntity(
      { id: 'y', parent: 'x', cascade: true, createdAt: '' },
      new AbortController().signal,
    );
    const { limiter } = setup(store);
    await limiter.createEntity({ id: 'key' });
    expect(await limiter.updateEntity('key', { parent: 'x' })).toMatchObject({ parent: 'x' });
  });

  it.each([
    ['changes that are not an object', 'key', null, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['an unknown field', 'key', { parnet: 'org' }, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['a changed id', 'key', { id: 'other' }, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['a non-boolean cascade', 'key', { cascade: 'yes' }, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['a non-string name', 'key', { name: 42 }, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['array metadata', 'key', { metadata: [1] }, 'ERR_TOLLGATE_INVALID_OPTION'],
    ['an empty parent id', 'key', { parent: '' }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['a non-string parent', 'key', { parent: 7 }, 'ERR_TOLLGATE_INVALID_KEY'],
    ['an empty id', '', { name: 'x' }, 'ERR_TOLLGATE_INVALID_KEY'],
  ])('refuses %s with a coded ValidationError and writes nothing', async (_, id, changes, code) => {
    const store = countingStore();
    const { limiter } = setup(store);
    await limiter.createEntity({ id: 'org' });
    const created = await limiter.createEntity({ id: 'key', name: 'Key' });
    const error = await limiter.updateEntity(id, changes as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe(code);
    expect(store.calls['updateEntity'] ?? 0).toBe(0);
    expect(await limiter.getEntity('key')).toEqual(created);
  });
});
