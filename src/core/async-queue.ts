import { AbortedError } from './errors.js';

/**
 * A single-consumer FIFO between two async stages (e.g. LLM sentences → TTS → playback). `close()` ends the
 * consumer's iteration after the items already queued; `fail(err)` ends it with that error at once.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  #closed = false;
  #error: Error | undefined;

  push(item: T): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  fail(err: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = err instanceof Error ? err : new AbortedError('queue failed', { cause: err });
    this.#closed = true;
    this.#items.length = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(this.#error);
  }

  get size(): number {
    return this.#items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift() as T, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
