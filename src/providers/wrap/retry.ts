import type { Logger } from 'pino';
import { delay } from '../../core/abort.js';
import { ProviderError, isAbort } from '../../core/errors.js';
import type { AnyProvider, ProviderInfo } from '../types.js';
import { around, type Op } from './combine.js';

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries?: number;
  /** First backoff; doubles per retry, up to capMs, less up to 25 % jitter. */
  baseMs?: number;
  capMs?: number;
  /** A retry-after longer than this is not waited for: the error goes up (to the fallback) at once. */
  maxRetryAfterMs?: number;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  log?: Logger;
}

/**
 * Retries failed attempts, the OpenAI SDK way: only retryable ProviderErrors (408, 409, 429, 5xx, network,
 * timeouts, as the adapters classify them), waiting for retry-after when the vendor says, else jittered
 * exponential backoff. A stream is retried only while it has yielded nothing. Aborts are never retried.
 * This is the only place in the daemon that retries a provider.
 */
export function withRetry<P extends AnyProvider>(provider: P, opts: RetryOptions = {}): P {
  const policy = new RetryPolicy(opts);
  return around(provider, {
    call: (op, signal) => policy.call(op, signal),
    stream: (op, signal) => policy.stream(op, signal),
  });
}

class RetryPolicy {
  private readonly maxRetries: number;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly log: Logger | undefined;

  constructor(opts: RetryOptions) {
    this.maxRetries = opts.maxRetries ?? 2;
    this.baseMs = opts.baseMs ?? 500;
    this.capMs = opts.capMs ?? 8000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? delay;
    this.log = opts.log;
  }

  async call<T>(op: Op<Promise<T>>, signal: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op.run(signal);
      } catch (err) {
        await this.afterFailure(op.info, err, attempt, signal, false);
      }
    }
  }

  async *stream<T>(op: Op<AsyncIterable<T>>, signal: AbortSignal): AsyncGenerator<T> {
    for (let attempt = 0; ; attempt++) {
      let yielded = false;
      try {
        for await (const item of op.run(signal)) {
          yielded = true;
          yield item;
        }
        return;
      } catch (err) {
        await this.afterFailure(op.info, err, attempt, signal, yielded);
      }
    }
  }

  /** Waits before the next attempt, or rethrows `err` when there is to be none. */
  private async afterFailure(
    info: ProviderInfo,
    err: unknown,
    attempt: number,
    signal: AbortSignal,
    yielded: boolean,
  ): Promise<void> {
    // A cancellation is not a failure: not retried, not logged.
    if (signal.aborted || isAbort(err)) throw err;
    const waitMs = yielded ? undefined : this.waitBeforeRetry(err, attempt);
    const status = err instanceof ProviderError ? err.status : undefined;
    const fields = { vendor: info.vendor, kind: info.kind, status, attempt: attempt + 1, err };
    if (waitMs === undefined) {
      this.log?.warn({ ...fields, retried: false }, 'provider attempt failed');
      throw err;
    }
    this.log?.warn({ ...fields, retried: true, delayMs: waitMs }, 'provider attempt failed');
    await this.sleep(waitMs, signal);
  }

  /** Milliseconds to wait before retrying, or undefined when `err` is not to be retried. */
  private waitBeforeRetry(err: unknown, attempt: number): number | undefined {
    if (!(err instanceof ProviderError) || !err.retryable || attempt >= this.maxRetries) return undefined;
    if (err.retryAfterMs !== undefined) {
      return err.retryAfterMs <= this.maxRetryAfterMs ? err.retryAfterMs : undefined;
    }
    const ceilingMs = Math.min(this.capMs, this.baseMs * 2 ** attempt);
    return Math.round(ceilingMs * (1 - this.random() * 0.25));
  }
}
