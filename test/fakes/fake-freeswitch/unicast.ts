/**
 * `sendmsg` + `call-command: unicast` on a parked channel (reference/freeswitch.md §2a, switch_ivr.c
 * switch_ivr_activate_unicast / unicast_thread_run): FreeSWITCH binds UDP `local-ip:local-port`, sends every
 * frame the parked channel reads (the caller, raw L16 LE at the read rate, CNG as bytes 0xFF) to
 * `remote-ip:remote-port`, and writes every datagram it receives, from any source, into the caller's leg
 * (mod_loopback's 3-frame queue, shared with the standalone fake in ../fake-freeswitch-unicast.ts).
 * A failed bind is silent: the reply was +OK already, and no datagram ever comes.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { LoopbackPlayout } from '../fake-freeswitch-unicast.js';
import type { Frame } from './caller.js';
import type { Hub } from './hub.js';
import type { Timers } from './runtime.js';
import type { FakeUnicastState } from './types.js';
import type { ClientCommand } from './wire.js';
import { commandHeader } from './wire.js';

const FRAME_MS = 20;

export interface UnicastAddresses {
  localHost: string;
  localPort: number;
  remoteHost: string;
  remotePort: number;
}

export interface UnicastDeps {
  timers: Timers;
  speed: number;
  rateHz: number;
  /** Call time in ms (wall time multiplied by speed). */
  callTimeMs(): number;
  /** The frame the parked channel reads next; undefined once the caller is gone. */
  readFrame(): Frame | undefined;
  /** A datagram from the daemon reached the caller's leg at this call time. */
  onDaemonAudio(atCallMs: number): void;
  violation(text: string): void;
}

/** Parses the sendmsg headers with FreeSWITCH's defaults (127.0.0.1:8025 -> 127.0.0.1:8026). */
export function unicastAddresses(header: (name: string) => string | undefined): UnicastAddresses {
  const port = (v: string | undefined, dflt: number): number => {
    const n = v === undefined ? Number.NaN : Number.parseInt(v, 10);
    return Number.isFinite(n) ? n : dflt;
  };
  return {
    localHost: header('local-ip') ?? '127.0.0.1',
    localPort: port(header('local-port'), 8025),
    remoteHost: header('remote-ip') ?? '127.0.0.1',
    remotePort: port(header('remote-port'), 8026),
  };
}

/** The unicast sendmsg's connection; `refuse` (or `transport: sctp`) fails it as the switch would. */
export function openUnicast(
  cmd: ClientCommand,
  ctx: Pick<UnicastDeps, 'readFrame' | 'onDaemonAudio' | 'violation'> & {
    hub: Pick<Hub, 'timers' | 'speed'>;
    rateHz: number;
    refuse: boolean;
  },
): UnicastSession {
  const transport = (commandHeader(cmd, 'transport') ?? 'udp').toLowerCase();
  const { hub } = ctx;
  return new UnicastSession(
    {
      timers: hub.timers,
      speed: hub.speed,
      rateHz: ctx.rateHz,
      callTimeMs: () => performance.now() * hub.speed,
      readFrame: ctx.readFrame,
      onDaemonAudio: ctx.onDaemonAudio,
      violation: ctx.violation,
    },
    unicastAddresses((name) => commandHeader(cmd, name)),
    !ctx.refuse && transport !== 'sctp',
  );
}

type Phase = 'binding' | 'running' | 'draining' | 'closed' | 'failed';

/** One call's unicast connection on FreeSWITCH's side. */
export class UnicastSession {
  framesSent = 0;
  framesReceived = 0;
  receiverDead = false;
  private phase: Phase = 'binding';
  private socket: Socket | undefined;
  private readonly leg: LoopbackPlayout;
  private readonly startMs: number;
  private clockStart = 0;
  private cancelTick: (() => void) | undefined;
  private readonly frameBytes: number;

  constructor(
    private readonly deps: UnicastDeps,
    readonly addresses: UnicastAddresses,
    /** False when FreeSWITCH cannot create the connection (`unicast: 'refuse'`, `transport: sctp`). */
    canBind: boolean,
  ) {
    this.startMs = deps.callTimeMs();
    this.leg = new LoopbackPlayout(this.startMs);
    this.frameBytes = (deps.rateHz / 50) * 2;
    if (canBind) this.bind();
    else this.phase = 'failed';
  }

  /** Bound (or binding) and the park loop still feeds it. */
  get inPark(): boolean {
    return this.phase === 'binding' || this.phase === 'running';
  }

  get bound(): boolean {
    return this.socket !== undefined && (this.phase === 'running' || this.phase === 'draining');
  }

  private bind(): void {
    // transport: tcp still opens a UDP socket (switch_socket_create(..., SOCK_DGRAM)).
    const socket = createSocket('udp4');
    const onBindError = (): void => {
      // Port in use or bad address: "Failure creating unicast connection" in the log only.
      if (this.phase === 'binding') this.phase = 'failed';
      socket.close();
    };
    socket.once('error', onBindError);
    socket.bind(this.addresses.localPort, this.addresses.localHost, () => {
      socket.off('error', onBindError);
      socket.on('error', () => undefined);
      if (this.phase !== 'binding') {
        socket.close();
        return;
      }
      socket.on('message', (msg) => this.onDatagram(msg));
      this.socket = socket;
      this.phase = 'running';
      this.clockStart = this.deps.callTimeMs();
      this.schedule();
    });
  }

  private schedule(): void {
    const next = this.clockStart + (this.framesSent + 1) * FRAME_MS - this.deps.callTimeMs();
    this.cancelTick = this.deps.timers.set(Math.max(0, next) / this.deps.speed, () => this.tick());
  }

  /** The parked channel's read loop: one datagram per 20 ms of call time. */
  private tick(): void {
    this.cancelTick = undefined;
    if (this.phase !== 'running' || !this.socket) return;
    const due = Math.floor((this.deps.callTimeMs() - this.clockStart) / FRAME_MS);
    while (this.framesSent < due) {
      const frame = this.deps.readFrame();
      if (!frame) return;
      this.framesSent++;
      const buf = Buffer.alloc(this.frameBytes, frame.cng ? 0xff : 0);
      if (!frame.cng) {
        for (let i = 0; i < frame.samples.length; i++) buf.writeInt16LE(frame.samples[i] ?? 0, i * 2);
      }
      this.socket.send(buf, this.addresses.remotePort, this.addresses.remoteHost, () => undefined);
    }
    this.schedule();
  }

  private onDatagram(msg: Buffer): void {
    if (this.receiverDead || this.phase === 'closed') return;
    if (msg.length === 0) {
      // unicast_thread_run: a read of 0 bytes ends the receive thread; the sender goes on.
      this.receiverDead = true;
      this.deps.violation('zero-length unicast datagram');
      return;
    }
    const at = this.deps.callTimeMs();
    this.framesReceived++;
    this.leg.write(at, Buffer.from(msg));
    this.deps.onDaemonAudio(at);
  }

  /**
   * An app that resets the session started (playback, record, ...): park reads no more frames, so nothing
   * is sent again; the receive thread goes on writing until the app completes (then `close`).
   */
  suspend(): void {
    if (this.phase === 'binding' || this.phase === 'running') this.phase = 'draining';
    this.cancelTick?.();
    this.cancelTick = undefined;
  }

  /** switch_ivr_deactivate_unicast: the socket is closed; idempotent. `callerGone` stops the leg too. */
  close(callerGone = false): void {
    this.suspend();
    if (callerGone) this.leg.stop(this.deps.callTimeMs());
    if (this.phase === 'closed' || this.phase === 'failed') return;
    this.phase = 'closed';
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
  }

  heardFrames(): Array<{ atMs: number; samples: Int16Array }> {
    this.leg.readUntil(this.deps.callTimeMs());
    return this.leg.heard.map((f) => ({ atMs: f.atMs - this.startMs, samples: pcm(f.bytes) }));
  }
}

function pcm(bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

/** The FakeCall.unicast view over the call's session (none until a unicast sendmsg was handled). */
export function unicastState(session: () => UnicastSession | undefined): FakeUnicastState {
  return {
    get started() {
      return session() !== undefined;
    },
    get active() {
      const s = session();
      return s !== undefined && s.inPark && s.bound;
    },
    get bound() {
      return session()?.bound ?? false;
    },
    get receiverDead() {
      return session()?.receiverDead ?? false;
    },
    get framesSent() {
      return session()?.framesSent ?? 0;
    },
    get framesReceived() {
      return session()?.framesReceived ?? 0;
    },
    get local() {
      const a = session()?.addresses;
      return a === undefined ? undefined : { host: a.localHost, port: a.localPort };
    },
    heardFrames() {
      return session()?.heardFrames() ?? [];
    },
    heard() {
      const frames = session()?.heardFrames() ?? [];
      const out = new Int16Array(frames.reduce((n, f) => n + f.samples.length, 0));
      let off = 0;
      for (const f of frames) {
        out.set(f.samples, off);
        off += f.samples.length;
      }
      return out;
    },
  };
}
