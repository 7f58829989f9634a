import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { delay } from '../core/abort.js';
import { backoffMs } from '../core/backoff.js';
import { systemClock, type Clock } from '../core/clock.js';
import { VoiceAiError } from '../core/errors.js';
import {
  conversationOf,
  isQueuedRow,
  upgradeLegacyColumns,
  type DeadLetter,
  type QueuedRow,
} from './rows.js';

/**
 * The write queue's disk: segments of JSON lines (one queued row per line), each written and fsync'd before
 * the rows in it count as safe. A segment is named by the sequence number of the first batch it holds, and
 * batches are numbered in the order they left memory, so replaying segments in name order replays rows in
 * the order they were enqueued, across restarts. One spool directory belongs to one process (the daemon's is
 * its own; short-lived processes such as `voice-ai chat` claim one each, see spool-claim.ts), which may also
 * adopt the directories of dead processes: their segments replay before its own, and each emptied one is
 * removed. A segment that disappears underneath (someone else replayed it) is logged and skipped.
 */
export interface SpoolSegment {
  readonly name: string;
  readonly rows: number;
}

export interface Spool {
  readonly dir: string;
  /** Rows handed to append() and not yet removed (durable, or being written). */
  readonly pendingRows: number;
  /** Rows written and fsync'd, not yet removed. */
  readonly durableRows: number;
  readonly deadLettered: number;
  /** Batches numbered above this sort after everything already in the spool (a new process starts there). */
  readonly maxSeq: number;
  /** Resolves once the rows are fsync'd. Retries a failing disk until it succeeds or the spool closes. */
  append(seq: number, items: readonly QueuedRow[]): Promise<void>;
  /** Closes the segment being appended to and lists every durable segment, oldest first. */
  segments(): Promise<readonly SpoolSegment[]>;
  /**
   * The rows of a segment; lines that are not rows (a write cut short by a crash) go to the dead-letter file.
   * A segment whose file vanished (logged) has none, and is forgotten.
   */
  read(segment: SpoolSegment): Promise<QueuedRow[]>;
  /** Deletes a replayed segment; a no-op for one already gone. */
  remove(segment: SpoolSegment): Promise<void>;
  /** Appends entries (fsync'd) to `dead-letter.jsonl`, which an operator inspects and replays by hand. */
  deadLetter(entries: readonly DeadLetter[]): Promise<void>;
  /** Resolves when every operation started so far has finished. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolOptions {
  dir: string;
  log: Logger;
  /** A segment takes no more batches once it holds this many rows. */
  segmentMaxRows?: number;
  clock?: Clock;
  /** Spool directories of dead processes, now this one's: replayed first (in this order), removed once empty. */
  adopt?: readonly string[];
}

export const DEAD_LETTER_FILE = 'dead-letter.jsonl';
const SEGMENT_RE = /^segment-(\d{16})-(\d{6})\.jsonl$/;

/** True for the name of a segment file. */
export function isSegmentFile(name: string): boolean {
  return SEGMENT_RE.test(name);
}

interface Segment {
  name: string;
  file: string;
  /** Adopted directories replay first, in the order given; this process's own directory comes last. */
  group: number;
  /** The adopted directory it is in; undefined for this process's own. */
  adoptedDir: string | undefined;
  seq: number;
  sub: number;
  rows: number;
  /** Corrupt lines already dead-lettered by this process (a segment can be read again after a failed replay). */
  corruptHandled: boolean;
}

export class SpoolClosedError extends VoiceAiError {
  constructor() {
    super('E_QUEUE_CLOSED', 'spool is closed');
  }
}

/** Opens (creating it if needed) a spool directory and counts what an earlier process left in it. */
export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const { dir, log } = opts;
  const segmentMaxRows = opts.segmentMaxRows ?? 20_000;
  const clock = opts.clock ?? systemClock;
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const segments = new Map<string, Segment>();
  let maxSeq = 0;
  let durable = 0;
  const adopt = opts.adopt ?? [];
  const sources = [
    ...adopt.map((d, group) => ({ d, group, adopted: true })),
    { d: dir, group: adopt.length, adopted: false },
  ];
  for (const { d, group, adopted } of sources) {
    for (const file of await readdir(d)) {
      const m = SEGMENT_RE.exec(file);
      if (!m) continue;
      const full = path.join(d, file);
      const rows = await countLines(full);
      // Names from several directories must not collide: adopted ones carry their directory's.
      const name = adopted ? `${path.basename(d)}/${file}` : file;
      const seg: Segment = {
        name,
        file: full,
        group,
        adoptedDir: adopted ? d : undefined,
        seq: Number(m[1]),
        sub: Number(m[2]),
        rows,
        corruptHandled: false,
      };
      segments.set(name, seg);
      // Only this process's own numbering matters for new batches: adopted segments replay first anyway.
      if (!adopted) maxSeq = Math.max(maxSeq, seg.seq);
      durable += rows;
    }
  }
  if (segments.size > 0) {
    log.info(
      { segments: segments.size, rows: durable, adoptedDirs: adopt.length },
      'spool has rows to replay',
    );
  }
  // An adopted directory left with nothing to replay goes now (a dead-letter file keeps it).
  for (const d of adopt) {
    if (![...segments.values()].some((s) => s.adoptedDir === d)) await rmdir(d).catch(() => undefined);
  }

  let pending = durable;
  let deadLettered = 0;
  let nextSub = 0;
  let current: { seg: Segment; fh: FileHandle; size: number } | undefined;
  let closed = false;
  const closing = new AbortController();
  let tail: Promise<unknown> = Promise.resolve();

  /** Runs file operations one at a time, in call order: that is what keeps the segments in order. */
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new SpoolClosedError());
    const run = tail.then(op);
    tail = run.catch(() => undefined);
    return run;
  };

  const seal = async (): Promise<void> => {
    const c = current;
    current = undefined;
    if (c) await c.fh.close().catch(() => undefined);
  };

  const newSegment = async (seq: number): Promise<{ seg: Segment; fh: FileHandle; size: number }> => {
    const sub = nextSub++ % 1_000_000;
    const name = `segment-${String(seq).padStart(16, '0')}-${String(sub).padStart(6, '0')}.jsonl`;
    const file = path.join(dir, name);
    const fh = await open(file, 'wx', 0o600);
    // The new name must survive a power cut too, not only the bytes in it.
    await syncDir(dir);
    const seg: Segment = {
      name,
      file,
      group: adopt.length,
      adoptedDir: undefined,
      seq,
      sub,
      rows: 0,
      corruptHandled: false,
    };
    segments.set(name, seg);
    return { seg, fh, size: 0 };
  };

  const writeOnce = async (seq: number, data: Buffer, rows: number): Promise<void> => {
    // A batch numbered below the newest one (a flush that failed after later rows were spilled) gets a
    // segment of its own, which sorts before the later ones.
    const outOfOrder = seq <= maxSeq;
    if (current && !outOfOrder && current.seg.rows >= segmentMaxRows) await seal();
    const target = outOfOrder || !current ? await newSegment(seq) : current;
    try {
      await target.fh.write(data, 0, data.length, target.size);
      await target.fh.sync();
    } catch (err) {
      // Cut the partial write off so the retry does not leave half a line in the middle of the segment.
      const truncated = await target.fh.truncate(target.size).then(
        () => true,
        () => false,
      );
      if (!truncated || target !== current) {
        await target.fh.close().catch(() => undefined);
        if (target === current) current = undefined;
      }
      throw err;
    }
    target.size += data.length;
    target.seg.rows += rows;
    maxSeq = Math.max(maxSeq, seq);
    if (outOfOrder) await target.fh.close();
    else current = target;
  };

  const writeDeadLetter = async (entries: readonly DeadLetter[]): Promise<void> => {
    if (entries.length === 0) return;
    const at = new Date(clock.now()).toISOString();
    const data = entries.map((e) => JSON.stringify({ at, ...e }) + '\n').join('');
    const fh = await open(path.join(dir, DEAD_LETTER_FILE), 'a', 0o600);
    try {
      await fh.write(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    deadLettered += entries.length;
    for (const e of entries) {
      log.error(
        {
          code: e.code,
          reason: e.reason,
          ...(e.item ? { type: e.item.type, ...conversationOf(e.item) } : {}),
        },
        'write queue row moved to dead-letter',
      );
    }
  };

  const byAge = (a: Segment, b: Segment): number => a.group - b.group || a.seq - b.seq || a.sub - b.sub;

  /** Forgets a segment whose rows are gone from this spool (replayed, or taken by someone else). */
  const forget = async (seg: Segment): Promise<void> => {
    segments.delete(seg.name);
    pending -= seg.rows;
    durable -= seg.rows;
    const d = seg.adoptedDir;
    if (d !== undefined && ![...segments.values()].some((s) => s.adoptedDir === d)) {
      await rmdir(d).catch(() => undefined);
    }
  };

  /**
   * A segment file that vanished: another process replayed and removed it (two processes on one spool
   * directory). Its rows are not ours to deliver any more; waiting for the file would wedge the queue.
   */
  const vanished = (seg: Segment, op: string): void => {
    log.warn({ segment: seg.name, rows: seg.rows, op }, 'spool segment vanished; skipping it');
  };
  const find = (segment: SpoolSegment): Segment => {
    const seg = segments.get(segment.name);
    if (!seg) throw new VoiceAiError('E_NOT_FOUND', `spool segment ${segment.name} is gone`);
    return seg;
  };

  return {
    dir,
    get pendingRows() {
      return pending;
    },
    get durableRows() {
      return durable;
    },
    get deadLettered() {
      return deadLettered;
    },
    get maxSeq() {
      return maxSeq;
    },
    append(seq, items) {
      if (items.length === 0) return Promise.resolve();
      const data = Buffer.from(items.map((i) => JSON.stringify(i) + '\n').join(''));
      const op = serial(async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            await writeOnce(seq, data, items.length);
            durable += items.length;
            return;
          } catch (err) {
            if (closing.signal.aborted) throw err;
            log.error({ err, attempt, rows: items.length }, 'spool append failed; retrying');
            await delay(Math.max(50, backoffMs(attempt, 200, 5_000)), closing.signal).catch(() => undefined);
          }
        }
      });
      pending += items.length;
      return op.catch((err: unknown) => {
        pending -= items.length;
        throw err;
      });
    },
    segments() {
      return serial(async () => {
        await seal();
        return [...segments.values()].sort(byAge).map((s) => ({ name: s.name, rows: s.rows }));
      });
    },
    read(segment) {
      return serial(async () => {
        const seg = find(segment);
        let text: string;
        try {
          text = await readFile(seg.file, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          vanished(seg, 'read');
          await forget(seg);
          return [];
        }
        const lines = text.split('\n');
        const last = lines.pop() ?? '';
        const items: QueuedRow[] = [];
        const corrupt: DeadLetter[] = [];
        for (const line of lines) {
          const item = parseLine(line);
          if (item) items.push(item);
          else corrupt.push({ reason: 'spool line is not a queued row', raw: line });
        }
        if (last !== '') corrupt.push({ reason: 'spool line cut short (crash during write)', raw: last });
        if (corrupt.length > 0 && !seg.corruptHandled) {
          await writeDeadLetter(corrupt);
          seg.corruptHandled = true;
        }
        return items;
      });
    },
    remove(segment) {
      return serial(async () => {
        // Forgotten already when it vanished before it could be read.
        const seg = segments.get(segment.name);
        if (!seg) return;
        await unlink(seg.file).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          vanished(seg, 'remove');
        });
        await forget(seg);
      });
    },
    deadLetter(entries) {
      return serial(() => writeDeadLetter(entries));
    },
    async idle() {
      await tail;
    },
    async close() {
      if (closed) return;
      closing.abort();
      const last = serial(seal);
      closed = true;
      await last;
    },
  };
}

function parseLine(line: string): QueuedRow | undefined {
  try {
    const value: unknown = JSON.parse(line);
    upgradeLegacyColumns(value);
    return isQueuedRow(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Complete (newline-terminated) lines in a file, counted without reading it all into memory. */
async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  }
  return n;
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
