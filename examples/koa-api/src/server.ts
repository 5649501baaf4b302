/**
 * `npm start -w @tollgate/example-koa-api`: the catalogue API on
 * http://127.0.0.1:3000 (PORT to change), over a MemoryStore, or over DynamoDB
 * when TOLLGATE_ENDPOINT is set. TRUST_PROXY=1 when a proxy sets X-Forwarded-For.
 */
import { RateLimiter } from '@tollgate/core';
import { createApiApp } from './app.js';
import { DEFAULT_LIMITS, ORGANISATION, ORGANISATION_KEYS, setUpPlans } from './plans.js';
import { openStore } from './store.js';

const apiStore = await openStore(process.env);
const limiter = new RateLimiter({
  store: apiStore.store,
  limits: DEFAULT_LIMITS,
  // A store that fails or misses the deadline gets 503 (the default); 'allow' would let requests through.
  onUnavailable: 'block',
  // DynamoDB Local on a cold JVM can take a second to answer; in AWS the default 500 ms is plenty.
  timeoutMs: 2_000,
});
await setUpPlans(limiter);

const port = Number(process.env['PORT'] ?? 3000);
const app = createApiApp(limiter, { proxy: process.env['TRUST_PROXY'] === '1' });
const server = app.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`;
  console.log(`Koa catalogue API on ${base}
Store: ${apiStore.description}
Keys ${ORGANISATION_KEYS.join(' and ')} cascade to ${ORGANISATION}; any other key (or none) is limited alone.

  curl -i ${base}/v1/products -H 'x-api-key: key-acme-1'
  curl -i ${base}/v1/search -H 'x-api-key: key-acme-1' -H 'content-type: application/json' \\
    -d '{"queries":["tea","coffee","tea"]}'
  curl -s ${base}/v1/quota -H 'x-api-key: key-acme-1'

Ctrl-C to stop.`);
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  // Lease writes under way finish before the store is released.
  void limiter
    .close()
    .then(() => apiStore.stop())
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
