/** Injected time source, so tests that care about time control it instead of sleeping. */
export interface Clock {
  now(): number;
  /** Monotonic milliseconds, for latency figures. */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
};
