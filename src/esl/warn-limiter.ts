import type { Logger } from 'pino';

export interface WarnLimiterOptions {
  log: Logger;
  /** One warn line per key within this window; 10 s by default. */
  intervalMs?: number;
  /** Milliseconds clock; Date.now by default (tests inject their own). */
  now?: () => number;
}

/**
 * At most one warn line per key per interval; the lines in between go to debug, and the next warn line says
 * how many were held back (`suppressed`). 2,000 junk connections once wrote 2,600 warnings: the journal
 * is for the operator, the counts are in /metrics. Keys must come from a fixed set (they are kept).
 */
export class WarnLimiter {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, { startedAt: number; suppressed: number }>();

  constructor(options: WarnLimiterOptions) {
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Logs `msg` at warn with `fields` and `suppressed`, or at debug when `key` already warned this window. */
  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const w = this.windows.get(key);
    if (w !== undefined && t - w.startedAt < this.intervalMs) {
      w.suppressed++;
      this.log.debug(fields, msg);
      return;
    }
    this.windows.set(key, { startedAt: t, suppressed: 0 });
    this.log.warn({ ...fields, suppressed: w?.suppressed ?? 0 }, msg);
  }
}
