import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { isRateLimitExceeded, Limit, RateLimiter } from '@tollgate/core';
import { createTestTable, type DynamoDBLocal, localClient, useDynamoDBLocal } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBStore } from '../src/dynamodb-store.js';
import {
  ACQUIRE_ACTIONS,
  ADMIN_ACTIONS,
  AGGREGATOR_TABLE_ACTIONS,
  COMMAND_ACTIONS,
  READ_ONLY_ACTIONS,
  TRANSACTION_ITEM_ACTIONS,
} from '../src/template/index.js';

const SOURCE = fileURLToPath(new URL('../src/', import.meta.url));

/** The IAM actions that authorize one sent command (a transaction: the actions of its items). */
function actionsOf(commandName: string, input: Record<string, unknown>): string[] {
  const actions = COMMAND_ACTIONS[commandName as keyof typeof COMMAND_ACTIONS];
  if (actions === undefined)
    throw new Error(`No IAM actions known for ${commandName}: add it to COMMAND_ACTIONS`);
  const items = (input['TransactItems'] as Record<string, unknown>[] | undefined) ?? [];
  const itemActions = items.flatMap((item) =>
    Object.keys(item).map((kind) => TRANSACTION_ITEM_ACTIONS[kind as keyof typeof TRANSACTION_ITEM_ACTIONS]),
  );
  return [...actions, ...itemActions];
}

/** SDK command classes constructed in the given source files. */
function commandsConstructedIn(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/new (\w+Command)\(/g)) names.add(match[1]!);
  }
  return names;
}

function sourceFiles(directory: string, exclude: (path: string) => boolean = () => false): string[] {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts'))
    .map((path) => join(directory, path))
    .filter((path) => !exclude(path));
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

describe('IAM actions against the code (static)', () => {
  // table.ts provisions tables for development (`createTable`); in production CloudFormation does.
  const storeFiles = sourceFiles(
    SOURCE,
    (path) => path.includes('/aggregator') || path.includes('/template/') || path.endsWith('/table.ts'),
  );

  it('knows the IAM actions of every command the store constructs, and the admin policy covers them all', () => {
    const commands = commandsConstructedIn(storeFiles);
    expect(commands.size).toBeGreaterThan(0);
    const needed = [...commands].flatMap((name) => actionsOf(name, {}));
    // The store's transactions are made of Update items.
    needed.push(TRANSACTION_ITEM_ACTIONS.Update);
    for (const action of needed) expect(ADMIN_ACTIONS).toContain(action);
  });

  it('gives the aggregator function exactly the table actions of the commands its Lambda code sends', () => {
    const lambdaFiles = sourceFiles(join(SOURCE, 'aggregator'), (path) => path.endsWith('local-runner.ts'));
    const actions = [...commandsConstructedIn(lambdaFiles)].flatMap((name) => actionsOf(name, {}));
    expect(sorted(actions)).toEqual(sorted(AGGREGATOR_TABLE_ACTIONS));
  });
});

describe('IAM actions against the calls the store sends (DynamoDB Local)', () => {
  let local: DynamoDBLocal;
  let client: DynamoDBClient;
  let tableName: string;
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  let recording = false;

  beforeAll(async () => {
    local = await useDynamoDBLocal();
    // A client of its own, so that the recording middleware sees only this test's calls.
    client = localClient(local.endpoint);
    tableName = await createTestTable(client, 'iam');
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (recording)
          sent.push({ command: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  });

  afterAll(async () => {
    client?.destroy();
    await local?.stop();
  });

  async function record(work: () => Promise<void>): Promise<string[]> {
    sent.length = 0;
    recording = true;
    try {
      await work();
    } finally {
      recording = false;
    }
    return sorted(sent.flatMap(({ command, input }) => actionsOf(command, input)));
  }

  it('the acquire-only policy lists exactly the actions of the request path: acquire, cascade, adjust, rollback, reject, available', async () => {
    const store = new DynamoDBStore({ tableName, client, namespace: 'acquire-path' });
    const limiter = new RateLimiter({
      store,
      timeoutMs: 20_000,
      limits: [Limit.perMinute('rpm', 3), Limit.perMinute('tpm', 1000)],
    });
    await limiter.createEntity({ id: 'org' });
    await limiter.createEntity({ id: 'key', parent: 'org', cascade: true });
    await limiter.setLimits({ entity: 'org' }, [
      Limit.perMinute('rpm', 100),
      Limit.perMinute('tpm', 100_000),
    ]);

    const actions = await record(async () => {
      const solo = await limiter.acquire({ entity: 'solo', resource: 'chat', consume: { rpm: 1, tpm: 100 } });
      await solo.adjust({ tpm: 50 });
      await solo.commit();
      const cascaded = await limiter.acquire({
        entity: 'key',
        resource: 'chat',
        consume: { rpm: 1, tpm: 10 },
      });
      await cascaded.rollback();
      for (let i = 0; i < 5; i++) {
        try {
          await limiter.acquire({ entity: 'solo', resource: 'chat', consume: { rpm: 1 } });
        } catch (error) {
          if (!isRateLimitExceeded(error)) throw error;
        }
      }
      await limiter.available({ entity: 'solo', resource: 'chat' });
      await limiter.timeUntilAvailable({ entity: 'key', resource: 'chat', consume: { rpm: 1 } });
    });

    expect(sent.map(({ command }) => command)).toContain('TransactWriteItemsCommand');
    expect(actions).toEqual(sorted(ACQUIRE_ACTIONS));
  });

  it('the read-only policy covers reading entities, children, limits and usage', async () => {
    const store = new DynamoDBStore({ tableName, client, namespace: 'read-path' });
    const limiter = new RateLimiter({ store, timeoutMs: 20_000, limits: [Limit.perMinute('rpm', 3)] });
    await limiter.createEntity({ id: 'org' });
    await limiter.setLimits({ entity: 'org' }, [Limit.perMinute('rpm', 100)]);

    const actions = await record(async () => {
      await limiter.getEntity('org');
      await limiter.getChildren('org');
      await limiter.getLimits({ entity: 'org' });
      await limiter.getUsage({ entity: 'org', window: 'hour' });
    });
    for (const action of actions) expect(READ_ONLY_ACTIONS).toContain(action);
  });

  it('the admin policy covers every administrative call', async () => {
    const store = new DynamoDBStore({ tableName, client, namespace: 'admin-path' });
    const limiter = new RateLimiter({ store, timeoutMs: 20_000, limits: [Limit.perMinute('rpm', 3)] });

    const actions = await record(async () => {
      await limiter.createEntity({ id: 'org' });
      await limiter.createEntity({ id: 'key', parent: 'org' });
      await limiter.setLimits({}, [Limit.perMinute('rpm', 100)]);
      await limiter.setLimits({ resource: 'chat' }, [Limit.perMinute('rpm', 50)]);
      await limiter.setLimits({ entity: 'key', resource: 'chat' }, [Limit.perMinute('rpm', 10)]);
      await limiter.acquire({ entity: 'key', resource: 'chat' });
      await limiter.reset({ entity: 'key', resource: 'chat' });
      await limiter.acquire({ entity: 'key', resource: 'chat' });
      await limiter.reset({ entity: 'key' });
      await limiter.createEntity({ id: 'org-2' });
      await limiter.updateEntity('key', { parent: 'org-2', name: 'Key' });
      await limiter.updateEntity('key', { parent: null });
      await limiter.deleteLimits({ resource: 'chat' });
      await limiter.deleteEntity('key');
      await limiter.deleteEntity('org');
      await limiter.deleteEntity('org-2');
    });
    for (const action of actions) expect(ADMIN_ACTIONS).toContain(action);
  });
});
