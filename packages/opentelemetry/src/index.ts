import { type Attributes, type MeterProvider, metrics } from '@opentelemetry/api';
import {
  type DecisionMessage,
  type LeaseSettlementMessage,
  type StoreCallMessage,
  subscribeDiagnostics,
} from '@tollgate/core';

/** Name (and instrumentation scope) of the meter the instruments are created on. */
export const METER_NAME = 'tollgate';

/** Bucket boundaries (seconds) advised for both duration histograms: from 100 µs to 2.5 s. */
export const DEFAULT_DURATION_BOUNDARIES: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Options of {@link collectOpenTelemetryMetrics}. */
export interface CollectOpenTelemetryMetricsOptions {
  /**
   * The provider to take the `tollgate` meter from. Default: the global one
   * (`metrics.getMeterProvider()`), as registered by the OpenTelemetry SDK.
   */
  meterProvider?: MeterProvider;
  /** Bucket boundaries (seconds) advised for the duration histograms. Default {@link DEFAULT_DURATION_BOUNDARIES}. */
  boundaries?: readonly number[];
}

/** What {@link collectOpenTelemetryMetrics} returns. */
export interface OpenTelemetryCollector {
  /** Unsubscribes from Tollgate's channels: the instruments stop changing. */
  stop(): void;
}

/**
 * Subscribes to Tollgate's `node:diagnostics_channel` messages and records
 * them on the meter `tollgate`, with the same meaning and attributes as the
 * Prometheus metrics of `@tollgate/prometheus`:
 *
 * - `tollgate.decisions` (counter) `{outcome, limit}`: `outcome` is `admitted`, `limited`,
 *   `unavailable` or `invalid`; `limit` (only on `limited`) names the limit that was short;
 * - `tollgate.decision.duration` (histogram, `s`) `{outcome}`;
 * - `tollgate.store.calls` (counter) `{operation, outcome}`: `outcome` is `ok` or `error`;
 * - `tollgate.store.call.duration` (histogram, `s`) `{operation}`;
 * - `tollgate.store.round_trips` (counter) `{operation}`: requests the store sent to its
 *   backend, retries included (stores that do not report them add nothing);
 * - `tollgate.lease.settlements` (counter) `{kind}`: `commit` or `rollback`.
 *
 * OpenTelemetry's Prometheus exporter names them `tollgate_decisions_total`,
 * `tollgate_decision_duration_seconds`, ... like `@tollgate/prometheus`.
 * No attribute carries an entity or a resource.
 *
 * The global meter provider only records once the SDK registered it: start
 * the SDK first, or pass `meterProvider`.
 *
 * @example
 * import { collectOpenTelemetryMetrics } from '@tollgate/opentelemetry';
 *
 * sdk.start();                        // NodeSDK with a metric reader
 * collectOpenTelemetryMetrics();      // records on metrics.getMeter('tollgate')
 */
export function collectOpenTelemetryMetrics(
  options: CollectOpenTelemetryMetricsOptions = {},
): OpenTelemetryCollector {
  const provider = options.meterProvider ?? metrics.getMeterProvider();
  const meter = provider.getMeter(METER_NAME);
  const advice = { explicitBucketBoundaries: [...(options.boundaries ?? DEFAULT_DURATION_BOUNDARIES)] };

  const decisions = meter.createCounter('tollgate.decisions', {
    description: 'Rate limit decisions by outcome and, when limited, the limit that was short.',
  });
  const decisionDuration = meter.createHistogram('tollgate.decision.duration', {
    description: 'Time to decide one request, store call included.',
    unit: 's',
    advice,
  });
  const storeCalls = meter.createCounter('tollgate.store.calls', {
    description: 'Calls from the limiter to its store by operation and outcome (ok, error).',
  });
  const storeCallDuration = meter.createHistogram('tollgate.store.call.duration', {
    description: 'Time the limiter waited for one store call (up to its deadline).',
    unit: 's',
    advice,
  });
  const storeRoundTrips = meter.createCounter('tollgate.store.round_trips', {
    description:
      'Requests the store sent to its backend for the limiter, retries included. A coalesced write counts once.',
  });
  const settlements = meter.createCounter('tollgate.lease.settlements', {
    description: 'Leases settled, by kind (commit, rollback).',
  });

  const unsubscribe = subscribeDiagnostics({
    decision(message: DecisionMessage) {
      const attributes: Attributes =
        message.limit === undefined
          ? { outcome: message.outcome }
          : { outcome: message.outcome, limit: message.limit };
      decisions.add(1, attributes);
      decisionDuration.record(message.durationMs / 1000, { outcome: message.outcome });
    },
    store(message: StoreCallMessage) {
      storeCalls.add(1, { operation: message.operation, outcome: 'error' in message ? 'error' : 'ok' });
      storeCallDuration.record(message.durationMs / 1000, { operation: message.operation });
      if (message.roundTrips !== undefined)
        storeRoundTrips.add(message.roundTrips, { operation: message.operation });
    },
    lease(message: LeaseSettlementMessage) {
      settlements.add(1, { kind: message.kind });
    },
  });
  return { stop: unsubscribe };
}
