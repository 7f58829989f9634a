/**
 * FreeSWITCH's side of `unicast` (reference/freeswitch.md §2a) on a real UDP socket: it binds its
 * `local-port`, sends the caller's frames from it to the daemon's `remote-port`, and plays what it receives
 * the way the recorded loopback calls did:
 * - every datagram is written at once as one frame into the caller leg's 3-frame queue, which is emptied
 *   when a write finds it full (mod_loopback FRAME_QUEUE_LEN 3); the caller leg reads one frame per 20 ms.
 *   So 150 frames sent at once are heard as frames 148-150, as in unicast-burst.jsonl;
 * - a zero-length datagram ends the receive thread: nothing is recorded or played after it
 *   (`receiverDead`), while the fake keeps sending;
 * - datagrams from any source are accepted (a plain recv(), no address check).
 * Arrival times and the caller's 20 ms read ticks come from an injectable clock, so tests that drive the
 * daemon's pacer with a manual clock get a deterministic "heard" record.
 * The loopback queue model (LoopbackPlayout) is shared with the fake FreeSWITCH's unicast
 * (fake-freeswitch/unicast.ts), which runs it in call time.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface FakeUnicastClock {
  monotonicMs(): number;
}

export interface FakeUnicastOptions {
  sampleRateHz: 8000 | 16000;
  /** The daemon's socket: `remote-ip` / `remote-port` of the sendmsg. */
  remote: { host: string; port: number };
  /** FreeSWITCH's `local-ip`; 127.0.0.1. */
  host?: string;
  /** FreeSWITCH's `local-port`; 0 picks a free one. */
  port?: number;
  clock?: FakeUnicastClock;
  /** Frames the caller leg buffers (mod_loopback: 3). */
  playoutQueueFrames?: number;
  /** Idle CNG frames (all bytes 0xFF) every 20 ms of real time while no caller audio is queued. Off by default. */
  cng?: boolean;
}

export interface ReceivedDatagram {
  /** Clock time of arrival. */
  atMs: number;
  bytes: Buffer;
  from: { address: string; port: number };
}

export interface FakeUnicast {
  readonly host: string;
  readonly port: number;
  /** Every datagram received before the receiver died, in order. */
  readonly received: readonly ReceivedDatagram[];
  /** True once a zero-length datagram arrived. */
  readonly receiverDead: boolean;
  /** Times a write found the caller's queue full and emptied it. */
  readonly queueFlushes: number;
  /** The frames the caller heard up to `atMs` (clock now by default), in order. */
  heard(atMs?: number): Buffer[];
  /** Sends caller frames: all at once, or `paced` one per 20 ms of real time; a partial tail is padded. */
  sendCallerAudio(samples: Int16Array, opts?: { paced?: boolean }): Promise<void>;
  /** Sends one datagram exactly as given (the caller of the fake decides what it is). */
  sendRaw(bytes: Buffer): Promise<void>;
  /** Resolves once `count` datagrams were received; rejects after `timeoutMs` of real time. */
  waitForReceived(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const FRAME_MS = 20;

/**
 * The caller leg of a loopback call as unicast's receive thread feeds it: each datagram is written at once
 * as one frame into a queue of `capacity` frames (mod_loopback FRAME_QUEUE_LEN 3) that is emptied when a
 * write finds it full; the leg reads one frame every 20 ms from `startMs`. Times are the owner's clock.
 */
export class LoopbackPlayout {
  /** Frames the caller read, with the time of the read. */
  readonly heard: Array<{ atMs: number; bytes: Buffer }> = [];
  /** Times a write found the queue full and emptied it. */
  flushes = 0;
  private readonly queue: Buffer[] = [];
  private readsDone = 0;
  private stopAtMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly startMs: number,
    private readonly capacity = 3,
  ) {}

  /** The reads due up to `atMs` (never past stop()). */
  readUntil(atMs: number): void {
    const until = Math.min(atMs, this.stopAtMs);
    while (this.startMs + this.readsDone * FRAME_MS <= until) {
      const f = this.queue.shift();
      if (f !== undefined) this.heard.push({ atMs: this.startMs + this.readsDone * FRAME_MS, bytes: f });
      this.readsDone++;
    }
  }

  /** One datagram written into the leg's queue at `atMs`. */
  write(atMs: number, bytes: Buffer): void {
    if (atMs > this.stopAtMs) return;
    this.readUntil(atMs);
    if (this.queue.length >= this.capacity) {
      this.queue.length = 0;
      this.flushes++;
    }
    this.queue.push(bytes);
  }

  /** The leg is gone at `atMs` (hung up): nothing is read or written after it. */
  stop(atMs: number): void {
    this.readUntil(atMs);
    this.stopAtMs = Math.min(this.stopAtMs, atMs);
  }
}

export async function startFakeUnicast(opts: FakeUnicastOptions): Promise<FakeUnicast> {
  const clock = opts.clock ?? { monotonicMs: () => performance.now() };
  const frameBytes = (opts.sampleRateHz / 50) * 2;
  const queueCap = opts.playoutQueueFrames ?? 3;
  const host = opts.host ?? '127.0.0.1';
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, host, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;

  const received: ReceivedDatagram[] = [];
  const waiters = new Set<() => void>();
  let receiverDead = false;
  // The caller leg: its queue and the frames it read, one per FRAME_MS from the fake's start.
  const leg = new LoopbackPlayout(clock.monotonicMs(), queueCap);

  socket.on('message', (msg, rinfo) => {
    if (receiverDead) return;
    if (msg.length === 0) {
      receiverDead = true;
      return;
    }
    const atMs = clock.monotonicMs();
    received.push({ atMs, bytes: Buffer.from(msg), from: { address: rinfo.address, port: rinfo.port } });
    leg.write(atMs, Buffer.from(msg));
    for (const w of [...waiters]) w();
  });

  const send = (bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) =>
      socket.send(bytes, opts.remote.port, opts.remote.host, (err) => (err ? reject(err) : resolve())),
    );
  const toFrames = (samples: Int16Array): Buffer[] => {
    const out: Buffer[] = [];
    for (let off = 0; off < samples.length; off += frameBytes / 2) {
      const buf = Buffer.alloc(frameBytes);
      const part = samples.subarray(off, off + frameBytes / 2);
      for (let i = 0; i < part.length; i++) buf.writeInt16LE(part[i] ?? 0, i * 2);
      out.push(buf);
    }
    return out;
  };

  // The parked channel's clock: one datagram per 20 ms, caller audio first, else CNG when enabled.
  const cngFrame = Buffer.alloc(frameBytes, 0xff);
  const paced: { frame: Buffer; done?: () => void }[] = [];
  let ticker: ReturnType<typeof setTimeout> | undefined;
  let tickerStart = 0;
  let ticks = 0;
  let closed = false;
  const tick = (): void => {
    ticker = undefined;
    if (closed) return;
    const next = paced.shift();
    if (next === undefined && opts.cng !== true) return;
    void send(next?.frame ?? cngFrame)
      .catch(() => undefined)
      .finally(() => next?.done?.());
    ticks++;
    const delay = tickerStart + ticks * FRAME_MS - performance.now();
    ticker = setTimeout(tick, Math.max(0, delay));
  };
  const startTicker = (): void => {
    if (ticker !== undefined || closed) return;
    tickerStart = performance.now();
    ticks = 0;
    tick();
  };
  if (opts.cng === true) startTicker();

  return {
    host,
    port,
    received,
    get receiverDead() {
      return receiverDead;
    },
    get queueFlushes() {
      return leg.flushes;
    },
    heard(atMs) {
      leg.readUntil(atMs ?? clock.monotonicMs());
      return leg.heard.map((f) => f.bytes);
    },
    async sendCallerAudio(samples, sendOpts) {
      const frames = toFrames(samples);
      if (sendOpts?.paced !== true) {
        for (const f of frames) await send(f);
        return;
      }
      const last = frames.length - 1;
      await new Promise<void>((resolve) => {
        if (last < 0) return resolve();
        frames.forEach((frame, i) => paced.push(i === last ? { frame, done: resolve } : { frame }));
        startTicker();
      });
    },
    sendRaw: send,
    waitForReceived(count, timeoutMs = 2000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (received.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake unicast: ${received.length} of ${count} datagrams after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      closed = true;
      if (ticker !== undefined) clearTimeout(ticker);
      for (const p of paced.splice(0)) p.done?.();
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}
