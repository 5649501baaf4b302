import { LRUCache } from 'lru-cache';
import { type BucketKey, type BucketState, bucketId, type ResetScope } from '../store/store.js';

interface DenyEntry {
  readonly state: BucketState;
  readonly untilNs: bigint;
}

/**
 * Remembers the bucket states behind a rejection until its computed wait has
 * passed, so repeats are answered locally with the exact math and no write.
 * State can only have grown worse through other writers' charges; refunds by
 * this limiter forget the buckets they touch.
 */
export class DenyCache {
  /** Made on the first rejection: an LRU allocates its arrays up front, and most limiters rarely reject. */
  private lru: LRUCache<string, DenyEntry> | undefined;
  /** False while nothing is remembered: every admitted decision asks, and a field is cheaper than the cache's size. */
  private holding = false;

  constructor(private readonly maxEntries: number) {}

  private get entries(): LRUCache<string, DenyEntry> {
    this.lru ??= new LRUCache({ max: this.maxEntries });
    return this.lru;
  }

  /** Records the states of a rejected call, valid until `untilNs`. */
  remember(states: readonly BucketState[], untilNs: bigint): void {
    for (const state of states) this.entries.set(bucketId(state), { state, untilNs });
    this.holding = this.entries.size > 0;
  }

  /** The remembered states of every bucket in `keys`, or undefined if any is missing or expired. */
  lookup(keys: readonly BucketKey[], nowNs: bigint): BucketState[] | undefined {
    if (!this.holding) return undefined;
    const states: BucketState[] = [];
    for (const key of keys) {
      const entry = this.entries.get(bucketId(key));
      if (!entry) return undefined;
      if (entry.untilNs <= nowNs) {
        this.forgetOne(key);
        return undefined;
      }
      states.push(entry.state);
    }
    return states;
  }

  /** Forgets everything (after an entity and its buckets were deleted). */
  clear(): void {
    this.lru?.clear();
    this.holding = false;
  }

  /** Forgets the buckets of one entity (of one resource, or all): they were reset. */
  forgetEntity(scope: ResetScope): void {
    if (!this.holding) return;
    const { entity, resource } = scope;
    for (const [id, { state }] of this.entries.entries()) {
      if (state.entity === entity && (resource === undefined || state.resource === resource)) {
        this.entries.delete(id);
      }
    }
    this.holding = this.entries.size > 0;
  }

  /** Forgets buckets whose state this limiter just changed. */
  forget(keys: readonly BucketKey[]): void {
    if (!this.holding) return;
    for (const key of keys) this.forgetOne(key);
  }

  private forgetOne(key: BucketKey): void {
    this.entries.delete(bucketId(key));
    this.holding = this.entries.size > 0;
  }
}
