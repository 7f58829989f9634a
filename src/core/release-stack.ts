import type { Logger } from 'pino';

/**
 * What start-up has opened so far, released in reverse order of acquisition. Each closer runs once, its
 * failure is logged and does not stop the rest: an error while cleaning up must not hide the one that caused it.
 */
export class ReleaseStack {
  private readonly closers: { name: string; close: () => unknown }[] = [];

  /** Registers `close` for the resource just opened; returns `value` so a step reads as one expression. */
  push<T>(name: string, value: T, close: (v: T) => unknown): T {
    this.closers.push({ name, close: () => close(value) });
    return value;
  }

  /** Runs every closer, newest first; idempotent. */
  async releaseAll(log: Logger): Promise<void> {
    for (let c = this.closers.pop(); c !== undefined; c = this.closers.pop()) {
      try {
        await c.close();
      } catch (err) {
        log.warn({ err, resource: c.name }, 'release after failed start-up failed');
      }
    }
  }
}
