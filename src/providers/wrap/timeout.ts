import { ProviderError, TimeoutError } from '../../core/errors.js';
import { withTimeout as withinTimeout } from '../../core/abort.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { AnyProvider, ProviderInfo } from '../types.js';
import { around, linkedController, type Op } from './combine.js';

export interface TimeoutOptions {
  /** Bound on the whole operation: for streams, the time spent waiting on the provider (not on the consumer). */
  timeoutMs?: number;
  /** Bound on the wait for the first chunk of a stream (for a one-shot call, used when timeoutMs is unset). */
  firstByteTimeoutMs?: number;
  /** Bound on the wait between two chunks of a stream. */
  idleTimeoutMs?: number;
  clock?: Clock;
}

/**
 * Bounds each operation of `provider`. On expiry the attempt's request is aborted and the caller gets a
 * retryable ProviderError caused by a TimeoutError; the caller's own abort stays an AbortedError.
 */
export function withTimeout<P extends AnyProvider>(provider: P, opts: TimeoutOptions): P {
  const clock = opts.clock ?? systemClock;
  return around(provider, {
    call: (op, signal) => timedCall(op, opts.timeoutMs ?? opts.firstByteTimeoutMs, signal),
    stream: (op, signal) => timedStream(op, opts, clock, signal),
  });
}

async function timedCall<T>(
  op: Op<Promise<T>>,
  limitMs: number | undefined,
  signal: AbortSignal,
): Promise<T> {
  if (limitMs === undefined) return op.run(signal);
  const link = linkedController(signal);
  try {
    return await race(op.run(link.controller.signal), limitMs, op.info, 'response', signal, link.controller);
  } finally {
    link.dispose();
  }
}

async function* timedStream<T>(
  op: Op<AsyncIterable<T>>,
  opts: TimeoutOptions,
  clock: Clock,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const link = linkedController(signal);
  const it = op.run(link.controller.signal)[Symbol.asyncIterator]();
  let spentMs = 0;
  let first = true;
  let pending = false;
  try {
    while (true) {
      const stepMs = first ? opts.firstByteTimeoutMs : opts.idleTimeoutMs;
      const leftMs = opts.timeoutMs === undefined ? undefined : Math.max(0, opts.timeoutMs - spentMs);
      const limitMs =
        stepMs === undefined ? leftMs : leftMs === undefined ? stepMs : Math.min(stepMs, leftMs);
      const what = limitMs === leftMs ? 'response' : first ? 'first chunk' : 'next chunk';
      const t0 = clock.monotonicMs();
      pending = true;
      const r = await race(it.next(), limitMs, op.info, what, signal, link.controller);
      pending = false;
      spentMs += clock.monotonicMs() - t0;
      if (r.done) return;
      first = false;
      yield r.value;
    }
  } finally {
    link.dispose();
    // Let the inner stream release its connection; if it is stuck in a read we aborted, don't wait for it.
    const closing = it.return?.()?.catch(() => undefined);
    if (!pending) await closing;
  }
}

/** Settles with `promise`, or rejects on expiry (aborting `attempt`) or on the caller's abort. */
function race<T>(
  promise: Promise<T>,
  limitMs: number | undefined,
  info: ProviderInfo,
  what: string,
  signal: AbortSignal,
  attempt: AbortController,
): Promise<T> {
  return withinTimeout(promise, limitMs, `${info.vendor} ${info.kind}`, signal, () => {
    const cause = new TimeoutError(`${info.vendor} ${info.kind} ${what} timed out after ${limitMs} ms`);
    attempt.abort(cause);
    return new ProviderError(info.vendor, cause.message, { retryable: true, cause });
  });
}
