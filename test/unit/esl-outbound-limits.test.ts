/*
 * The outbound socket server's bounds, with real sockets: frame size, open connections, connections in the
 * handshake, the handshake deadline and the buffer budget shared by all connections. Every connection over a
 * limit is closed, counted (onReject, voice_ai_outbound_rejected_total) and logged at most once per reason
 * per 10 s. Issue 9 item 3: local peers announcing 8 MiB frames took the daemon past MemoryMax=1G.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createOutboundServer,
  type OutboundRejectReason,
  type OutboundServer,
  type OutboundServerOptions,
} from '../../src/esl/outbound.js';
import type { OutboundSession } from '../../src/esl/outbound-session.js';
import { createMetrics } from '../../src/http/metrics.js';
import { CommandReader, memoryLogger, recordedConnectReply, reply, silentLog } from './esl-support.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** Rejections as they happen; `count(n)` resolves once n were seen. */
function rejections(): {
  seen: OutboundRejectReason[];
  onReject: (r: OutboundRejectReason) => void;
  count: (n: number) => Promise<void>;
} {
  const seen: OutboundRejectReason[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    seen,
    onReject: (r) => {
      seen.push(r);
      for (const w of waiters.filter((x) => seen.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    count: (n) =>
      seen.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

/** Waits (bounded) for the server's own bookkeeping, which settles a loop turn after the peer sees a close. */
async function settled(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
}

/** A server that hands each session to the test and keeps it open until the test closes it. */
async function server(
  options: Partial<OutboundServerOptions> = {},
): Promise<{ server: OutboundServer; next: () => Promise<OutboundSession> }> {
  const arrived: OutboundSession[] = [];
  let waiting: ((s: OutboundSession) => void) | undefined;
  const s = await createOutboundServer({
    port: 0,
    log: silentLog,
    ...options,
    onSession: async (session) => {
      if (waiting) waiting(session);
      else arrived.push(session);
      waiting = undefined;
      await once(session.hangupSignal, 'abort');
    },
  });
  cleanups.push(() => s.destroy());
  const next = (): Promise<OutboundSession> => {
    const first = arrived.shift();
    return first ? Promise.resolve(first) : new Promise((resolve) => (waiting = resolve));
  };
  return { server: s, next };
}

/** The recorded CHANNEL_DATA connect reply, optionally with a padding variable and/or a body. */
function connectReply(opts: { padBytes?: number; bodyBytes?: number } = {}): Buffer {
  const { bytes } = recordedConnectReply();
  const head = bytes.subarray(0, bytes.length - 1); // keep the last header's LF, drop the blank line
  const pad = opts.padBytes === undefined ? '' : `variable_padding: ${'x'.repeat(opts.padBytes)}\n`;
  const len = opts.bodyBytes === undefined ? '' : `Content-Length: ${opts.bodyBytes}\n`;
  return Buffer.concat([head, Buffer.from(`${pad}${len}\n`), Buffer.alloc(opts.bodyBytes ?? 0, 0x61)]);
}

interface Peer {
  socket: Socket;
  reader: CommandReader;
  closed: Promise<void>;
  /** Bytes the server sent (a refused peer gets none). */
  received: () => number;
}

/** A FreeSWITCH-side socket driven by the test. */
function peer(port: number): Peer {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  cleanups.push(() => socket.destroy());
  return {
    socket,
    reader: new CommandReader(socket),
    closed: new Promise((resolve) => socket.once('close', () => resolve())),
    received: () => received,
  };
}

/** Sends the connect reply when asked, then +OK to every later command of the handshake. */
async function completeHandshake(p: Peer, connectBytes = connectReply()): Promise<void> {
  expect(await p.reader.next()).toBe('connect\n\n');
  p.socket.write(connectBytes);
  void (async () => {
    for (;;) {
      await p.reader.next();
      if (!p.socket.destroyed) p.socket.write(reply('+OK'));
    }
  })();
}

describe('outbound server limits', () => {
  it('a frame over the 256 KiB default closes its connection at its headers; real-sized channel data passes', async () => {
    const r = rejections();
    const { server: s, next } = await server({ onReject: r.onReject });
    const junk = peer(s.port);
    // What the 2,000 junk connections did: announce almost 8 MiB (the old limit) and trickle it.
    junk.socket.write('Content-Type: command/reply\nContent-Length: 8388000\n\n');
    junk.socket.write(Buffer.alloc(64 * 1024, 0x61));
    await junk.closed;
    await r.count(1);
    expect(r.seen).toEqual(['frame_too_large']);
    expect(s.bufferedBytes).toBe(0);

    // Channel data with many variables, 200 KiB, is still a call.
    const call = peer(s.port);
    await completeHandshake(call, connectReply({ padBytes: 200 * 1024 }));
    const session = await next();
    expect(session.channel.variables['padding']).toHaveLength(200 * 1024);
    expect(r.seen).toEqual(['frame_too_large']);
  });

  it('closes connections over maxConnections before sending them anything, and admits again once one ends', async () => {
    const r = rejections();
    const { server: s, next } = await server({ maxConnections: 2, onReject: r.onReject });
    const a = peer(s.port);
    const b = peer(s.port);
    await completeHandshake(a);
    await completeHandshake(b);
    const first = await next();
    await next();
    expect(s.sessions).toBe(2);

    const c = peer(s.port);
    await c.closed;
    await r.count(1);
    expect(r.seen).toEqual(['too_many_connections']);
    expect(c.received()).toBe(0);

    await first.close(); // resolves once the server has let go of it
    const d = peer(s.port);
    await completeHandshake(d);
    await next();
    expect(r.seen).toEqual(['too_many_connections']);
  });

  it('closes connections over maxHandshakes while the others have not answered connect', async () => {
    const r = rejections();
    const { server: s, next } = await server({ maxHandshakes: 2, onReject: r.onReject });
    const slow = [peer(s.port), peer(s.port)];
    // The server sends `connect` when the handshake starts: both are counted once they read it.
    for (const p of slow) expect(await p.reader.next()).toBe('connect\n\n');
    expect(s.handshakes).toBe(2);

    const third = peer(s.port);
    await third.closed;
    await r.count(1);
    expect(r.seen).toEqual(['too_many_handshakes']);
    expect(third.received()).toBe(0);

    // A finished handshake frees its place (the call itself does not hold one).
    const [one] = slow as [Peer, Peer];
    one.socket.write(connectReply());
    void (async () => {
      await one.reader.next();
      one.socket.write(reply('+OK'));
    })();
    await next();
    expect(s.handshakes).toBe(1);
    const fourth = peer(s.port);
    expect(await fourth.reader.next()).toBe('connect\n\n');
    expect(r.seen).toEqual(['too_many_handshakes']);
  });

  it('closes a connection that does not finish its handshake within the deadline', async () => {
    const r = rejections();
    const { log, lines } = memoryLogger('warn');
    const { server: s } = await server({ handshakeTimeoutMs: 150, onReject: r.onReject, log });
    const mute = peer(s.port);
    expect(await mute.reader.next()).toBe('connect\n\n');
    // It trickles a frame it never completes: the deadline covers the handshake, not each read.
    mute.socket.write('Content-Type: command/reply\nContent-Length: 1000\n\nabc');
    await mute.closed;
    await r.count(1);
    expect(r.seen).toEqual(['handshake_timeout']);
    // The handshake settles when the server side of the socket has closed, which the peer may see first.
    await settled(() => s.handshakes === 0);
    expect(s.handshakes).toBe(0);
    expect(s.bufferedBytes).toBe(0);
    expect(lines.map((l) => [l.msg, l['reason']])).toEqual([
      ['esl outbound connection rejected', 'handshake_timeout'],
    ]);
  });

  it('the buffer budget is shared: the connection that needs more than is left is closed, the others go on', async () => {
    const r = rejections();
    const budget = 1024 * 1024;
    const { server: s, next } = await server({
      maxFrameBytes: 512 * 1024,
      bufferBudgetBytes: budget,
      onReject: r.onReject,
    });
    // Three frames of 400 KiB cannot be held at once within 1 MiB; any two can. Each is sent but for its
    // last byte, so none completes: exactly one connection must go.
    const frame = connectReply({ bodyBytes: 400 * 1024 });
    const peers = [peer(s.port), peer(s.port), peer(s.port)];
    for (const p of peers) {
      expect(await p.reader.next()).toBe('connect\n\n');
      p.socket.write(frame.subarray(0, frame.length - 1));
    }
    await r.count(1);
    const rejected = await Promise.race(peers.map((p, i) => p.closed.then(() => i)));
    expect(r.seen).toEqual(['buffer_budget']);
    expect(s.bufferedBytes).toBeLessThanOrEqual(budget);

    const survivors = peers.filter((_, i) => i !== rejected);
    for (const p of survivors) {
      p.socket.write(frame.subarray(frame.length - 1));
      void (async () => {
        await p.reader.next();
        p.socket.write(reply('+OK'));
      })();
    }
    await next();
    await next();
    expect(r.seen).toEqual(['buffer_budget']);
    expect(s.bufferedBytes).toBe(0);
  });

  it('counts every rejection in /metrics and warns once per reason per 10 s, with the suppressed count', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { log, lines } = memoryLogger('warn');
    let nowMs = 1_000_000;
    const r = rejections();
    const { server: s } = await server({
      log,
      now: () => nowMs,
      onReject: (reason) => {
        metrics.outboundRejected(reason);
        r.onReject(reason);
      },
    });
    metrics.setOutboundSource(() => ({
      connections: s.sessions,
      handshakes: s.handshakes,
      bufferedBytes: s.bufferedBytes,
    }));
    const junk = async (n: number): Promise<void> => {
      const before = r.seen.length;
      for (let i = 0; i < n; i++) peer(s.port).socket.write('Content-Length: 99999999\n\n');
      await r.count(before + n);
    };
    await junk(5);
    nowMs += 9_999;
    await junk(3);
    const warns = (): unknown[][] =>
      lines
        .filter((l) => l.msg === 'esl outbound connection rejected')
        .map((l) => [l['reason'], l['suppressed']]);
    expect(warns()).toEqual([['frame_too_large', 0]]);
    nowMs += 1;
    await junk(1);
    expect(warns()).toEqual([
      ['frame_too_large', 0],
      ['frame_too_large', 7],
    ]);

    const text = await metrics.render();
    expect(text).toMatch(/^voice_ai_outbound_rejected_total\{reason="frame_too_large"\} 9$/m);
    expect(text).toMatch(/^voice_ai_outbound_buffered_bytes 0$/m);
  });
});
