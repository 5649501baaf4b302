import type { ServerResponse } from 'node:http';

/** How the request ended, for `HttpRateLimit.finish`. */
export interface RequestOutcome {
  /** Final status code sent (or about to be sent). */
  statusCode: number;
  /** The client went away before the response was complete. */
  aborted?: boolean;
  /** The handler threw. */
  error?: unknown;
}

/** Settles one admitted request from how it ended. */
export type Settle = (outcome: RequestOutcome, res: ServerResponse) => Promise<void>;

/** Marks the `close` listener of a watch with the watch, so a later admission or {@link settleWatched} can find it. */
const WATCH = Symbol('tollgate.watch');

type CloseListener = ((this: ServerResponse) => void) & { [WATCH]?: Watch };

/** A settle with nothing to do: shared, since callers only await it. */
export const RESOLVED: Promise<void> = Promise.resolve();

/** The admissions one pair of listeners settles: usually one, more for several limited GraphQL resolvers. */
class Watch {
  private more: Settle[] | undefined;
  open = true;

  constructor(private readonly first: Settle) {}

  add(settle: Settle): void {
    this.more ??= [];
    this.more.push(settle);
  }

  /** Settles every admission, the first time only. */
  settle(outcome: RequestOutcome, res: ServerResponse): Promise<void> {
    if (!this.open) return RESOLVED;
    this.open = false;
    const { first, more } = this;
    if (more === undefined) return first(outcome, res);
    return Promise.all([first, ...more].map((settle) => settle(outcome, res))).then(() => undefined);
  }
}

/**
 * Calls `settle` exactly once, when `res` emits `finish` (sent) or `close`
 * (sent if it had finished, else the client went away first), or when
 * {@link settleWatched} is called for `res` before either.
 *
 * The listeners close over what they settle: no map from responses is kept.
 * A WeakMap cost more per request than the decision itself under load, and a
 * property on the response more still (Express's responses are
 * dictionary-mode objects). A response admitted again (several limited
 * GraphQL resolvers) joins the first admission's listeners, found through
 * the mark on its `close` listener, so listeners never pile up.
 */
export function watchResponse(res: ServerResponse, settle: Settle): void {
  const open = watchOf(res);
  if (open !== undefined) {
    open.add(settle);
    return;
  }
  const watch = new Watch(settle);
  res.on('finish', function onFinish(this: ServerResponse) {
    void watch.settle({ statusCode: this.statusCode, aborted: false }, this);
  });
  const onClose: CloseListener = function onClose(this: ServerResponse) {
    void watch.settle({ statusCode: this.statusCode, aborted: !this.writableFinished }, this);
  };
  onClose[WATCH] = watch;
  res.on('close', onClose);
}

/**
 * Settles now every admission {@link watchResponse} watches on `res` and
 * that has not settled yet; the listeners then do nothing. Resolves when all
 * have settled.
 */
export function settleWatched(res: ServerResponse, outcome: RequestOutcome): Promise<void> {
  return watchOf(res)?.settle(outcome, res) ?? RESOLVED;
}

/** The open watch on `res`, if any: most responses have no `close` listener, so this rarely looks. */
function watchOf(res: ServerResponse): Watch | undefined {
  if (res.listenerCount('close') === 0) return undefined;
  for (const listener of res.rawListeners('close') as CloseListener[]) {
    const watch = listener[WATCH];
    if (watch?.open === true) return watch;
  }
  return undefined;
}
