/**
 * A byte allowance shared by every parser of one server. A parser charges the capacity of the buffer it holds
 * for an incomplete frame, so the sum over all connections, not only each one, stays bounded: 150 peers each
 * under the frame limit could otherwise still hold 150 times it.
 */
export class ByteBudget {
  readonly limitBytes: number;
  private used = 0;

  constructor(limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 0)
      throw new RangeError(`budget must be a non-negative integer, got ${limitBytes}`);
    this.limitBytes = limitBytes;
  }

  /** Bytes charged now. */
  get usedBytes(): number {
    return this.used;
  }

  /** Charges `bytes` when they fit; false (and nothing charged) when they do not. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
