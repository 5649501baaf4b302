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
    'packages/core/src/http/proxy-check.ts',
  ]) {
    for (const match of readFileSync(`${root}${file}`, 'utf8').matchAll(/\b(?:ERR|WARN)_TOLLGATE_[A-Z_]+/g))
      codes.add(match[0]);
  }
  return codes;
}

describe('docs/errors.md', () => {
  it('documents every error and warning code the core can produce', () => {
    const missing = [...codesInSources()].filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
