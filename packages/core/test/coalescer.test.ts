import { recordRoundTrips, type StoreCallMessage, subscribeDiagnostics } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { traceStoreCall } from '../src/diagnostics.js';
import { abortedWhenAll, Coalescer } from '../src/store/coalescer.js';

interface Request {
  readonly id: number;
  readonly signal: AbortSignal;
}

/** A write that answers each request with its id once `finish` is called, recording every batch. */
function controlledWrite() {
  const batches: number[][] = [];
  const signals: AbortSignal[] = [];
  const pending: (() => void)[] = [];
  const write = (requests: readonly Request[], signal: AbortSignal): Promise<number[]> => {
    batches.push(requests.map((request) => request.id));
    signals.push(signal);
    return new Promise((resolve) => {
      pending.push(() => resolve(requests.map((request) => request.id)));
    });
  };
  const finish = async (): Promise<void> => {
    pending.shift()?.();
    // Let the answers and the next send run.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batches, signals, write, finish };
}

const open = new AbortController().signal;

describe('Coalescer', () => {
  it('sends the first request at once and everything queued behind it as one write', async () => {
    const { batches, write, finish } = controlledWrite();
    const coalescer = new Coalescer<Request, number>(true, write);
    const answers = [1, 2, 3, 4].map((id) => coalescer.submit('hot', { id, signal: open }));
    const other = coalescer.submit('cold', { id: 9, signal: open });
    expect(batches).toEqual([[1], [9]]);
    await finish();
    expect(batches).toEqual([[1], [9], [2, 3, 4]]);
    const late = coalescer.submit('hot', { id: 5, signal: open });
    await finish();
    await finish();
    expect(batches).toEqual([[1], [9], [2, 3, 4], [5]]);
    await finish();
    expect(await Promise.all([...answers, other, late])).toEqual([1, 2, 3, 4, 9, 5]);
  });

  it('rejects a queued request whose signal aborts, alone, and leaves it out of the write', async () => {
    const { batches, write, finish } = controlledWrite();
    const coalescer = new Coalescer<Request, number>(true, write);
    const controller = new AbortController();
    const first = coalescer.submit('hot', { id: 1, signal: open });
    const leaving = coalescer.submit('hot', { id: 2, signal: controller.signal });
    const staying = coalescer.submit('hot', { id: 3, signal: open });
    const reason = new Error('deadline');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    await finish();
    await finish();
    expect(batches).toEqual([[1], [3]]);
    expect(await Promise.all([first, staying])).toEqual([1, 3]);
  });

  it('sends every request at once, alone, when disabled', () => {
    const { batches, write } = controlledWrite();
    const coalescer = new Coalescer<Request, number>(false, write);
    for (const id of [1, 2, 3]) void coalescer.submit('hot', { id, signal: open });
    expect(batches).toEqual([[1], [2], [3]]);
  });
});

describe('abortedWhenAll', () => {
  it('aborts only once every member has, with the last reason', () => {
    const members = [new AbortController(), new AbortController(), new AbortController()];
    const joint = abortedWhenAll([
      members[0]!.signal,
      members[1]!.signal,
      members[1]!.signal,
      members[2]!.signal,
    ]);
    members[0]!.abort(new Error('first'));
    members[1]!.abort(new Error('second'));
    expect(joint.signal.aborted).toBe(false);
    const last = new Error('last');
    members[2]!.abort(last);
    expect(joint.signal.aborted).toBe(true);
    expect(joint.signal.reason).toBe(last);
    joint.dispose();
  });
});

describe('Coalescer round trips', () => {
  it('counts a queued batch for the first call waiting in it, not for the call whose write went before', async () => {
    const { write, finish } = controlledWrite();
    const counted = (requests: readonly Request[], signal: AbortSignal): Promise<number[]> => {
      recordRoundTrips();
      return write(requests, signal);
    };
    const coalescer = new Coalescer<Request, number>(true, counted);
    const messages: StoreCallMessage[] = [];
    const stop = subscribeDiagnostics({ store: (message) => messages.push(message) });
    try {
      const calls = [1, 2, 3].map((id) =>
        traceStoreCall(`call-${id}`, () => coalescer.submit('hot', { id, signal: open }), true),
      );
      await finish();
      await finish();
      await Promise.all(calls);
    } finally {
      stop();
    }
    const sent = Object.fromEntries(messages.map((message) => [message.operation, message.roundTrips]));
    expect(sent).toEqual({ 'call-1': 1, 'call-2': 1, 'call-3': 0 });
  });
});
