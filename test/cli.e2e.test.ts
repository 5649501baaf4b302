import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Limit, RateLimiter } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { freePort, localClient } from '@tollgate/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/src/bin.ts');

/** This process's environment without the variables that would pick a table or endpoint for the CLI. */
function cliEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['TOLLGATE_ENDPOINT', 'TOLLGATE_TABLE', 'TOLLGATE_NAMESPACE', 'TOLLGATE_STATE_DIR'])
    delete env[name];
  return env;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tollgate` in a child process, as a user would (from the TypeScript sources). */
async function tollgate(...args: string[]): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--conditions=tollgate-source', '--import', 'tsx', BIN, ...args],
      { cwd: ROOT, env: cliEnvironment(), timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Consumed tokens per limit, summed over snapshots. */
function totals(snapshots: readonly { consumed: Record<string, number> }[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const snapshot of snapshots) {
    for (const [limit, tokens] of Object.entries(snapshot.consumed)) sum[limit] = (sum[limit] ?? 0) + tokens;
  }
  return sum;
}

async function json<T>(...args: string[]): Promise<T> {
  const result = await tollgate(...args, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('tollgate, end to end against DynamoDB Local', () => {
  let stateDir: string;
  let endpoint: string;
  const table = `cli-e2e-${process.pid}`;
  let connection: string[];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-cli-'));
    const port = await freePort();
    // On disk, so that the files show where the data went; in memory is the default.
    const started = await tollgate(
      'local',
      'start',
      '--port',
      String(port),
      '--state-dir',
      stateDir,
      '--db-path',
      join(stateDir, 'db'),
      '--json',
    );
    expect(started.code, started.stderr).toBe(0);
    endpoint = (JSON.parse(started.stdout) as { endpoint: string }).endpoint;
    connection = ['--endpoint', endpoint, '--table', table];
  });

  afterAll(async () => {
    if (stateDir === undefined) return;
    await tollgate('local', 'stop', '--state-dir', stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('starts DynamoDB Local detached, reports it running, and refuses a second start', async () => {
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const status = await json<{ running: boolean; answering: boolean; endpoint: string }>(
      'local',
      'status',
      '--state-dir',
      stateDir,
    );
    expect(status).toMatchObject({ running: true, answering: true, endpoint, dbPath: join(stateDir, 'db') });
    const again = await tollgate('local', 'start', '--port', new URL(endpoint).port, '--state-dir', stateDir);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('already running');
  });

  it('creates the table once (in the database files), reports it, and refuses to create it twice', async () => {
    expect((await tollgate('table', 'create', ...connection)).code).toBe(0);
    expect(await readdir(join(stateDir, 'db'))).toContain('shared-local-instance.db');
    const status = await json<{ status: string; stream: string; ttl: string }>(
      'table',
      'status',
      ...connection,
    );
    expect(status).toMatchObject({ status: 'ACTIVE', stream: 'NEW_AND_OLD_IMAGES' });
    expect(status.ttl).toContain('ttl');
    const twice = await tollgate('table', 'create', ...connection, '--json');
    expect(twice.code).toBe(4);
    expect(JSON.parse(twice.stderr)).toMatchObject({ error: { code: 'ERR_TOLLGATE_CLI_TABLE_EXISTS' } });
    expect((await tollgate('table', 'status', '--endpoint', endpoint, '--table', 'no-such-table')).code).toBe(
      3,
    );
  });

  // Fourteen CLI processes, each compiling the sources: on a busy machine they need more than the default.
  it('manages entities and limits, then usage of acquires made through the library appears after aggregation', async () => {
    expect((await tollgate('entity', 'create', 'org-1', ...connection)).code).toBe(0);
    const key = await json<{ id: string; parent: string; cascade: boolean; metadata: unknown }>(
      'entity',
      'create',
      'key-1',
      '--parent',
      'org-1',
      '--cascade',
      '--metadata',
      '{"plan":"pro"}',
      ...connection,
    );
    expect(key).toMatchObject({ id: 'key-1', parent: 'org-1', cascade: true, metadata: { plan: 'pro' } });
    expect(
      (await json<{ id: string }[]>('entity', 'children', 'org-1', ...connection)).map((e) => e.id),
    ).toEqual(['key-1']);
    expect((await tollgate('entity', 'create', 'key-1', ...connection)).code).toBe(4);
    expect((await tollgate('entity', 'get', 'nobody', ...connection)).code).toBe(3);

    const set = await tollgate(
      'limits',
      'set',
      '--entity',
      'key-1',
      '--resource',
      'chat',
      '-l',
      'rpm:100/min',
      '-l',
      'tpm:10000/min:20000',
      ...connection,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('tpm:10000/min:20000');
    const limits = await json<{ limits: unknown[] }>(
      'limits',
      'get',
      '--entity',
      'key-1',
      '--resource',
      'chat',
      ...connection,
    );
    expect(limits.limits).toEqual([
      { name: 'rpm', capacity: 100, refillAmount: 100, refillPeriodMs: 60_000 },
      { name: 'tpm', capacity: 20_000, refillAmount: 10_000, refillPeriodMs: 60_000 },
    ]);
    expect(
      (await tollgate('limits', 'set', '--resource', 'chat', '-l', 'rpm:1000/min', ...connection)).code,
    ).toBe(0);
    expect((await tollgate('limits', 'get', '--entity', 'org-1', ...connection)).code).toBe(3);

    const store = new DynamoDBStore({ tableName: table, client: localClient(endpoint) });
    const limiter = new RateLimiter({ store, timeoutMs: 20_000, limits: [Limit.perMinute('rpm', 10)] });
    for (const tokens of [500, 300, 200]) {
      const lease = await limiter.acquire({
        entity: 'key-1',
        resource: 'chat',
        consume: { rpm: 1, tpm: tokens },
      });
      await lease.commit();
    }
    const adjusted = await limiter.acquire({
      entity: 'key-1',
      resource: 'chat',
      consume: { rpm: 1, tpm: 100 },
    });
    await adjusted.adjust({ tpm: 42 });
    await adjusted.commit();
    store.client.destroy();

    const aggregated = await json<{ bucketChanges: number; failedBatches: number }>(
      'aggregate',
      '--once',
      '--interval',
      '50',
      ...connection,
    );
    expect(aggregated.failedBatches).toBe(0);
    expect(aggregated.bucketChanges).toBeGreaterThanOrEqual(5);

    const usage = await json<{ resource: string; window: string; consumed: Record<string, number> }[]>(
      'usage',
      '--entity',
      'key-1',
      '--resource',
      'chat',
      '--window',
      'hour',
      '--from',
      '-2h',
      ...connection,
    );
    // Normally one hourly snapshot; two if the acquires happened to straddle an hour boundary.
    expect(usage.every((snapshot) => snapshot.resource === 'chat' && snapshot.window === 'hour')).toBe(true);
    expect(totals(usage)).toEqual({ rpm: 4, tpm: 1142 });
    const daily = await json<{ consumed: Record<string, number> }[]>(
      'usage',
      '--entity',
      'key-1',
      '--window',
      'day',
      ...connection,
    );
    expect(totals(daily)).toEqual({ rpm: 4, tpm: 1142 });
    const table_ = await tollgate('usage', '--entity', 'key-1', '--window', 'day', ...connection);
    expect(table_.stdout).toMatch(/window start \(UTC\)\s*│\s*resource\s*│\s*rpm\s*│\s*tpm/);
    expect(table_.stdout).toMatch(/│\s*chat\s*│/);
  }, 120_000);

  it('refuses to delete a parent with children, deletes the child, then the parent, then the table', async () => {
    expect((await tollgate('entity', 'delete', 'org-1', ...connection)).code).toBe(4);
    expect((await tollgate('entity', 'delete', 'key-1', ...connection)).code).toBe(0);
    expect((await tollgate('entity', 'delete', 'key-1', ...connection)).code).toBe(3);
    expect((await tollgate('entity', 'delete', 'org-1', ...connection)).code).toBe(0);
    expect((await tollgate('table', 'delete', ...connection)).code).toBe(0);
    expect((await tollgate('table', 'status', ...connection)).code).toBe(3);
  });

  it('rejects a bad limit spec with exit code 2 and says what is expected', async () => {
    const bad = await tollgate('limits', 'set', '-l', 'rpm:100', ...connection);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('name:rate/period[:burst]');
  });

  it('reports an unreachable endpoint as unavailable (exit 5)', async () => {
    const port = await freePort();
    const down = await tollgate(
      'entity',
      'get',
      'x',
      '--endpoint',
      `http://127.0.0.1:${port}`,
      '--timeout',
      '2000',
    );
    expect(down.code).toBe(5);
  });
});
