import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type postgres from 'postgres';
import { withTimeout } from '../core/abort.js';
import { backoffMs } from '../core/backoff.js';
import { systemClock, type Clock } from '../core/clock.js';
import { TimeoutError } from '../core/errors.js';
import {
  errorCode,
  isTransientDbError,
  writeIsolated,
  writeRows,
  type DeadLetter,
  type QueuedRow,
} from './rows.js';
import { openSpool, type Spool } from './spool.js';

/**
 * Persistence that never blocks a call and never loses a row. Sessions enqueue rows synchronously; flushes
 * run one at a time (p-queue, concurrency 1) so rows reach Postgres in the order they were enqueued, as
 * multi-row inserts, one transaction per batch. While Postgres is unreachable, batches go to an fsync'd spool
 * on disk; a probe retries with backoff and, when Postgres answers, the spool is replayed (oldest first)
 * before anything newer. Rows Postgres rejects for what they are go to a dead-letter file, never nowhere.
 */
export interface WriteQueue {
  /** Opens the spool and starts flushing, replaying first whatever a previous process left in the spool. */
  start(): Promise<void>;
  /** Never throws and never waits. `overloaded` is the backpressure signal; rows are accepted regardless. */
  enqueue(item: QueuedRow): EnqueueResult;
  /**
   * Writes everything it can within the timeout (retrying an unreachable Postgres until then) and spools
   * (fsync'd) the rest; after a timeout the queue only spools, as a process shutting down should.
   */
  drain(opts: { timeoutMs: number }): Promise<DrainResult>;
  stats(): WriteQueueStats;
  /** Drains (unless drained already), then releases the spool. Idempotent. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

export type EnqueueResult =
  { accepted: true; overloaded: boolean } | { accepted: false; overloaded: boolean; reason: 'closed' };

export interface DrainResult {
  /** Rows written to Postgres during the drain. */
  flushed: number;
  /** Rows that went to the spool during the drain. */
  spooled: number;
}

export interface WriteQueueStats {
  /** Rows in memory, including a batch being written. */
  depth: number;
  /** Rows fsync'd in the spool, waiting for Postgres. */
  spooledRows: number;
  /** Rows written to Postgres since creation (replayed ones included). */
  flushed: number;
  deadLettered: number;
  /** Duration of the last successful batch write. */
  lastFlushMs: number;
  overloaded: boolean;
  databaseReachable: boolean;
}

export interface WriteQueueOptions {
  sql: postgres.Sql;
  /** This process's own directory; never shared between processes (see spool-claim.ts for several at once). */
  spoolDir: string;
  /** Spool directories of dead processes to replay first (from claimSpoolDir). */
  adoptSpoolDirs?: readonly string[];
  log: Logger;
  flushIntervalMs?: number;
  batchSize?: number;
  /** Rows in memory beyond which memory is spilled to the spool, and backlog at which `overloaded` turns on. */
  highWatermark?: number;
  /** Backlog (memory + spool) below which `overloaded` turns off again. */
  lowWatermark?: number;
  /** Backoff between attempts to reach Postgres again. */
  retryBaseMs?: number;
  retryCapMs?: number;
  segmentMaxRows?: number;
  /** Used by close() when drain() was not called first. */
  closeTimeoutMs?: number;
  clock?: Clock;
  /** Told the duration of every batch written to PostgreSQL (metrics). */
  onFlush?: (durationMs: number, rows: number) => void;
  random?: () => number;
}

/** Creates the queue; nothing touches the disk or the database until start(). */
export function createWriteQueue(opts: WriteQueueOptions): WriteQueue {
  const { sql, log } = opts;
  const flushIntervalMs = opts.flushIntervalMs ?? 50;
  const batchSize = opts.batchSize ?? 500;
  const highWatermark = opts.highWatermark ?? 50_000;
  const lowWatermark = Math.min(opts.lowWatermark ?? 10_000, highWatermark);
  const retryBaseMs = opts.retryBaseMs ?? 250;
  const retryCapMs = opts.retryCapMs ?? 10_000;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;

  const flusher = new PQueue({ concurrency: 1 });
  const memory: QueuedRow[] = [];
  let spool: Spool | undefined;
  let opening: Promise<Spool> | undefined;
  let nextSeq = 1;
  let inFlight: { seq: number; items: QueuedRow[]; abandoned: boolean } | undefined;

  let started = false;
  let closed = false;
  /** After a drain timed out: no more database writes from this process, only the spool. */
  let spoolOnly = false;
  let down = false;
  let probeDue = false;
  let attempt = 0;
  let pumpQueued = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  let flushed = 0;
  let spooledTotal = 0;
  let lastFlushMs = 0;
  let overloaded = false;

  const openOnce = (): Promise<Spool> => {
    opening ??= openSpool({
      dir: opts.spoolDir,
      log,
      clock,
      ...(opts.segmentMaxRows === undefined ? {} : { segmentMaxRows: opts.segmentMaxRows }),
      ...(opts.adoptSpoolDirs === undefined ? {} : { adopt: opts.adoptSpoolDirs }),
    }).then((s) => {
      spool = s;
      nextSeq = s.maxSeq + 1;
      return s;
    });
    return opening;
  };

  /** Rows only in memory: waiting, or in a batch being written that no drain has spooled yet. */
  const depth = (): number => memory.length + (inFlight && !inFlight.abandoned ? inFlight.items.length : 0);
  const backlog = (): number => depth() + (spool?.pendingRows ?? 0);

  const updateOverload = (): void => {
    const n = backlog();
    if (!overloaded && n > highWatermark) {
      overloaded = true;
      log.warn({ backlog: n, highWatermark }, 'write queue overloaded');
    } else if (overloaded && n < lowWatermark) {
      overloaded = false;
      log.info({ backlog: n, lowWatermark }, 'write queue no longer overloaded');
    }
  };

  /** Moves rows to the spool; they count as spooled once fsync'd. */
  const toSpool = async (s: Spool, seq: number, items: QueuedRow[]): Promise<void> => {
    try {
      await s.append(seq, items);
      spooledTotal += items.length;
    } catch (err) {
      // Only reachable when the spool was closed while the disk was failing: nowhere left to put them.
      log.fatal({ err, rows: items.length }, 'write queue rows lost: spool closed while its disk failed');
    }
  };

  const spoolMemory = async (s: Spool): Promise<void> => {
    while (memory.length > 0) await toSpool(s, nextSeq++, memory.splice(0));
  };

  const schedulePump = (): void => {
    if (!started || pumpQueued || closed) return;
    pumpQueued = true;
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    flusher.add(pump).catch((err: unknown) => log.error({ err }, 'write queue flush failed'));
  };

  const armFlushTimer = (): void => {
    if (!started || flushTimer || pumpQueued || closed) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      schedulePump();
    }, flushIntervalMs);
    flushTimer.unref();
  };

  const markDown = (err: unknown): void => {
    if (!down) log.warn({ err: summarize(err) }, 'database unreachable; spooling rows');
    down = true;
    if (probeTimer || spoolOnly) return;
    const waitMs = Math.max(retryBaseMs / 2, backoffMs(attempt++, retryBaseMs, retryCapMs, random));
    log.debug({ err: summarize(err), attempt, waitMs }, 'database still unreachable; next attempt scheduled');
    probeTimer = setTimeout(() => {
      probeTimer = undefined;
      probeDue = true;
      schedulePump();
    }, waitMs);
    probeTimer.unref();
  };

  const markUp = (): void => {
    if (down) log.info({ spooledRows: spool?.durableRows ?? 0 }, 'database reachable again; replaying spool');
    down = false;
    attempt = 0;
  };

  /** Writes rows, isolating and dead-lettering the ones Postgres refuses; false when Postgres is unreachable. */
  const write = async (s: Spool, items: readonly QueuedRow[]): Promise<boolean> => {
    const t0 = clock.monotonicMs();
    let dead: DeadLetter[];
    try {
      dead = await writeRows(sql, items);
    } catch (err) {
      if (isTransientDbError(err)) {
        markDown(err);
        return false;
      }
      log.warn({ code: errorCode(err), rows: items.length }, 'batch refused; retrying row by row');
      const r = await writeIsolated(sql, items);
      if (!r.ok) {
        markDown(r.error);
        return false;
      }
      dead = r.dead;
    }
    await s.deadLetter(dead).catch((err: unknown) => {
      // The disk refused too: the log is the last place these rows can go.
      log.error({ err, pii: { dead } }, 'dead-letter write failed');
    });
    lastFlushMs = clock.monotonicMs() - t0;
    flushed += items.length - dead.length;
    opts.onFlush?.(lastFlushMs, items.length - dead.length);
    markUp();
    return true;
  };

  /** Replays spooled segments oldest first; false when Postgres went away (the segment stays for later). */
  const replay = async (s: Spool): Promise<boolean> => {
    for (const seg of await s.segments()) {
      const items = await s.read(seg);
      for (let i = 0; i < items.length; i += batchSize) {
        if (spoolOnly) return false;
        if (!(await write(s, items.slice(i, i + batchSize)))) return false;
      }
      await s.remove(seg);
      updateOverload();
    }
    return true;
  };

  async function pump(): Promise<void> {
    pumpQueued = false;
    const s = await openOnce();
    if (spoolOnly || (down && !probeDue)) {
      await spoolMemory(s);
      return;
    }
    probeDue = false;
    // Up, or probing (down, and this is the attempt the backoff allowed): every failure below breaks out.
    if (down && s.pendingRows === 0 && memory.length === 0) await probe();
    // The spool always holds rows older than memory, so it goes first.
    while (!spoolOnly) {
      if (s.pendingRows > 0) {
        if (!(await replay(s))) break;
        continue;
      }
      if (memory.length === 0) break;
      const batch = { seq: nextSeq++, items: memory.splice(0, batchSize), abandoned: false };
      inFlight = batch;
      const ok = await write(s, batch.items);
      inFlight = undefined;
      // A drain that timed out has spooled this batch already.
      if (!ok && !batch.abandoned) await toSpool(s, batch.seq, batch.items);
      updateOverload();
      if (!ok) break;
    }
    if (down || spoolOnly) await spoolMemory(s);
    updateOverload();
  }

  /** Nothing to write, yet the backoff says try: ask the server if it is back. */
  const probe = async (): Promise<void> => {
    try {
      await sql`select 1`;
      markUp();
    } catch (err) {
      markDown(err);
    }
  };

  const spoolEverything = async (): Promise<void> => {
    const s = await openOnce();
    const f = inFlight;
    if (f && !f.abandoned) {
      f.abandoned = true;
      await toSpool(s, f.seq, f.items);
    }
    await spoolMemory(s);
    await s.idle();
  };

  /** Resolves when the flusher next goes idle (a probe's attempt finished) or after `ms`. */
  const nextIdle = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        flusher.off('idle', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      flusher.on('idle', done);
    });

  const drain = async ({ timeoutMs }: { timeoutMs: number }): Promise<DrainResult> => {
    const f0 = flushed;
    const s0 = spooledTotal;
    const deadline = clock.monotonicMs() + timeoutMs;
    if (!started) await start();
    // An attempt now rather than when the backoff says: shutdown has a deadline.
    if (down) probeDue = true;
    try {
      while (!spoolOnly) {
        const s = await openOnce();
        const idle = flusher.size === 0 && flusher.pending === 0;
        if (idle && memory.length === 0 && s.pendingRows === 0) break;
        const leftMs = deadline - clock.monotonicMs();
        if (leftMs <= 0) throw new TimeoutError('write queue drain timed out');
        if (idle && memory.length === 0 && down) {
          // Everything is in the spool already; the probe keeps trying until the deadline.
          await nextIdle(leftMs);
          continue;
        }
        schedulePump();
        await withTimeout(flusher.onIdle(), leftMs, 'write queue drain');
      }
      await spool?.idle();
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      // From here on this process only spools: it is shutting down and Postgres did not keep up.
      spoolOnly = true;
      log.warn({ depth: depth(), databaseReachable: !down }, 'write queue drain timed out; spooling');
      await spoolEverything();
    }
    return { flushed: flushed - f0, spooled: spooledTotal - s0 };
  };

  async function start(): Promise<void> {
    await openOnce();
    if (started || closed) return;
    started = true;
    schedulePump();
  }

  return {
    start,
    enqueue(item) {
      if (closed) return { accepted: false, overloaded, reason: 'closed' };
      memory.push(item);
      updateOverload();
      if (spool && memory.length >= highWatermark) {
        // Postgres is slower than the calls (or hung): keep memory bounded. These rows are newer than
        // anything being written, and their batch number says so.
        void toSpool(spool, nextSeq++, memory.splice(0));
      } else if (memory.length >= batchSize) schedulePump();
      else armFlushTimer();
      return { accepted: true, overloaded };
    },
    drain,
    stats() {
      return {
        depth: depth(),
        spooledRows: spool?.durableRows ?? 0,
        flushed,
        deadLettered: spool?.deadLettered ?? 0,
        lastFlushMs,
        overloaded,
        databaseReachable: !down,
      };
    },
    close({ timeoutMs } = {}) {
      closing ??= (async () => {
        if (!spoolOnly) await drain({ timeoutMs: timeoutMs ?? opts.closeTimeoutMs ?? 5_000 });
        closed = true;
        spoolOnly = true;
        if (flushTimer) clearTimeout(flushTimer);
        if (probeTimer) clearTimeout(probeTimer);
        if (memory.length > 0) await spoolEverything();
        await spool?.close();
      })();
      return closing;
    },
  };
}

/** What a log line needs from a database error; postgres.js errors carry the query and its parameters. */
function summarize(err: unknown): { code: string | undefined; message: string } {
  return { code: errorCode(err), message: err instanceof Error ? err.message : String(err) };
}
