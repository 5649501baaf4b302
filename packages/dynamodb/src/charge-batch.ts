import type { BucketCharge, Limit, LimitCharge } from '@tollgate/core';
import { gcra } from '@tollgate/core/internal';
import type { TatGuess } from './bucket-update.js';
import { maxBigInt } from './numbers.js';

/**
 * The decisions of a batch of charges on one item set, taken one after
 * another in arrival order (FIFO) against known tats, and what writing them
 * takes. Pure: no I/O, no clock.
 *
 * Everything is measured on `start = max(tat, now)`: a member's charge of `c`
 * tokens on a limit fits iff `start + prefix + c·T ≤ now + tau`, where
 * `prefix` is what the members admitted before it added to that limit's tat.
 */

/** What the batch asks of one stored tat (one limit name of one bucket). */
export interface LimitTerm {
  /** ns the admitted charges add to the tat: Σ c·T, each with its own limit's T. */
  readonly occupiedNs: bigint;
  /** Tokens admitted: the consumed counter's increment. */
  readonly consumed: number;
  /**
   * Largest `start` at which every admitted charge still fits:
   * min over admitted members of `now + tau − prefix` (their own charge
   * included). Undefined when no member charges this limit.
   */
  readonly ceilingNs: bigint | undefined;
  /**
   * `start` must exceed this for every rejection this limit refused to stay
   * refused: max over those of `now + tau − prefix − c·T` (prefix before it).
   * Undefined when this limit refused nobody.
   */
  readonly floorNs: bigint | undefined;
}

/** The decision of one member. */
export interface MemberDecision {
  readonly admitted: boolean;
  /**
   * Per bucket and limit name, the ns the admitted members add up to this one:
   * including its own charge when admitted, before it when rejected. Its
   * state is the known one advanced by this.
   */
  readonly prefixNs: readonly ReadonlyMap<string, bigint>[];
  /** The bucket of the first short limit of a rejected member. */
  readonly refusedAt?: number;
}

/** A simulated batch: each member's decision and, per bucket, the write that makes them exact. */
export interface ChargeBatch {
  readonly nowNs: bigint;
  readonly decisions: readonly MemberDecision[];
  /** Per bucket, per limit name. */
  readonly terms: readonly ReadonlyMap<string, LimitTerm>[];
  /** Per bucket, every limit the members use (the TTL covers the longest tau). */
  readonly limits: readonly (readonly Limit[])[];
}

/**
 * `fifo`: each member in turn, admitted iff it fits what the admitted ones
 * before it leave (a refused one changes nothing). `all`: every member
 * admitted, for a write conditioned on all of them fitting.
 */
export type BatchMode = 'fifo' | 'all';

interface TermDraft {
  occupiedNs: bigint;
  consumed: number;
  ceilingNs: bigint | undefined;
  floorNs: bigint | undefined;
}

/**
 * Decides `members` (each the charges of one request, buckets in the same
 * order) against `known` tats per bucket at `nowNs`.
 */
export function simulateChargeBatch(
  known: readonly TatGuess[],
  nowNs: bigint,
  members: readonly (readonly BucketCharge[])[],
  mode: BatchMode,
): ChargeBatch {
  const terms = known.map(() => new Map<string, TermDraft>());
  const limits = known.map(() => new Set<Limit>());
  const fits = (
    bucket: number,
    prefix: ReadonlyMap<string, bigint> | undefined,
    { limit, cost }: LimitCharge,
  ) =>
    gcra.isAdmissible(
      tatSeen(known[bucket]?.get(limit.name), prefix?.get(limit.name), nowNs),
      nowNs,
      limit,
      cost,
    );
  const decisions = members.map((buckets): MemberDecision => {
    const before = terms.map(occupiedOf);
    buckets.forEach((bucket, index) => {
      for (const { limit } of bucket.charges) limits[index]?.add(limit);
    });
    const refusedAt =
      mode === 'all'
        ? -1
        : buckets.findIndex((bucket, index) =>
            bucket.charges.some((charge) => !fits(index, before[index], charge)),
          );
    const refusing = buckets[refusedAt]?.charges.find(
      (charge) => !fits(refusedAt, before[refusedAt], charge),
    );
    const refused = terms[refusedAt];
    if (refusing && refused) {
      // The first short limit witnesses the rejection: the write keeps it short.
      const { limit, cost } = refusing;
      const prefix = before[refusedAt]?.get(limit.name) ?? 0n;
      const floor = nowNs + limit.tauNs - prefix - gcra.costNs(limit, cost);
      const term = draftOf(refused, limit.name);
      if (term.floorNs === undefined || floor > term.floorNs) term.floorNs = floor;
      return { admitted: false, prefixNs: before, refusedAt };
    }
    buckets.forEach((bucket, index) => {
      const drafts = terms[index];
      if (!drafts) return;
      for (const { limit, cost } of bucket.charges) {
        const term = draftOf(drafts, limit.name);
        term.occupiedNs += gcra.costNs(limit, cost);
        term.consumed += cost;
        const ceiling = nowNs + limit.tauNs - term.occupiedNs;
        if (term.ceilingNs === undefined || ceiling < term.ceilingNs) term.ceilingNs = ceiling;
      }
    });
    return { admitted: true, prefixNs: terms.map(occupiedOf) };
  });
  return { nowNs, decisions, terms, limits: limits.map((set) => [...set]) };
}

/**
 * The stored tats one limit's write accepts: exactly those that give the
 * batch's decisions.
 * - `idle`: `tat <= now` or absent (picked when the known tat is idle and the
 *   decisions hold at `start = now`);
 * - `busy`: `aboveNs < tat <= atMostNs` (no upper end when the batch charges
 *   nothing on the limit), with `aboveNs ≥ now`.
 */
export type WriteRange =
  | { readonly form: 'idle' }
  | { readonly form: 'busy'; readonly aboveNs: bigint; readonly atMostNs: bigint | undefined };

/** The range of stored tats a limit's write is conditioned on, its form picked from the known tat. */
export function writeRange(term: LimitTerm, known: bigint | undefined, nowNs: bigint): WriteRange {
  const { ceilingNs, floorNs } = term;
  const holdsWhenIdle =
    (ceilingNs === undefined || ceilingNs >= nowNs) && (floorNs === undefined || floorNs < nowNs);
  if ((known === undefined || known <= nowNs) && holdsWhenIdle) return { form: 'idle' };
  return { form: 'busy', aboveNs: maxBigInt(nowNs, floorNs ?? nowNs), atMostNs: ceilingNs };
}

/** True when a stored tat is in the range. */
export function inRange(range: WriteRange, tat: bigint | undefined, nowNs: bigint): boolean {
  if (range.form === 'idle') return tat === undefined || tat <= nowNs;
  return tat !== undefined && tat > range.aboveNs && (range.atMostNs === undefined || tat <= range.atMostNs);
}

/**
 * The tats a member sees: `base` advanced by its prefix. `base` holds each
 * limit's start before the batch (or the raw tat where the batch adds
 * nothing); a limit the prefix does not touch keeps its base value.
 */
export function tatsSeen(base: TatGuess, prefixNs: ReadonlyMap<string, bigint>, nowNs: bigint): TatGuess {
  const tats = new Map(base);
  for (const [name, ns] of prefixNs) {
    const tat = tatSeen(base.get(name), ns, nowNs);
    if (tat !== undefined) tats.set(name, tat);
  }
  return tats;
}

/** One limit's tat after the admitted charges of a prefix (as it was when they add nothing). */
function tatSeen(base: bigint | undefined, prefixNs: bigint | undefined, nowNs: bigint): bigint | undefined {
  return prefixNs === undefined || prefixNs === 0n ? base : gcra.startOf(base, nowNs) + prefixNs;
}

/**
 * The starts before the batch, recovered from the tats a write left
 * (`ALL_NEW`): an occupied limit's tat is `start + occupied`; any other
 * limit is as stored.
 */
export function startsBefore(written: TatGuess, terms: ReadonlyMap<string, LimitTerm>): TatGuess {
  const starts = new Map(written);
  for (const [name, term] of terms) {
    const tat = written.get(name);
    if (tat !== undefined && term.occupiedNs > 0n) starts.set(name, tat - term.occupiedNs);
  }
  return starts;
}

function occupiedOf(drafts: ReadonlyMap<string, TermDraft>): Map<string, bigint> {
  const occupied = new Map<string, bigint>();
  for (const [name, term] of drafts) occupied.set(name, term.occupiedNs);
  return occupied;
}

function draftOf(drafts: Map<string, TermDraft>, name: string): TermDraft {
  let term = drafts.get(name);
  if (term === undefined) {
    term = { occupiedNs: 0n, consumed: 0, ceilingNs: undefined, floorNs: undefined };
    drafts.set(name, term);
  }
  return term;
}
