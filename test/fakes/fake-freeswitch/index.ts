/**
 * A fake FreeSWITCH 1.10.12 on the wire, faithful to the recordings in test/fixtures/recordings: an inbound
 * event socket (auth, api, bgapi, events, filters) and outbound `socket` calls that run the daemon's
 * sendmsg applications against a scripted caller. Independent of src/esl, which it exists to check.
 *
 * How a call behaves (details in types.ts):
 * - The channel is modelled on the recordings' loopback b-leg (`loopback/<dest>-b`, L16 8 kHz unless
 *   `readCodec`/`readRateHz` say otherwise); `connect` returns its CHANNEL_DATA byte for byte in layout.
 * - sendmsg goes to the channel's private queue: nothing is dequeued while an `event-lock: true` app runs,
 *   so a `call-command: hangup` waits behind a locked playback (use uuid_kill / uuid_break). A message that
 *   arrives while an unlocked blocking app runs executes nested inside it, and is listed in `violations`.
 * - The caller's `speak`/`silence` audio is consumed by the next `record` (or an audio stream), frame by
 *   frame in call time; with no audio left the channel reads comfort noise (silent, never recorded).
 * - `call-command: unicast` binds FreeSWITCH's UDP side and streams the caller both ways (unicast.ts,
 *   FakeCall.unicast); a playback/record/transfer or leaving park ends it, as on the real switch.
 * - Replies are written at once; events reach a socket `eventLatencyMs` later (FreeSWITCH's 20 ms poll).
 * - A call ends (`ended`) when the channel has hung up and its socket is closed: without linger the fake
 *   sends the disconnect notice and closes; with linger it waits for the daemon (or the linger time).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { runApi } from './api.js';
import { OutboundCall } from './call.js';
import type { CallControl, Hub } from './hub.js';
import { InboundConnection } from './inbound.js';
import type { Outlet } from './listener.js';
import { Timers } from './runtime.js';
import { newUuid, SwitchCore } from './switch-core.js';
import type {
  FakeCall,
  FakeFreeSwitch,
  FakeFreeSwitchOptions,
  InboundFaults,
  PlaceCallOptions,
} from './types.js';
import type { FsEvent, HeaderValue } from './wire.js';

export type * from './types.js';

/** Starts the fake; resolves once the inbound port listens. */
export async function startFakeFreeSwitch(opts: FakeFreeSwitchOptions = {}): Promise<FakeFreeSwitch> {
  const fake = new FakeSwitch(opts);
  await fake.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return fake;
}

class FakeSwitch implements FakeFreeSwitch, Hub {
  readonly core: SwitchCore;
  readonly timers = new Timers();
  readonly speed: number;
  readonly latencyMs: number;
  readonly recordDir: string;
  readonly apiLog: string[] = [];
  private readonly outlets = new Set<Outlet>();
  private readonly calls = new Map<string, OutboundCall>();
  private readonly conns = new Set<InboundConnection>();
  private readonly server: Server;
  private readonly startedAt = performance.now();
  private sessions = 0;
  private port = 0;
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: FakeFreeSwitchOptions) {
    this.speed = opts.speed ?? 1;
    this.latencyMs = opts.eventLatencyMs ?? 20 / this.speed;
    this.recordDir = opts.recordDir ?? tmpdir();
    this.core = new SwitchCore({
      coreUuid: opts.coreUuid ?? newUuid(),
      hostname: opts.hostname ?? 'vm',
      switchname: opts.switchname ?? 'pbx',
      ipv4: opts.ipv4 ?? '192.0.2.2',
      ipv6: opts.ipv6 ?? 'fd00::2',
    });
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : port;
        resolve();
      });
    });
  }

  get inboundPort(): number {
    return this.port;
  }

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const conn = new InboundConnection(
      socket,
      this,
      this.opts.password ?? 'ClueCon',
      this.opts.authTimeoutMs ?? 25_000,
      this.apiLog,
      (c) => this.conns.delete(c),
    );
    this.conns.add(conn);
  }

  placeCall(opts: PlaceCallOptions): FakeCall {
    const call = new OutboundCall(this, opts);
    this.sessions++;
    this.calls.set(call.uuid, call);
    void call.ended.then(() => this.calls.delete(call.uuid));
    return call;
  }

  inboundConnections(): number {
    return Array.from(this.conns).filter((c) => c.isOpen).length;
  }

  emitEvent(headers: Record<string, string>, body?: string): void {
    const name = headers['Event-Name'] ?? 'CUSTOM';
    const subclass = headers['Event-Subclass'];
    const rest: Array<[string, HeaderValue]> = Object.entries(headers).filter(
      ([k]) => k !== 'Event-Name' && k !== 'Event-Subclass',
    );
    const opts = subclass === undefined ? {} : { subclass };
    this.fire(
      this.core.plainEvent(name, rest, body === undefined ? undefined : Buffer.from(body, 'utf8'), opts),
    );
  }

  // Hub
  fire(event: FsEvent): void {
    for (const o of this.outlets) o.offer(event);
  }
  addOutlet(outlet: Outlet): void {
    this.outlets.add(outlet);
  }
  removeOutlet(outlet: Outlet): void {
    this.outlets.delete(outlet);
  }
  findCall(uuid: string): CallControl | undefined {
    return this.calls.get(uuid);
  }
  runApi(command: string, arg: string | undefined): Promise<string | undefined> {
    return runApi(
      { hub: this, startedAt: this.startedAt, sessionsSinceStartup: () => this.sessions },
      command,
      arg,
    );
  }

  readonly faults: InboundFaults = {
    dropInbound: () => {
      for (const c of this.conns) c.socket.destroy();
    },
    sendGarbage: (bytes) => {
      for (const c of this.conns) if (c.isOpen) c.socket.write(bytes);
    },
    sendOversized: (bytes) => {
      for (const c of this.conns) if (c.isOpen) streamOversized(c.socket, bytes);
    },
    stallReads: (ms) => {
      for (const c of this.conns) if (c.isOpen) c.stall(ms);
    },
  };

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const call of this.calls.values()) call.shutdown();
      for (const c of Array.from(this.conns)) {
        c.close(true, 'The system is being shut down.\n');
        c.socket.destroySoon();
      }
      this.timers.clearAll();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const c of this.conns) c.socket.destroy();
    })();
    return this.stopped;
  }
}

/** An event frame announcing `bytes` of body, streamed in 64 KiB chunks until done or the peer hangs up. */
function streamOversized(socket: Socket, bytes: number): void {
  socket.write(`Content-Length: ${bytes}\nContent-Type: text/event-plain\n\n`);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  let left = bytes;
  const pump = (): void => {
    while (left > 0 && !socket.destroyed) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!socket.write(chunk.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}
