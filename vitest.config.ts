import { defineConfig } from 'vitest/config';

// Tests import the TypeScript sources of the workspace packages through the
// `tollgate-source` export condition, so no build is needed before `npm test`.
export default defineConfig({
  resolve: { conditions: ['tollgate-source', 'import', 'node', 'default'] },
  // Vitest also hands the SSR conditions to Node as `--conditions` flags; 'import' there would make
  // `require()` pick the ESM build of dual packages (is-promise in Express 5's router), so it is left out.
  ssr: { resolve: { conditions: ['tollgate-source', 'node', 'default'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One DynamoDB Local for the whole run (TOLLGATE_DYNAMODB_ENDPOINT); see packages/test-utils.
    globalSetup: ['packages/test-utils/src/dynamodb-global-setup.ts'],
    // Fails a file in which Node warns of listeners piling up (MaxListenersExceededWarning).
    setupFiles: ['packages/test-utils/src/no-leak-warnings.ts'],
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: '.tollgate/test-results.json' }]]
      : ['default'],
  },
});
