import { systemClock, type Clock } from '../../core/clock.js';
import { ProviderError, TimeoutError, VoiceAiError, isAbort } from '../../core/errors.js';
import type { AnyProvider, ProviderInfo, ProviderKind } from '../types.js';
import { around, type Op } from './combine.js';

/** One finished operation of one provider. */
export interface ProviderSample {
  vendor: string;
  kind: ProviderKind;
  model: string;
  providerUuid?: string;
  /** 'aborted' for the caller's cancellations (barge-in, hangup), which are not errors. */
  outcome: 'ok' | 'error' | 'aborted';
  /** Time to the first chunk of a stream, or to the result of a one-shot call; absent when none came. */
  firstOutputMs?: number;
  totalMs: number;
  /** HTTP status of a failed attempt, when the vendor answered. */
  status?: number;
  /** Stable error code of a failure: E_PROVIDER, E_TIMEOUT (a timed-out attempt), E_ABORTED, … */
  errorCode?: string;
}

export interface MetricsOptions {
  clock?: Clock;
}

/**
 * Reports a sample per operation to `onSample` (latency to first output, total, errors by status). The
 * callback is where http/ metrics will hook in; if it throws, the sample is lost, never the operation.
 */
export function withMetrics<P extends AnyProvider>(
  provider: P,
  onSample: (sample: ProviderSample) => void,
  opts: MetricsOptions = {},
): P {
  const clock = opts.clock ?? systemClock;
  const emit = (
    info: ProviderInfo,
    t0: number,
    firstAt: number | undefined,
    err: unknown,
    signal: AbortSignal,
  ) => {
    const sample: ProviderSample = {
      vendor: info.vendor,
      kind: info.kind,
      model: info.model,
      ...(info.providerUuid === undefined ? {} : { providerUuid: info.providerUuid }),
      outcome:
        err === undefined
          ? signal.aborted
            ? 'aborted'
            : 'ok'
          : signal.aborted || isAbort(err)
            ? 'aborted'
            : 'error',
      ...(firstAt === undefined ? {} : { firstOutputMs: firstAt - t0 }),
      totalMs: clock.monotonicMs() - t0,
      ...(err instanceof ProviderError && err.status !== undefined ? { status: err.status } : {}),
      ...(err === undefined ? {} : { errorCode: errorCode(err) }),
    };
    try {
      onSample(sample);
    } catch {
      // a broken metrics sink must not break a call
    }
  };
  return around(provider, {
    async call<T>(op: Op<Promise<T>>, signal: AbortSignal): Promise<T> {
      const t0 = clock.monotonicMs();
      try {
        const result = await op.run(signal);
        emit(op.info, t0, clock.monotonicMs(), undefined, signal);
        return result;
      } catch (err) {
        emit(op.info, t0, undefined, err, signal);
        throw err;
      }
    },
    async *stream<T>(op: Op<AsyncIterable<T>>, signal: AbortSignal): AsyncGenerator<T> {
      const t0 = clock.monotonicMs();
      let firstAt: number | undefined;
      let failure: unknown;
      try {
        for await (const item of op.run(signal)) {
          firstAt ??= clock.monotonicMs();
          yield item;
        }
      } catch (err) {
        failure = err ?? new Error('undefined thrown');
        throw err;
      } finally {
        emit(op.info, t0, firstAt, failure, signal);
      }
    },
  });
}

/** A timeout shows as E_TIMEOUT even though the timeout wrapper reports it as a (retryable) ProviderError. */
function errorCode(err: unknown): string {
  if (err instanceof ProviderError && err.cause instanceof TimeoutError) return err.cause.code;
  return err instanceof VoiceAiError ? err.code : 'E_UNKNOWN';
}
