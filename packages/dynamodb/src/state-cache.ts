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

  /** Remembers a state read or written. */
  remember(key: { PK: string; SK: string }, tats: TatGuess): void {
    const id = keyId(key);
    this.states.delete(id);
    this.states.set(id, tats);
    if (this.states.size > this.maxBuckets) {
      const oldest = this.states.keys().next();
      if (!oldest.done) this.states.delete(oldest.value);
    }
  }

  /** Forgets every bucket of one partition (after deleting an entity). */
  forgetPartition(partition: string): void {
    for (const id of [...this.states.keys()]) if (id.startsWith(`${partition}\n`)) this.states.delete(id);
  }

  /** Buckets remembered. */
  get size(): number {
    return this.states.size;
  }
}
