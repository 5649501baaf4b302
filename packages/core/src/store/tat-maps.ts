import type { BucketState, ChargeResult } from './store.js';

/*
 * The `tats` maps MemoryStore hands out. Each is a snapshot: the store writes
 * its own arrays in place, so a state never shows a later charge.
 */

/**
 * A bucket's `tats` over arrays no one changes (a copy of the store's).
 * A map of two or three limits needs no hashing: a linear search is faster.
 */
export class ArrayTats implements ReadonlyMap<string, bigint> {
  constructor(
    private readonly names: readonly string[],
    private readonly tats: readonly bigint[],
  ) {}

  get size(): number {
    return this.names.length;
  }

  get(name: string): bigint | undefined {
    const index = this.names.indexOf(name);
    return index < 0 ? undefined : this.tats[index];
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  forEach(
    callback: (value: bigint, key: string, map: ReadonlyMap<string, bigint>) => void,
    thisArg?: unknown,
  ): void {
    for (let index = 0; index < this.names.length; index += 1) {
      callback.call(thisArg, this.tats[index]!, this.names[index]!, this);
    }
  }

  *entries(): MapIterator<[string, bigint]> {
    for (let index = 0; index < this.names.length; index += 1) yield [this.names[index]!, this.tats[index]!];
  }

  keys(): MapIterator<string> {
    return this.names.values();
  }

  values(): MapIterator<bigint> {
    return this.tats.values();
  }

  [Symbol.iterator](): MapIterator<[string, bigint]> {
    return this.entries();
  }
}

/** The `tats` of a bucket with one limit: the most common state, in one small object. */
export class OneTat implements ReadonlyMap<string, bigint> {
  constructor(
    private readonly name: string,
    private readonly tat: bigint,
  ) {}

  get size(): number {
    return 1;
  }

  get(name: string): bigint | undefined {
    return name === this.name ? this.tat : undefined;
  }

  has(name: string): boolean {
    return name === this.name;
  }

  forEach(
    callback: (value: bigint, key: string, map: ReadonlyMap<string, bigint>) => void,
    thisArg?: unknown,
  ): void {
    callback.call(thisArg, this.tat, this.name, this);
  }

  *entries(): MapIterator<[string, bigint]> {
    yield [this.name, this.tat];
  }

  *keys(): MapIterator<string> {
    yield this.name;
  }

  *values(): MapIterator<bigint> {
    yield this.tat;
  }

  [Symbol.iterator](): MapIterator<[string, bigint]> {
    return this.entries();
  }
}

/**
 * The answer to an admitted charge of one bucket with one limit, the common
 * decision, in one object: it is the result, the bucket's state and that
 * state's `tats`. The list of states is made only when it is read.
 */
export class OneBucketCharged extends OneTat implements ChargeResult, BucketState {
  readonly admitted = true;
  /** The state's map of `tats`: this object. An own property, so a copy of the state keeps it. */
  readonly tats: ReadonlyMap<string, bigint> = this;
  private list: readonly BucketState[] | undefined;

  constructor(
    readonly entity: string,
    readonly resource: string,
    name: string,
    tat: bigint,
  ) {
    super(name, tat);
  }

  get buckets(): readonly BucketState[] {
    this.list ??= [this];
    return this.list;
  }
}
