import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/errors.md`, 'utf8');

/** Every `ERR_TOLLGATE_*` / `WARN_TOLLGATE_*` literal in the shipped sources. */
function codesInSources(): Set<string> {
  const codes = new Set<string>();
  for (const file of [
    'packages/core/src/errors.ts',
    'packages/core/src/limiter/warnings.ts',
    'packages/core/src/limiter/rate-limiter.ts',
    'packages/core/src/http/http-rate-limit.ts',
    'packages/core/src/http/warnings.ts',
  ]) {
    for (const match of readFileSync(`${root}${file}`, 'utf8').matchAll(/\b(?:ERR|WARN)_TOLLGATE_[A-Z_]+/g))
      codes.add(match[0]);
  }
  return codes;
}

describe('docs/errors.md', () => {
  it('documents every code the CLI prints', () => {
    const cliSources = [
      'commands/limits.ts',
      'commands/bench.ts',
      'commands/table.ts',
      'deploy/stack-deployer.ts',
      'local/local-instance.ts',
    ];
    const codes = new Set(
      cliSources.flatMap((file) =>
        [
          ...readFileSync(`${root}packages/cli/src/${file}`, 'utf8').matchAll(/\bERR_TOLLGATE_CLI_[A-Z_]+/g),
        ].map((m) => m[0]),
      ),
    );
    expect(codes.size).toBeGreaterThan(10);
    expect([...codes].filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
  });

  it('documents every error and warning code the core can produce', () => {
    const missing = [...codesInSources()].filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
