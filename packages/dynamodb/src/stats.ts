import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { recordRoundTrips, type StoreCallStats, type StoreStats } from '@tollgate/core';

/** Whether a request reads or writes, to attribute `CapacityUnits` when DynamoDB reports only the total. */
export type CapacityKind = 'read' | 'write';

/**
 * Counters per kind of store call: invocations, requests sent (round trips,
 * including failed and retried ones) and the capacity DynamoDB reported.
 * DynamoDB reports no capacity for a request that fails (a failed condition
 * still costs write units on AWS), so those are counted as round trips only.
 */
export class StatsRecorder {
  private readonly counters: StoreStats = {};

  /** Counts one invocation of a store method. */
  call(kind: string): void {
    this.entry(kind).calls += 1;
  }

  /** Counts one request sent on behalf of `kind`. */
  roundTrip(kind: string): void {
    this.entry(kind).roundTrips += 1;
    recordRoundTrips();
  }

  /** Adds the capacity a response reported. */
  capacity(
    kind: string,
    consumed: ConsumedCapacity | readonly ConsumedCapacity[] | undefined,
    as: CapacityKind,
  ): void {
    if (consumed === undefined) return;
    const entry = this.entry(kind);
    for (const item of Array.isArray(consumed) ? consumed : [consumed as ConsumedCapacity]) {
      const read = item.ReadCapacityUnits;
      const write = item.WriteCapacityUnits;
      if (read !== undefined || write !== undefined) {
        entry.readCapacityUnits += read ?? 0;
        entry.writeCapacityUnits += write ?? 0;
      } else if (as === 'read') entry.readCapacityUnits += item.CapacityUnits ?? 0;
      else entry.writeCapacityUnits += item.CapacityUnits ?? 0;
    }
  }

  /** A copy of every counter. */
  snapshot(): StoreStats {
    return structuredClone(this.counters);
  }

  /** Clears every counter. */
  reset(): void {
    for (const kind of Object.keys(this.counters)) delete this.counters[kind];
  }

  private entry(kind: string): StoreCallStats {
    let entry = this.counters[kind];
    if (!entry) {
      entry = { calls: 0, roundTrips: 0, readCapacityUnits: 0, writeCapacityUnits: 0 };
      this.counters[kind] = entry;
    }
    return entry;
  }
}
