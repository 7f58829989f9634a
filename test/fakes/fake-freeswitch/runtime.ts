/** Timers that the fake can cancel all at once on stop(), and the per-application run control. */

export class Timers {
  private readonly live = new Set<NodeJS.Timeout>();
  private stopped = false;

  /** setTimeout that is forgotten once fired and cleared by clearAll(); returns a cancel function. */
  set(ms: number, fn: () => void): () => void {
    if (this.stopped) return () => undefined;
    const t = setTimeout(
      () => {
        this.live.delete(t);
        fn();
      },
      Math.max(0, ms),
    );
    this.live.add(t);
    return () => {
      clearTimeout(t);
      this.live.delete(t);
    };
  }

  clearAll(): void {
    this.stopped = true;
    for (const t of this.live) clearTimeout(t);
    this.live.clear();
  }
}

/**
 * What a running application polls, like FreeSWITCH's app loops: the CF_BREAK flag, queued DTMF,
 * and a wake-up when either changes or the channel goes down.
 */
export class RunControl {
  brk = false;
  readonly dtmf: string[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    readonly app: string,
    /** Dequeues DTMF itself (playback, record); otherwise DTMF events fire at once. */
    readonly takesDtmf: boolean,
  ) {}

  wake(): void {
    for (const w of Array.from(this.wakers)) w();
  }

  /** Waits up to `wallMs` of real time, or less when woken. */
  wait(timers: Timers, wallMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        cancel();
        this.wakers.delete(done);
        resolve();
      };
      const cancel = timers.set(wallMs, done);
      this.wakers.add(done);
    });
  }
}
