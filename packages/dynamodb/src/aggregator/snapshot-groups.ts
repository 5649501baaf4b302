import type { UsageWindow } from '@tollgate/core';
import { usageWindowMs } from '@tollgate/core/internal';
import { KeyBuilder } from '../schema.js';
import type { BucketChange } from './bucket-changes.js';

/**
 * All changes of one batch that fall into one usage snapshot. A snapshot
 * depends on exactly one bucket item, whose stream records arrive in order,
 * so `changes` are in increasing sequence order.
 */
export interface SnapshotGroup {
  readonly key: { readonly PK: string; readonly SK: string };
  readonly entity: string;
  readonly resource: string;
  readonly window: UsageWindow;
  /** Window start, ms since the epoch (UTC). */
  readonly start: number;
  readonly changes: readonly BucketChange[];
}

/** Start of the UTC window of kind `window` that contains `timeMs`. */
export function windowStart(timeMs: number, window: UsageWindow): number {
  const size = usageWindowMs(window);
  return timeMs - (((timeMs % size) + size) % size);
}

/** Groups bucket changes by the snapshots they add to: one group per (bucket, window kind, window start). */
export function groupBySnapshot(
  changes: readonly BucketChange[],
  windows: readonly UsageWindow[],
): SnapshotGroup[] {
  const groups = new Map<string, { group: SnapshotGroup; changes: BucketChange[] }>();
  for (const change of changes) {
    const keys = new KeyBuilder(change.namespace);
    for (const window of windows) {
      const start = windowStart(change.timeMs, window);
      const key = keys.usage(change.entity, change.resource, window, start);
      const id = `${key.PK}\u0000${key.SK}`;
      let entry = groups.get(id);
      if (entry === undefined) {
        const list: BucketChange[] = [];
        entry = {
          group: { key, entity: change.entity, resource: change.resource, window, start, changes: list },
          changes: list,
        };
        groups.set(id, entry);
      }
      entry.changes.push(change);
    }
  }
  const result = [...groups.values()].map((entry) => entry.group);
  for (const group of result) {
    (group.changes as BucketChange[]).sort((a, b) =>
      a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0,
    );
  }
  return result;
}

/** Sums the deltas of `changes` per limit. */
export function sumDeltas(changes: readonly BucketChange[]): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const change of changes) {
    for (const [limit, delta] of change.deltas) totals.set(limit, (totals.get(limit) ?? 0n) + delta);
  }
  return totals;
}
