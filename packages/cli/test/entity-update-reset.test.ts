import { type EntityRecord, MAX_CASCADE_DEPTH, RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import {
  createTestTable,
  type DynamoDBLocal,
  localClientConfig,
  useDynamoDBLocal,
} from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.js';
import { type CapturedRun, runInProcess } from './run-in-process.js';

interface JsonError {
  error: { code: string; message: string };
}

describe('tollgate entity update and entity reset against DynamoDB Local', () => {
  let local: DynamoDBLocal;
  let table: string;
  let connection: string[];

  beforeAll(async () => {
    local = await useDynamoDBLocal();
    table = await createTestTable(local.client, 'cli-entity');
    connection = ['--endpoint', local.endpoint, '--table', table];
  });

  afterAll(async () => {
    await local?.stop();
  });

  function tollgate(...args: string[]): Promise<CapturedRun> {
    return runInProcess([...args, ...connection]);
  }

  /** Runs a command with `--json` that must succeed, and parses its result. */
  async function json<T>(...args: string[]): Promise<T> {
    const run = await tollgate(...args, '--json');
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as T;
  }

  /** Runs a command with `--json` that must fail with `exitCode`, and parses its error. */
  async function jsonError(exitCode: number, ...args: string[]): Promise<JsonError['error']> {
    const run = await tollgate(...args, '--json');
    expect(run.code, run.stderr).toBe(exitCode);
    expect(run.stdout).toBe('');
    return (JSON.parse(run.stderr) as JsonError).error;
  }

  async function create(id: string, ...flags: string[]): Promise<EntityRecord> {
    return json<EntityRecord>('entity', 'create', id, ...flags);
  }

  async function childIds(parent: string): Promise<string[]> {
    return (await json<EntityRecord[]>('entity', 'children', parent)).map((child) => child.id);
  }

  /** A limiter over the same table, as an application would run it: stored limits only, no defaults. */
  function appLimiter(): RateLimiter {
    const store = new DynamoDBStore({ tableName: table, clientConfig: localClientConfig(local.endpoint) });
    return new RateLimiter({ store, timeoutMs: 20_000, limits: [] });
  }

  /** Acquires one `rpm` token at a time until refused; how many were admitted (at most `max`). */
  async function admittedBurst(entity: string, resource: string, max: number): Promise<number> {
    const limiter = appLimiter();
    try {
      for (let admitted = 0; admitted < max; admitted += 1) {
        const decision = await limiter.tryAcquire({ entity, resource, consume: { rpm: 1 } });
        if (!decision.allowed) return admitted;
        await decision.lease.commit();
      }
      return max;
    } finally {
      await limiter.close();
    }
  }

  describe('entity update', () => {
    it('moves an entity under another parent, visible through entity get and children', async () => {
      await create('org-a');
      await create('org-b');
      const key = await create('key-move', '--parent', 'org-a', '--cascade', '--name', 'Move me');
      const updated = await json<EntityRecord>('entity', 'update', 'key-move', '--parent', 'org-b');
      expect(updated).toEqual({ ...key, parent: 'org-b' });
      expect(await json<EntityRecord>('entity', 'get', 'key-move')).toEqual(updated);
      expect(await childIds('org-b')).toEqual(['key-move']);
      expect(await childIds('org-a')).toEqual([]);
    });

    it('prints the updated record as a table for people', async () => {
      await create('org-human');
      await create('key-human');
      const run = await tollgate('entity', 'update', 'key-human', '--parent', 'org-human');
      expect(run.code, run.stderr).toBe(EXIT.ok);
      expect(run.stdout).toMatch(/^Updated entity key-human\n/);
      expect(run.stdout).toContain('org-human');
    });

    it('detaches an entity with --detach, keeping everything else', async () => {
      await create('org-detach');
      const key = await create('key-detach', '--parent', 'org-detach', '--metadata', '{"plan":"pro"}');
      const detached = await json<EntityRecord>('entity', 'update', 'key-detach', '--detach');
      const { parent: _, ...rest } = key;
      expect(detached).toEqual(rest);
      expect(await childIds('org-detach')).toEqual([]);
    });

    it('sets and clears the cascade flag, name and metadata', async () => {
      await create('org-fields');
      await create('key-fields', '--parent', 'org-fields');
      const set = await json<EntityRecord>(
        'entity',
        'update',
        'key-fields',
        '--cascade',
        '--name',
        'Key',
        '--metadata',
        '{"plan":"pro","seats":3}',
      );
      expect(set).toMatchObject({ cascade: true, name: 'Key', metadata: { plan: 'pro', seats: 3 } });
      const cleared = await json<EntityRecord>(
        'entity',
        'update',
        'key-fields',
        '--no-cascade',
        '--clear-name',
        '--clear-metadata',
      );
      expect(cleared).toEqual({
        id: 'key-fields',
        parent: 'org-fields',
        cascade: false,
        createdAt: set.createdAt,
      });
    });

    it('refuses a cycle with ERR_TOLLGATE_ENTITY_CYCLE, exit 4, and changes nothing', async () => {
      const root = await create('org-cycle');
      await create('team-cycle', '--parent', 'org-cycle');
      await create('key-cycle', '--parent', 'team-cycle');
      const error = await jsonError(EXIT.conflict, 'entity', 'update', 'org-cycle', '--parent', 'key-cycle');
      expect(error.code).toBe('ERR_TOLLGATE_ENTITY_CYCLE');
      expect(await json<EntityRecord>('entity', 'get', 'org-cycle')).toEqual(root);
      const own = await jsonError(EXIT.conflict, 'entity', 'update', 'org-cycle', '--parent', 'org-cycle');
      expect(own.code).toBe('ERR_TOLLGATE_ENTITY_CYCLE');
      const human = await tollgate('entity', 'update', 'org-cycle', '--parent', 'key-cycle');
      expect(human.code).toBe(EXIT.conflict);
      expect(human.stderr).toMatch(/^tollgate: .*ancestors/);
    });

    it(`refuses a chain deeper than ${MAX_CASCADE_DEPTH} levels with ERR_TOLLGATE_ENTITY_TOO_DEEP, exit 4`, async () => {
      const limiter = appLimiter();
      try {
        for (let level = 0; level < MAX_CASCADE_DEPTH; level += 1) {
          await limiter.createEntity({
            id: `deep-${level}`,
            ...(level > 0 ? { parent: `deep-${level - 1}` } : {}),
          });
        }
      } finally {
        await limiter.close();
      }
      await create('key-deep');
      const last = `deep-${MAX_CASCADE_DEPTH - 1}`;
      const error = await jsonError(EXIT.conflict, 'entity', 'update', 'key-deep', '--parent', last);
      expect(error.code).toBe('ERR_TOLLGATE_ENTITY_TOO_DEEP');
      expect((await json<EntityRecord>('entity', 'get', 'key-deep')).parent).toBeUndefined();
      // One level higher, the key and its ancestors are exactly the limit.
      const fits = `deep-${MAX_CASCADE_DEPTH - 2}`;
      expect((await json<EntityRecord>('entity', 'update', 'key-deep', '--parent', fits)).parent).toBe(fits);
    });

    it('reports a missing entity or parent as ERR_TOLLGATE_ENTITY_NOT_FOUND, exit 3', async () => {
      const entity = await jsonError(EXIT.notFound, 'entity', 'update', 'nobody', '--name', 'x');
      expect(entity.code).toBe('ERR_TOLLGATE_ENTITY_NOT_FOUND');
      const key = await create('key-orphan');
      const parent = await jsonError(EXIT.notFound, 'entity', 'update', 'key-orphan', '--parent', 'nobody');
      expect(parent).toMatchObject({ code: 'ERR_TOLLGATE_ENTITY_NOT_FOUND' });
      expect(parent.message).toContain('nobody');
      expect(await json<EntityRecord>('entity', 'get', 'key-orphan')).toEqual(key);
    });

    it('refuses contradictory, malformed or missing changes as argument errors, naming the flags', async () => {
      for (const [flags, named] of [
        [
          ['--parent', 'org-a', '--detach'],
          ['--parent', '--detach'],
        ],
        [
          ['--name', 'x', '--clear-name'],
          ['--name', '--clear-name'],
        ],
        [
          ['--metadata', '{}', '--clear-metadata'],
          ['--metadata', '--clear-metadata'],
        ],
        [['--metadata', '{not json'], ['--metadata']],
        [['--metadata', '"a string"'], ['--metadata']],
        [[], ['--parent', '--detach', '--name', '--metadata']],
      ] as const) {
        const args = ['entity', 'update', 'key-args', ...flags];
        const error = await jsonError(EXIT.usage, ...args);
        expect(error.code, args.join(' ')).toBe('ERR_TOLLGATE_INVALID_OPTION');
        for (const flag of named) expect(error.message, args.join(' ')).toContain(flag);
        const human = await tollgate(...args);
        expect(human.code).toBe(EXIT.usage);
        expect(human.stderr).toMatch(/^tollgate: /);
        expect(human.stdout).toBe('');
      }
    });
  });

  describe('entity reset', () => {
    it('empties a charged bucket so a full burst is admitted again, keeping limits and the entity', async () => {
      const entity = await create('key-reset', '--name', 'Reset me');
      const set = await tollgate(
        'limits',
        'set',
        '--entity',
        'key-reset',
        '--resource',
        'chat',
        '-l',
        'rpm:3/hour',
      );
      expect(set.code, set.stderr).toBe(EXIT.ok);
      const limits = await json<unknown>('limits', 'get', '--entity', 'key-reset', '--resource', 'chat');
      expect(await admittedBurst('key-reset', 'chat', 10)).toBe(3);
      expect(await admittedBurst('key-reset', 'chat', 10)).toBe(0);

      const reset = await json<unknown>('entity', 'reset', 'key-reset', '--resource', 'chat');
      expect(reset).toEqual({ entity: 'key-reset', resource: 'chat', bucketsReset: 1 });

      expect(await admittedBurst('key-reset', 'chat', 10)).toBe(3);
      expect(await json<unknown>('limits', 'get', '--entity', 'key-reset', '--resource', 'chat')).toEqual(
        limits,
      );
      expect(await json<EntityRecord>('entity', 'get', 'key-reset')).toEqual(entity);
    });

    it('resets every resource of a key without --resource, also a key with no entity record', async () => {
      await tollgate('limits', 'set', '--entity', 'ip:203.0.113.7', '-l', 'rpm:2/hour');
      for (const resource of ['chat', 'embed']) {
        expect(await admittedBurst('ip:203.0.113.7', resource, 10)).toBe(2);
      }
      const run = await tollgate('entity', 'reset', 'ip:203.0.113.7');
      expect(run.code, run.stderr).toBe(EXIT.ok);
      expect(run.stdout).toBe('Reset 2 buckets of ip:203.0.113.7\n');
      for (const resource of ['chat', 'embed']) {
        expect(await admittedBurst('ip:203.0.113.7', resource, 10)).toBe(2);
      }
    });

    it('reports zero buckets, exit 0, when nothing holds state', async () => {
      expect(await json<unknown>('entity', 'reset', 'key-untouched')).toEqual({
        entity: 'key-untouched',
        bucketsReset: 0,
      });
      const run = await tollgate('entity', 'reset', 'key-untouched', '--resource', 'chat');
      expect(run.code, run.stderr).toBe(EXIT.ok);
      expect(run.stdout).toBe('Nothing to reset: no bucket of key-untouched on chat holds state\n');
    });

    it('names the flag of a resource it cannot use', async () => {
      const error = await jsonError(EXIT.usage, 'entity', 'reset', 'key-reset', '--resource', '');
      expect(error.code).toMatch(/^ERR_TOLLGATE_/);
      expect(error.message).toContain('--resource');
    });
  });
});
