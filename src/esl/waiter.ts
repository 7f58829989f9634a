import { AbortedError, EslError } from '../core/errors.js';

/** A promise settled from outside, with its timer and abort listener removed however it settles. */
export interface Waiter<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
  resolve(value: T): void;
  reject(err: Error): void;
}

/**
 * Creates a waiter that rejects with EslError E_ESL_TIMEOUT after `timeoutMs` (none when <= 0 or infinite) and
 * with AbortedError when `signal` aborts. `onSettle` runs once, whichever way it settles.
 */
export function createWaiter<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onSettle?: () => void,
): Waiter<T> {
  let resolveFn!: (v: T) => void;
  let rejectFn!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolveFn = res;
    rejectFn = rej;
  });
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    finish();
    rejectFn(new AbortedError(`${what} aborted`, { cause: signal?.reason }));
  };
  const finish = (): boolean => {
    if (settled) return false;
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    onSettle?.();
    return true;
  };
  const waiter: Waiter<T> = {
    promise,
    get settled() {
      return settled;
    },
    resolve(value) {
      if (finish()) resolveFn(value);
    },
    reject(err) {
      if (finish()) rejectFn(err);
    },
  };
  if (signal?.aborted) {
    onAbort();
    return waiter;
  }
  if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      if (finish()) rejectFn(new EslError('E_ESL_TIMEOUT', `${what} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  return waiter;
}

/** Marks a promise's rejection as handled when the caller deliberately stops waiting for it. */
export function ignoreRejection(promise: Promise<unknown>): void {
  promise.catch(() => undefined);
}
