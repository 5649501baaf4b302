/**
 * The packages as a user installs them: `npm pack`, unpacked into a consumer's
 * node_modules, imported from ESM and CommonJS, in JavaScript and TypeScript,
 * without the source condition the rest of the suite uses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the repository, so that peer dependencies (lru-cache, the AWS SDK, express) resolve
// from the root node_modules while @tollgate/* resolve to the packed copies.
const consumer = join(root, '.tollgate', 'consumer');
const packages = [
  'core',
  'dynamodb',
  'express',
  'koa',
  'fastify',
  'redis',
  'prometheus',
  'opentelemetry',
] as const;

function run(command: string, args: string[], cwd = root): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  rmSync(consumer, { recursive: true, force: true });
  mkdirSync(join(consumer, 'node_modules', '@tollgate'), { recursive: true });
  for (const name of packages) {
    const dir = join(root, 'packages', name);
    if (!existsSync(join(dir, 'dist', 'index.js'))) run('npm', ['run', 'build', '-w', `@tollgate/${name}`]);
    const tarball = run('npm', ['pack', '--silent', '--pack-destination', consumer], dir)
      .trim()
      .split('\n')
      .pop()!;
    const target = join(consumer, 'node_modules', '@tollgate', name);
    mkdirSync(target, { recursive: true });
    run('tar', ['-xzf', join(consumer, tarball), '-C', target, '--strip-components=1']);
  }
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
}, 180_000);

describe('packed packages', () => {
  it('ship only built files', () => {
    const files = readdirSync(join(consumer, 'node_modules', '@tollgate', 'core')).sort();
    expect(files).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(join(consumer, 'node_modules', '@tollgate', 'core', 'dist'))).toEqual(
      expect.arrayContaining(['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']),
    );
  });

  it('import from ESM JavaScript and decide', () => {
    writeFileSync(
      join(consumer, 'esm.mjs'),
      `import { RateLimiter, MemoryStore, Limit, RateLimitExceeded } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { rateLimit as expressRateLimit } from '@tollgate/express';
import { rateLimit as koaRateLimit } from '@tollgate/koa';
import { rateLimit as fastifyRateLimit } from '@tollgate/fastify';
const limiter = new RateLimiter({ store: new MemoryStore({ maxKeys: 10 }), limits: [Limit.perMinute('rpm', 1)] });
await limiter.acquire({ entity: 'k' });
const error = await limiter.acquire({ entity: 'k' }).catch((e) => e);
console.log(error instanceof RateLimitExceeded, typeof DynamoDBStore, typeof expressRateLimit({ limiter }), typeof koaRateLimit({ limiter }), typeof fastifyRateLimit);
`,
    );
    expect(run('node', ['esm.mjs'], consumer).trim()).toBe('true function function function function');
  });

  it('load the Redis store, the metrics packages and the internal entry from ESM and CommonJS', () => {
    writeFileSync(
      join(consumer, 'more.mjs'),
      `import { RedisStore } from '@tollgate/redis';
import { collectMetrics } from '@tollgate/prometheus';
import { collectOpenTelemetryMetrics } from '@tollgate/opentelemetry';
import { gcra } from '@tollgate/core/internal';
console.log(typeof RedisStore, typeof collectMetrics, typeof collectOpenTelemetryMetrics, typeof gcra.isAdmissible);
`,
    );
    writeFileSync(
      join(consumer, 'more.cjs'),
      `const { RedisStore } = require('@tollgate/redis');
const { collectMetrics } = require('@tollgate/prometheus');
const { collectOpenTelemetryMetrics } = require('@tollgate/opentelemetry');
const { gcra } = require('@tollgate/core/internal');
console.log(typeof RedisStore, typeof collectMetrics, typeof collectOpenTelemetryMetrics, typeof gcra.isAdmissible);
`,
    );
    for (const file of ['more.mjs', 'more.cjs']) {
      expect(run('node', [file], consumer).trim()).toBe('function function function function');
    }
  });

  it('require from CommonJS JavaScript and decide', () => {
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      `const { RateLimiter, MemoryStore, Limit, isRateLimitExceeded } = require('@tollgate/core');
const { DynamoDBStore } = require('@tollgate/dynamodb');
const { rateLimit } = require('@tollgate/express');
const fastify = require('fastify');
const { rateLimit: fastifyRateLimit } = require('@tollgate/fastify');
const limiter = new RateLimiter({ store: new MemoryStore({ maxKeys: 10 }), limits: [Limit.perMinute('rpm', 1)] });
(async () => {
  await limiter.acquire({ entity: 'k' });
  const error = await limiter.acquire({ entity: 'k' }).catch((e) => e);
  const app = fastify();
  await app.register(fastifyRateLimit, { limiter: new RateLimiter({ store: new MemoryStore(), limits: [Limit.perMinute('rpm', 1)] }) });
  app.get('/', () => 'ok');
  const statuses = [(await app.inject('/')).statusCode, (await app.inject('/')).statusCode];
  console.log(isRateLimitExceeded(error), typeof DynamoDBStore, typeof rateLimit({ limiter }), statuses.join(' '));
})();
`,
    );
    expect(run('node', ['cjs.cjs'], consumer).trim()).toBe('true function function 200 429');
  });

  it('type-check from ESM and CommonJS TypeScript with node16 resolution', () => {
    const source = (
      kind: string,
    ) => `import { RateLimiter, MemoryStore, Limit, type LimitStatus, type Store } from '@tollgate/core';
import { DynamoDBStore } from '@tollgate/dynamodb';
import { rateLimit } from '@tollgate/express';
import { rateLimit as fastifyRateLimit } from '@tollgate/fastify';
import Fastify from 'fastify';
const store: Store = new MemoryStore();
const limiter = new RateLimiter({ store, limits: [Limit.perMinute('rpm', 1)] });
export async function ${kind}(): Promise<readonly LimitStatus[]> {
  const decision = await limiter.tryAcquire({ entity: 'k', consume: { rpm: 1 } });
  void rateLimit({ limiter, entity: (req) => req.ip ?? 'unknown' });
  const app = Fastify();
  await app.register(fastifyRateLimit, { limiter, entity: (request) => request.ip });
  app.get('/', { config: { rateLimit: { consume: { rpm: 1 } } } }, (request) => request.rateLimit?.degraded);
  void DynamoDBStore;
  return decision.statuses;
}
`;
    writeFileSync(join(consumer, 'esm.mts'), source('esm'));
    writeFileSync(join(consumer, 'cjs.cts'), source('cjs'));
    // One program per format: a program mixing both would see two copies of the global
    // `Express.Request` augmentation (one per format of @tollgate/core's types).
    for (const file of ['esm.mts', 'cjs.cts']) {
      writeFileSync(
        join(consumer, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'node16',
            moduleResolution: 'node16',
            target: 'es2022',
            strict: true,
            noEmit: true,
            // Our declarations are still checked where the consumer uses them; the AWS SDK's are not.
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files: [file],
        }),
      );
      expect(() =>
        run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], consumer),
      ).not.toThrow();
    }
  });
});
