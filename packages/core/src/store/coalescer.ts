import { inRoundTripScope, roundTripScope } from '../diagnostics.js';

/** A request that can be combined with others of the same item set. */
export interface CoalescedRequest {
  /** Aborts this request alone while it waits; the write it joined waits for every member's. */
  readonly signal: AbortSignal;
}

/** Sends one batch as one write (with its retries) and answers each member, in order. */
export type BatchWrite<Request, Answer> = (
  requests: readonly Request[],
  signal: AbortSignal,
) => Promise<readonly Answer[]>;

interface Waiting<Request, Answer> {
  readonly request: Request;
  resolve(answer: Answer): void;
  reject(reason: unknown): void;
  /** Removes the abort listener once the request is sent. */
  detach(): void;
  /** The traced store call it came from: the requests of its batch count there when it leads one. */
  readonly scope: object | undefined;
}

/**
 * At most one write in flight per item set: a request for an item set with a
 * write in flight joins that item set's queue, and when the write (with its
 * retries) finishes, the whole queue goes out as the next write. So no
 * request waits behind more than one write. A queued request whose signal
 * aborts leaves the queue and rejects with the signal's reason, alone.
 *
 * Disabled, every request is a batch of one sent at once, through the same
 * write.
 */
export class Coalescer<Request extends CoalescedRequest, Answer> {
  /** Item sets with a write in flight → the requests waiting for it to finish. */
  private readonly queues = new Map<string, Waiting<Request, Answer>[]>();

  constructor(
    private readonly enabled: boolean,
    private readonly write: BatchWrite<Request, Answer>,
  ) {}

  /** Decides `request` alone or with the others of `itemSet` queued beside it. */
  submit(itemSet: string, request: Request): Promise<Answer> {
    const { signal } = request;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<Answer>((resolve, reject) => {
      const queue = this.queues.get(itemSet);
      if (!this.enabled || queue === undefined) {
        if (this.enabled) this.queues.set(itemSet, []);
        void this.send(itemSet, [{ request, resolve, reject, detach: () => {}, scope: undefined }]);
        return;
      }
      const onAbort = (): void => {
        const index = queue.indexOf(waiting);
        if (index >= 0) queue.splice(index, 1);
        reject(signal.reason);
      };
      const waiting: Waiting<Request, Answer> = {
        request,
        resolve,
        reject,
        detach: () => signal.removeEventListener('abort', onAbort),
        scope: roundTripScope(),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(waiting);
    });
  }

  private async send(itemSet: string, batch: readonly Waiting<Request, Answer>[]): Promise<void> {
    const joint = abortedWhenAll(batch.map((waiting) => waiting.request.signal));
    try {
      const answers = await this.write(
        batch.map((waiting) => waiting.request),
        joint.signal,
      );
      batch.forEach((waiting, index) => {
        waiting.resolve(answers[index] as Answer);
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      joint.dispose();
      if (this.enabled) this.next(itemSet);
    }
  }

  /** Sends what queued behind the write that just finished, or retires the item set. */
  private next(itemSet: string): void {
    const queue = this.queues.get(itemSet) ?? [];
    if (queue.length === 0) {
      this.queues.delete(itemSet);
      return;
    }
    this.queues.set(itemSet, []);
    for (const waiting of queue) waiting.detach();
    // Sent when the previous write ended, in that write's context: count its requests for the first waiting call.
    void inRoundTripScope(queue[0]?.scope, () => this.send(itemSet, queue));
  }
}

/** A signal, and the cleanup of what it listens to. */
interface JointSignal {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * A signal that aborts once every one of `signals` has (with the last
 * reason): a batch write is abandoned only when nobody waits for it.
 * `AbortSignal.any` would abort it at the first member's deadline.
 */
export function abortedWhenAll(members: readonly AbortSignal[]): JointSignal {
  // Members may share a signal, and a listener is added to a signal once.
  const signals = [...new Set(members)];
  const [only] = signals;
  if (signals.length === 1 && only) return { signal: only, dispose: () => {} };
  const controller = new AbortController();
  let pending = signals.length;
  const onAbort = (event: Event): void => {
    pending -= 1;
    if (pending === 0) controller.abort((event.target as AbortSignal).reason);
  };
  for (const signal of signals) {
    if (signal.aborted) pending -= 1;
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  if (pending === 0) controller.abort(signals.at(-1)?.reason);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
    },
  };
}
