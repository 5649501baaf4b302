import {
  type DecisionMessage,
  type LeaseSettlementMessage,
  type StoreCallMessage,
  subscribeDiagnostics,
} from '@tollgate/core';
import { Counter, Histogram, type Registry, register } from 'prom-client';

/**
 * Histogram buckets in seconds. Decisions on an in-process store take
 * microseconds and a DynamoDB round trip a few milliseconds, so the buckets
 * start at 100 µs, well below prom-client's default of 5 ms.
 */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prepended to every metric name. Default `'tollgate_'`. */
  prefix?: string;
  /** Buckets (seconds) of both duration histograms. Default {@link DEFAULT_DURATION_BUCKETS}. */
  buckets?: readonly number[];
}

/** What {@link collectMetrics} returns. */
export interface MetricsCollector {
  /** The registry the metrics live in: serve `await registry.metrics()` on `GET /metrics`. */
  readonly registry: Registry;
  /** Unsubscribes from Tollgate's channels and removes the metrics from the registry. */
  stop(): void;
}

/**
 * Subscribes to Tollgate's `node:diagnostics_channel` messages and keeps
 * Prometheus metrics of them (names with the default prefix):
 *
 * - `tollgate_decisions_total{outcome,limit}`: `outcome` is `admitted`, `limited`,
 *   `unavailable` or `invalid`; `limit` (only on `limited`) names the limit that was short;
 * - `tollgate_decision_duration_seconds{outcome}` (histogram);
 * - `tollgate_store_calls_total{operation,outcome}`: `outcome` is `ok` or `error`;
 * - `tollgate_store_call_duration_seconds{operation}` (histogram);
 * - `tollgate_store_round_trips_total{operation}`: requests the store sent to its backend
 *   (DynamoDB, Redis), retries included; stores that do not report them add nothing;
 * - `tollgate_lease_settlements_total{kind}`: `kind` is `commit` or `rollback`.
 *
 * No label carries an entity or a resource: label values come from the limit
 * names you configure, the store's method names and fixed outcomes.
 * It sees every limiter in the process (every copy of `@tollgate/core`).
 * Registering twice in one registry throws; {@link MetricsCollector.stop} first.
 *
 * @example
 * import { collectMetrics } from '@tollgate/prometheus';
 * import { register } from 'prom-client';
 *
 * collectMetrics();
 * app.get('/metrics', async (req, res) => {
 *   res.set('content-type', register.contentType).send(await register.metrics());
 * });
 */
export function collectMetrics(options: CollectMetricsOptions = {}): MetricsCollector {
  const registry = options.registry ?? register;
  const prefix = options.prefix ?? 'tollgate_';
  const buckets = [...(options.buckets ?? DEFAULT_DURATION_BUCKETS)];
  const registers = [registry];
  const names: string[] = [];
  const named = (name: string): string => {
    names.push(prefix + name);
    return prefix + name;
  };
  const removeAll = (): void => {
    for (const name of names) if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  };

  let decisions: Counter<'outcome' | 'limit'>;
  let decisionDuration: Histogram<'outcome'>;
  let storeCalls: Counter<'operation' | 'outcome'>;
  let storeCallDuration: Histogram<'operation'>;
  let storeRoundTrips: Counter<'operation'>;
  let settlements: Counter<'kind'>;
  try {
    decisions = new Counter({
      name: named('decisions_total'),
      help: 'Rate limit decisions by outcome (admitted, limited, unavailable, invalid) and, when limited, the limit that was short.',
      labelNames: ['outcome', 'limit'],
      registers,
    });
    decisionDuration = new Histogram({
      name: named('decision_duration_seconds'),
      help: 'Time to decide one request, store call included, in seconds.',
      labelNames: ['outcome'],
      buckets,
      registers,
    });
    storeCalls = new Counter({
      name: named('store_calls_total'),
      help: 'Calls from the limiter to its store by operation and outcome (ok, error).',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    storeCallDuration = new Histogram({
      name: named('store_call_duration_seconds'),
      help: 'Time the limiter waited for one store call (up to its deadline), in seconds.',
      labelNames: ['operation'],
      buckets,
      registers,
    });
    storeRoundTrips = new Counter({
      name: named('store_round_trips_total'),
      help: 'Requests the store sent to its backend for the limiter, retries included, by operation. A coalesced write counts once.',
      labelNames: ['operation'],
      registers,
    });
    settlements = new Counter({
      name: named('lease_settlements_total'),
      help: 'Leases settled, by kind (commit, rollback).',
      labelNames: ['kind'],
      registers,
    });
  } catch (error) {
    // A name was taken: leave the registry as it was.
    names.pop();
    removeAll();
    throw error;
  }

  const unsubscribe = subscribeDiagnostics({
    decision(message: DecisionMessage) {
      if (message.limit === undefined) decisions.inc({ outcome: message.outcome });
      else decisions.inc({ outcome: message.outcome, limit: message.limit });
      decisionDuration.observe({ outcome: message.outcome }, message.durationMs / 1000);
    },
    store(message: StoreCallMessage) {
      const outcome = 'error' in message ? 'error' : 'ok';
      storeCalls.inc({ operation: message.operation, outcome });
      storeCallDuration.observe({ operation: message.operation }, message.durationMs / 1000);
      if (message.roundTrips !== undefined)
        storeRoundTrips.inc({ operation: message.operation }, message.roundTrips);
    },
    lease(message: LeaseSettlementMessage) {
      settlements.inc({ kind: message.kind });
    },
  });

  return {
    registry,
    stop() {
      unsubscribe();
      removeAll();
    },
  };
}
