/**
 * One call's UDP endpoint for FreeSWITCH's stock `unicast` (reference/freeswitch.md §2a): raw L16
 * little-endian frames in, paced frames out.
 *
 * Addresses, as FreeSWITCH names them in the sendmsg: `local-ip`/`local-port` is FreeSWITCH's own socket (it
 * binds it, sends the caller's frames from it and `recv()`s our frames on it); `remote-ip`/`remote-port` is
 * this endpoint. So the destination of our output is the source of FreeSWITCH's datagrams (the recordings:
 * "first datagram from FreeSWITCH, source 127.0.0.1:18250", its local-port). The endpoint learns it from the
 * first datagram from `freeswitchHost` (or takes `freeswitchPort`) and then pins it: datagrams from any other
 * address or port are dropped. Output waits until that address is known.
 *
 * Output pacing, because FreeSWITCH writes every datagram at once as one frame with no jitter buffer: 150
 * frames sent at once were heard as the last 3 (mod_loopback's 3-frame queue empties on overflow). Frames go
 * out on a fixed schedule, frame k at `anchor + (k - leadFrames) * 20 ms` (never a chain of 20 ms timeouts,
 * so no drift), at most `leadFrames` ahead of real time. When the schedule has fallen a whole frame behind
 * (the queue ran dry, or the event loop stalled), it restarts from now instead of bursting to catch up.
 * A zero-length datagram ends FreeSWITCH's receive thread for good, so none is ever sent: a partial last
 * frame is padded with zeros and an empty play sends nothing.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { FRAME_MS, frameBytes, frameSamples, pcm16FromBytes, writePcm16 } from '../audio/frames.js';
import { AbortedError, InvalidInputError } from '../core/errors.js';

/** Time for the pacer and the first-frame timeout; tests inject a manual one. */
export interface PacingClock {
  /** Monotonic milliseconds. */
  monotonicMs(): number;
  /** Runs `fn` once after `delayMs`; the returned function cancels it. */
  setTimer(fn: () => void, delayMs: number): () => void;
}

export const systemPacingClock: PacingClock = {
  monotonicMs: () => performance.now(),
  setTimer: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    return () => clearTimeout(t);
  },
};

export type UnicastLog = Pick<Logger, 'debug' | 'warn' | 'error'>;

const noop = (): void => undefined;
const noLog = { debug: noop, warn: noop, error: noop } as unknown as UnicastLog;

export interface UnicastEndpointOptions {
  /** The address this endpoint binds, sent to FreeSWITCH as `remote-ip`. Default 127.0.0.1. */
  bindHost?: string;
  /** Ports tried for the bind, from a random start inside the range. */
  portRange: { min: number; max: number };
  /** At most this many ports are tried. Default 64. */
  maxBindAttempts?: number;
  /** FreeSWITCH's `local-ip` (an IP address): the only source accepted. */
  freeswitchHost: string;
  /** FreeSWITCH's `local-port`, when known; otherwise learned from its first datagram. */
  freeswitchPort?: number;
  sampleRateHz: 8000 | 16000;
  /** Frames sent ahead of real time, 0-2. Default 1 (the reference: "keep the lead at 1–2 frames"). */
  leadFrames?: number;
  /** Audio queued for output beyond this is dropped with a warn line. Default 60 s. */
  maxQueuedMs?: number;
  clock?: PacingClock;
  log?: UnicastLog;
}

export interface PlayResult {
  /** True when clear(), close() or the play's signal stopped it before its last frame was sent. */
  interrupted: boolean;
  /** Audio of this play handed to FreeSWITCH, padding excluded. */
  playedMs: number;
  /** Audio not queued because the output queue was full (0 normally). */
  droppedMs: number;
}

export interface UnicastStats {
  framesIn: number;
  framesOut: number;
  /** Datagrams from an address or port other than FreeSWITCH's. */
  droppedForeign: number;
  /** Datagrams from FreeSWITCH that are not exactly one 20 ms frame (odd length, other size, empty). */
  droppedMalformed: number;
  sendErrors: number;
  /** Times the schedule restarted because output fell a frame behind while audio was queued. */
  underruns: number;
}

export interface UnicastEndpoint {
  readonly localHost: string;
  readonly localPort: number;
  readonly sampleRateHz: number;
  /** FreeSWITCH's address once its first datagram came (or as configured). */
  readonly peer: { address: string; port: number } | undefined;
  /** Calls `cb` with every well-formed caller frame (sampleRateHz / 50 samples); returns the unsubscribe. */
  onFrame(cb: (frame: Int16Array) => void): () => void;
  /**
   * True once a datagram from FreeSWITCH arrived, false if none came within `timeoutMs`. The unicast reply
   * is always +OK, so this is how a failed bind on FreeSWITCH's side shows. Rejects when `signal` aborts.
   */
  firstFrame(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Queues audio; resolves when its last frame was sent to FreeSWITCH, or when it was stopped. */
  play(pcm: Int16Array, signal?: AbortSignal): Promise<PlayResult>;
  /** Stops output now and drops the queue; pending plays resolve interrupted. */
  clear(): void;
  readonly stats: Readonly<UnicastStats>;
  /** Releases the socket; idempotent. Pending plays resolve interrupted, pending firstFrame false. */
  close(): Promise<void>;
}

/** No port of the range could be bound. */
export class UnicastBindError extends Error {
  readonly code = 'E_UNICAST_BIND';
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super(message);
    this.name = 'UnicastBindError';
    this.attempts = attempts;
  }
}

/**
 * The sendmsg headers that start unicast. From FreeSWITCH's side: `local-*` is where it binds (`freeswitch`),
 * `remote-*` is where it sends (this endpoint).
 */
export function unicastCommand(
  endpoint: Pick<UnicastEndpoint, 'localHost' | 'localPort'>,
  freeswitch: { ip: string; port: number },
): Record<string, string> {
  if (endpoint.localHost === '0.0.0.0' || endpoint.localHost === '::') {
    throw new InvalidInputError('unicast remote-ip must be a concrete address, not a wildcard bind');
  }
  return {
    'call-command': 'unicast',
    'local-ip': freeswitch.ip,
    'local-port': String(freeswitch.port),
    'remote-ip': endpoint.localHost,
    'remote-port': String(endpoint.localPort),
    transport: 'udp',
  };
}

/** Binds a UDP socket on a free port of the range and returns the endpoint on it. */
export async function openUnicastEndpoint(opts: UnicastEndpointOptions): Promise<UnicastEndpoint> {
  const host = opts.bindHost ?? '127.0.0.1';
  const { min, max } = opts.portRange;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
    throw new InvalidInputError(`unicast port range ${min}-${max} is not within 1-65535`);
  }
  if (isIP(host) === 0) throw new InvalidInputError(`unicast bindHost ${host} is not an IP address`);
  if (isIP(opts.freeswitchHost) === 0) {
    throw new InvalidInputError(`unicast freeswitchHost ${opts.freeswitchHost} is not an IP address`);
  }
  const span = max - min + 1;
  const attempts = Math.min(span, opts.maxBindAttempts ?? 64);
  // A random start, so concurrent calls do not all race for the first port.
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < attempts; i++) {
    const port = min + ((start + i) % span);
    const socket = await bindOrUndefined(host, port);
    if (socket !== undefined) return new Endpoint(socket, host, port, opts);
  }
  throw new UnicastBindError(
    `no free UDP port for unicast on ${host} in ${min}-${max} (${attempts} tried)`,
    attempts,
  );
}

/** The bound socket, or undefined when the port is taken; other bind errors reject. */
function bindOrUndefined(host: string, port: number): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

interface PlayJob {
  samples: Int16Array;
  /** Next sample to send. */
  offset: number;
  finish: (interrupted: boolean) => void;
}

class Endpoint implements UnicastEndpoint {
  readonly sampleRateHz: number;
  peer: { address: string; port: number } | undefined;
  private readonly frameSamples: number;
  private readonly frameBytes: number;
  private readonly leadFrames: number;
  private readonly maxQueuedSamples: number;
  private readonly clock: PacingClock;
  private readonly log: UnicastLog;
  private readonly listeners = new Set<(frame: Int16Array) => void>();
  private readonly firstFrameWaiters = new Set<(up: boolean) => void>();
  private readonly queue: PlayJob[] = [];
  private queuedSamples = 0;
  private heardFromFreeswitch = false;
  /** The schedule: frame k since `anchorMs` may leave at anchorMs + (k - leadFrames) * FRAME_MS. */
  private anchorMs: number | undefined;
  private sentSinceAnchor = 0;
  /** True when the last pump left audio queued: a restart after it is an underrun, not a new talk spurt. */
  private wasBusy = false;
  private cancelTimer: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private readonly counters: UnicastStats = {
    framesIn: 0,
    framesOut: 0,
    droppedForeign: 0,
    droppedMalformed: 0,
    sendErrors: 0,
    underruns: 0,
  };

  constructor(
    private readonly socket: Socket,
    readonly localHost: string,
    readonly localPort: number,
    private readonly opts: UnicastEndpointOptions,
  ) {
    this.sampleRateHz = opts.sampleRateHz;
    this.frameSamples = frameSamples(opts.sampleRateHz);
    this.frameBytes = frameBytes(opts.sampleRateHz);
    this.leadFrames = Math.max(0, Math.min(2, Math.floor(opts.leadFrames ?? 1)));
    this.maxQueuedSamples = Math.round(((opts.maxQueuedMs ?? 60_000) * opts.sampleRateHz) / 1000);
    this.clock = opts.clock ?? systemPacingClock;
    this.log = opts.log ?? noLog;
    if (opts.freeswitchPort !== undefined) {
      this.peer = { address: opts.freeswitchHost, port: opts.freeswitchPort };
    }
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.log.error({ err, localPort }, 'unicast socket error'));
  }

  get stats(): Readonly<UnicastStats> {
    return { ...this.counters };
  }

  onFrame(cb: (frame: Int16Array) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  firstFrame(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(new AbortedError('unicast firstFrame aborted'));
    if (this.heardFromFreeswitch) return Promise.resolve(true);
    if (this.closing !== undefined) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      const settle = (outcome: boolean | AbortedError): void => {
        cancel();
        signal?.removeEventListener('abort', onAbort);
        this.firstFrameWaiters.delete(settle);
        if (typeof outcome === 'boolean') resolve(outcome);
        else reject(outcome);
      };
      const onAbort = (): void =>
        settle(new AbortedError('unicast firstFrame aborted', { cause: signal?.reason }));
      const cancel = this.clock.setTimer(() => settle(false), timeoutMs);
      this.firstFrameWaiters.add(settle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  play(pcm: Int16Array, signal?: AbortSignal): Promise<PlayResult> {
    if (this.closing !== undefined || signal?.aborted) {
      return Promise.resolve({ interrupted: true, playedMs: 0, droppedMs: 0 });
    }
    const take = Math.min(pcm.length, Math.max(0, this.maxQueuedSamples - this.queuedSamples));
    const droppedMs = this.samplesToMs(pcm.length - take);
    if (take < pcm.length) {
      this.log.warn(
        { queuedMs: this.samplesToMs(this.queuedSamples), droppedMs, localPort: this.localPort },
        'unicast output queue full, audio truncated',
      );
    }
    if (take === 0) return Promise.resolve({ interrupted: false, playedMs: 0, droppedMs });
    return new Promise((resolve) => {
      const job: PlayJob = {
        samples: pcm.slice(0, take),
        offset: 0,
        finish: (interrupted) => {
          signal?.removeEventListener('abort', onAbort);
          resolve({ interrupted, playedMs: this.samplesToMs(job.offset), droppedMs });
        },
      };
      const onAbort = (): void => {
        const i = this.queue.indexOf(job);
        if (i < 0) return;
        this.queue.splice(i, 1);
        this.queuedSamples -= job.samples.length - job.offset;
        job.finish(true);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.queuedSamples += take;
      if (this.cancelTimer === undefined) this.pump();
    });
  }

  clear(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.wasBusy = false;
    const jobs = this.queue.splice(0);
    this.queuedSamples = 0;
    for (const job of jobs) job.finish(true);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.clear();
      for (const settle of [...this.firstFrameWaiters]) settle(false);
      this.listeners.clear();
      this.socket.close(() => resolve());
      this.log.debug({ localPort: this.localPort, ...this.counters }, 'unicast endpoint closed');
    });
    return this.closing;
  }

  private samplesToMs(samples: number): number {
    return (samples * 1000) / this.sampleRateHz;
  }

  private onDatagram(msg: Buffer, address: string, port: number): void {
    if (this.closing !== undefined) return;
    if (address !== this.opts.freeswitchHost || (this.peer !== undefined && port !== this.peer.port)) {
      // The first one is worth a line (a misconfigured host, a stray sender); the rest are counted.
      if (this.counters.droppedForeign++ === 0) {
        this.log.warn(
          { address, port, localPort: this.localPort },
          'unicast datagram from a foreign address',
        );
      }
      return;
    }
    this.peer ??= { address, port };
    if (msg.length !== this.frameBytes) {
      if (this.counters.droppedMalformed++ === 0) {
        this.log.warn(
          { bytes: msg.length, expectedBytes: this.frameBytes, localPort: this.localPort },
          'unicast datagram of the wrong size',
        );
      }
    } else {
      this.counters.framesIn++;
      const frame = pcm16FromBytes(msg).samples;
      for (const cb of this.listeners) {
        try {
          cb(frame);
        } catch (err) {
          this.log.error({ err, localPort: this.localPort }, 'unicast onFrame listener threw');
        }
      }
    }
    // Any datagram from FreeSWITCH proves its side is bound, even one of the wrong size (another codec).
    if (!this.heardFromFreeswitch) {
      this.heardFromFreeswitch = true;
      for (const settle of [...this.firstFrameWaiters]) settle(true);
      if (this.cancelTimer === undefined) this.pump();
    }
  }

  /** Sends what the schedule allows now and arms the timer for the next frame. */
  private pump(): void {
    this.cancelTimer = undefined;
    const peer = this.peer;
    if (this.queue.length === 0) this.wasBusy = false;
    if (this.closing !== undefined || peer === undefined || this.queue.length === 0) return;
    const now = this.clock.monotonicMs();
    if (this.anchorMs === undefined || now - this.anchorMs >= (this.sentSinceAnchor + 1) * FRAME_MS) {
      // A whole slot passed unsent: bursting the backlog would overflow FreeSWITCH's side, so restart.
      if (this.wasBusy) {
        this.counters.underruns++;
        this.log.debug({ localPort: this.localPort }, 'unicast output fell behind, schedule restarted');
      }
      this.anchorMs = now;
      this.sentSinceAnchor = 0;
    }
    const allowed = Math.floor((now - this.anchorMs) / FRAME_MS) + this.leadFrames + 1;
    while (this.sentSinceAnchor < allowed && this.queue.length > 0) {
      this.sendFrame(peer);
      this.sentSinceAnchor++;
    }
    this.wasBusy = this.queue.length > 0;
    if (!this.wasBusy) return;
    const dueMs = this.anchorMs + (this.sentSinceAnchor - this.leadFrames) * FRAME_MS;
    this.cancelTimer = this.clock.setTimer(() => this.pump(), Math.max(0, Math.ceil(dueMs - now)));
  }

  private sendFrame(peer: { address: string; port: number }): void {
    const job = this.queue[0];
    if (job === undefined) return;
    const n = Math.min(this.frameSamples, job.samples.length - job.offset);
    // Zero-filled, so a partial last frame is padded with silence; the datagram is never empty.
    const buf = Buffer.alloc(this.frameBytes);
    writePcm16(buf, 0, job.samples.subarray(job.offset, job.offset + n));
    job.offset += n;
    this.queuedSamples -= n;
    this.counters.framesOut++;
    this.socket.send(buf, peer.port, peer.address, (err) => {
      if (err === null || err === undefined) return;
      if (this.counters.sendErrors++ === 0) {
        this.log.warn({ err, localPort: this.localPort }, 'unicast send failed');
      }
    });
    if (job.offset >= job.samples.length) {
      this.queue.shift();
      job.finish(false);
    }
  }
}
