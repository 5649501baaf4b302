import type { TatGuess } from './bucket-update.js';
import { keyId } from './item-codec.js';

const EMPTY: TatGuess = new Map();

/**
 * The last state this store saw for each bucket, used only to guess the
 * write form of the next charge (idle or busy per limit). Bounded: the least
 * recently used bucket is forgotten first. A wrong or missing guess costs one
 * more round trip, never a wrong decision: the conditions decide.
 */
export class BucketStateCache {
  // A Map iterates in insertion order; re-inserting on use keeps the oldest first.
  private readonly states = new Map<string, TatGuess>();

  constructor(private readonly maxBuckets: number) {}

  /** The last seen tats of the bucket; empty (all idle) for a bucket never seen. */
  guess(key: { PK: string; SK: string }): TatGuess {
    const id = keyId(key);
    const tats = this.states.get(id);
    if (tats === undefined) return EMPTY;
    this.states.delete(id);
    this.states.set(id, tats);
    return tats;
  }

  /** Remembers a state as read (an old image, a read): it replaces what was known. */
  remember(key: { PK: string; SK: string }, tats: TatGuess): void {
    const id = keyId(key);
    this.states.delete(id);
    this.states.set(id, tats);
    if (this.states.size > this.maxBuckets) {
      const oldest = this.states.keys().next();
      if (!oldest.done) this.states.delete(oldest.value);
    }
  }

  /**
   * Remembers a state a charge leaves (or is about to leave): each tat only
   * moves forward, since charges in flight at the same time may complete in
   * any order. Recording a charge when it is sent lets the next charge of
   * this process guess the busy form while the first is still on the wire
   * (clocks read in whole ms give concurrent charges the same `now`).
   */
  advance(key: { PK: string; SK: string }, tats: TatGuess): void {
    const known = this.states.get(keyId(key));
    if (known === undefined) {
      this.remember(key, tats);
      return;
    }
    const merged = new Map(known);
    for (const [limit, tat] of tats) {
      const previous = merged.get(limit);
      if (previous === undefined || tat > previous) merged.set(limit, tat);
    }
    this.remember(key, merged);
  }

  /** Forgets one bucket (after resetting it). */
  forget(key: { PK: string; SK: string }): void {
    this.states.delete(keyId(key));
  }

  /** Forgets every bucket of one partition (after deleting an entity or resetting its buckets). */
  forgetPartition(partition: string): void {
    for (const id of [...this.states.keys()]) if (id.startsWith(`${partition}\n`)) this.states.delete(id);
  }

  /** Buckets remembered. */
  get size(): number {
    return this.states.size;
  }
}
