import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  openUnicastEndpoint,
  unicastCommand,
  UnicastBindError,
  type PacingClock,
  type UnicastEndpoint,
  type UnicastEndpointOptions,
} from '../../src/media/unicast.js';
import { startFakeUnicast, type FakeUnicast } from '../fakes/fake-freeswitch-unicast.js';

/** Time moves only when the test says so; timers fire in deadline order. */
class ManualClock implements PacingClock {
  private now = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  monotonicMs(): number {
    return this.now;
  }
  setTimer(fn: () => void, delayMs: number): () => void {
    const timer = { at: this.now + delayMs, seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = Math.max(this.now, due.at);
      due.fn();
    }
    this.now = target;
  }
  /** The event loop was blocked for `ms`: time jumps, then the overdue timers fire late, all at once. */
  stall(ms: number): void {
    this.now += ms;
    this.advance(0);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls a condition (a wire event we cannot await directly); fails the test after `timeoutMs`. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function bindSocket(host: string, port = 0): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind(port, host, () => resolve(s));
  });
}

function sendFrom(s: Socket, bytes: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    s.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
  );
}

/** A free port and its successor, both held open by the returned sockets. */
async function holdTwoPorts(): Promise<{ min: number; sockets: Socket[] }> {
  for (let i = 0; i < 50; i++) {
    const a = await bindSocket('127.0.0.1');
    const min = a.address().port;
    if (min >= 65535) {
      a.close();
      continue;
    }
    try {
      const b = await bindSocket('127.0.0.1', min + 1);
      return { min, sockets: [a, b] };
    } catch {
      a.close();
    }
  }
  throw new Error('no two adjacent free UDP ports');
}

/** A ramp of `n` samples, so every frame's content is distinct. */
function ramp(n: number, from = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = ((from + i) % 30000) - 15000;
  return out;
}

async function setup(
  sampleRateHz: 8000 | 16000,
  extra: Partial<UnicastEndpointOptions> = {},
  time: 'manual' | 'real' = 'manual',
): Promise<{ ep: UnicastEndpoint; fs: FakeUnicast; clock: ManualClock | undefined }> {
  const clock = time === 'manual' ? new ManualClock() : undefined;
  const ep = await openUnicastEndpoint({
    portRange: { min: 30000, max: 60000 },
    freeswitchHost: '127.0.0.1',
    sampleRateHz,
    ...(clock === undefined ? {} : { clock }),
    ...extra,
  });
  cleanups.push(() => ep.close());
  const fs = await startFakeUnicast({
    sampleRateHz,
    remote: { host: ep.localHost, port: ep.localPort },
    ...(clock === undefined ? {} : { clock }),
  });
  cleanups.push(() => fs.close());
  return { ep, fs, clock };
}

/** FreeSWITCH's first frame, so the endpoint knows where to send. */
async function handshake(ep: UnicastEndpoint, fs: FakeUnicast): Promise<void> {
  await fs.sendCallerAudio(new Int16Array(ep.sampleRateHz / 50).fill(-1));
  expect(await ep.firstFrame(5000)).toBe(true);
}

/** Advances the manual clock one frame at a time until `done()`, letting each frame reach the fake. */
async function runPacer(ep: UnicastEndpoint, fs: FakeUnicast, clock: ManualClock, done: () => boolean) {
  const counts: number[] = [ep.stats.framesOut];
  for (let i = 0; !done() && i < 10_000; i++) {
    await fs.waitForReceived(ep.stats.framesOut);
    clock.advance(20);
    counts.push(ep.stats.framesOut);
  }
  await fs.waitForReceived(ep.stats.framesOut);
  return counts;
}

describe('unicast endpoint: caller frames in', () => {
  it.each([8000, 16000] as const)('delivers %i Hz frames as Int16Array of rate/50 samples', async (rate) => {
    const { ep, fs } = await setup(rate);
    const frames: Int16Array[] = [];
    ep.onFrame((f) => frames.push(f));
    const n = rate / 50;
    const audio = ramp(n * 10);
    await fs.sendCallerAudio(audio);
    await waitFor(() => frames.length === 10, '10 frames');
    expect(frames.every((f) => f instanceof Int16Array && f.length === n)).toBe(true);
    expect(Array.from(frames.flatMap((f) => Array.from(f)))).toEqual(Array.from(audio));
    expect(ep.stats.framesIn).toBe(10);
    expect(ep.peer).toEqual({ address: '127.0.0.1', port: fs.port });
  });

  it('drops datagrams of the wrong size (odd length, another rate) without delivering them', async () => {
    const { ep, fs } = await setup(8000);
    const frames: Int16Array[] = [];
    ep.onFrame((f) => frames.push(f));
    await fs.sendRaw(Buffer.alloc(321));
    await fs.sendRaw(Buffer.alloc(640));
    await fs.sendCallerAudio(ramp(160));
    await waitFor(() => frames.length === 1, 'the valid frame');
    expect(ep.stats.droppedMalformed).toBe(2);
    expect(ep.stats.framesIn).toBe(1);
  });

  it('drops datagrams from another address (127.0.0.2) and from another port of the host', async (ctx) => {
    const { ep, fs } = await setup(8000);
    const frames: Int16Array[] = [];
    ep.onFrame((f) => frames.push(f));
    await handshake(ep, fs);
    const samePortElsewhere = await bindSocket('127.0.0.1');
    cleanups.push(() => void samePortElsewhere.close());
    await sendFrom(samePortElsewhere, Buffer.alloc(320, 1), ep.localPort);
    await waitFor(() => ep.stats.droppedForeign === 1, 'the other-port datagram');
    let other: Socket;
    try {
      other = await bindSocket('127.0.0.2');
    } catch {
      ctx.skip('127.0.0.2 is not bindable here; the freeswitchHost test covers the address filter');
      return;
    }
    cleanups.push(() => void other.close());
    await sendFrom(other, Buffer.alloc(320, 1), ep.localPort);
    await waitFor(() => ep.stats.droppedForeign === 2, 'the foreign datagram');
    expect(frames).toHaveLength(1);
    expect(ep.peer).toEqual({ address: '127.0.0.1', port: fs.port });
  });

  it('drops everything when FreeSWITCH is configured on another host; firstFrame stays false', async () => {
    const { ep, fs, clock } = await setup(8000, { freeswitchHost: '127.0.0.3' });
    const up = ep.firstFrame(200);
    await fs.sendCallerAudio(ramp(160 * 3));
    await waitFor(() => ep.stats.droppedForeign === 3, 'three dropped datagrams');
    clock?.advance(200);
    expect(await up).toBe(false);
    expect(ep.stats.framesIn).toBe(0);
    expect(ep.peer).toBeUndefined();
  });

  it('firstFrame: false when nothing arrives in time, true as soon as FreeSWITCH sends', async () => {
    const { ep, fs, clock } = await setup(8000);
    const none = ep.firstFrame(200);
    clock?.advance(199);
    const later = ep.firstFrame(1000);
    clock?.advance(1);
    expect(await none).toBe(false);
    await fs.sendCallerAudio(ramp(160));
    expect(await later).toBe(true);
    expect(await ep.firstFrame(0)).toBe(true);
  });
});

describe('unicast endpoint: paced output', () => {
  it('sends 150 frames one per 20 ms with a 1-frame lead; the caller hears all 150, byte-exact', async () => {
    const { ep, fs, clock } = await setup(8000);
    await handshake(ep, fs);
    const audio = ramp(160 * 150, 7);
    let result: { interrupted: boolean; playedMs: number } | undefined;
    void ep.play(audio).then((r) => (result = r));
    const counts = await runPacer(ep, fs, clock!, () => result !== undefined);
    // 2 frames at once (the frame now plus the lead), then exactly one per 20 ms.
    expect(counts.slice(0, 4)).toEqual([2, 3, 4, 5]);
    expect(result).toEqual({ interrupted: false, playedMs: 3000, droppedMs: 0 });
    expect(fs.received).toHaveLength(150);
    const at = fs.received.map((d) => d.atMs);
    expect(at.slice(0, 3)).toEqual([0, 0, 20]);
    for (let i = 2; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBe(20);
    expect(fs.received.every((d) => d.bytes.length === 320 && d.from.port === ep.localPort)).toBe(true);
    expect(fs.receiverDead).toBe(false);
    const heard = fs.heard(at.at(-1)! + 100);
    expect(fs.queueFlushes).toBe(0);
    expect(Buffer.concat(heard).equals(Buffer.from(audio.buffer))).toBe(true);
  });

  it('16 kHz: 640-byte frames; a partial last frame is padded with zeros, never an empty datagram', async () => {
    const { ep, fs, clock } = await setup(16000);
    await handshake(ep, fs);
    const audio = ramp(320 * 10 + 37);
    let result: { interrupted: boolean; playedMs: number } | undefined;
    void ep.play(audio).then((r) => (result = r));
    await runPacer(ep, fs, clock!, () => result !== undefined);
    expect(result).toEqual({ interrupted: false, playedMs: (audio.length * 1000) / 16000, droppedMs: 0 });
    expect(fs.received.map((d) => d.bytes.length)).toEqual(new Array<number>(11).fill(640));
    const last = fs.received[10]!.bytes;
    expect(last.subarray(0, 74).equals(Buffer.from(audio.buffer, 320 * 10 * 2, 74))).toBe(true);
    expect(last.subarray(74).every((b) => b === 0)).toBe(true);
    expect(fs.receiverDead).toBe(false);
  });

  it('an empty play sends nothing', async () => {
    const { ep, fs } = await setup(8000);
    await handshake(ep, fs);
    expect(await ep.play(new Int16Array(0))).toEqual({ interrupted: false, playedMs: 0, droppedMs: 0 });
    expect(ep.stats.framesOut).toBe(0);
  });

  it('holds output until FreeSWITCH is heard from, then sends to its source port', async () => {
    const { ep, fs } = await setup(8000);
    void ep.play(ramp(160 * 5));
    expect(ep.stats.framesOut).toBe(0);
    await fs.sendCallerAudio(ramp(160));
    await fs.waitForReceived(2);
    expect(ep.stats.framesOut).toBe(2);
  });

  it('clear() stops output at once; pending plays resolve interrupted with what was really sent', async () => {
    const { ep, fs, clock } = await setup(8000);
    await handshake(ep, fs);
    const first = ep.play(ramp(8000));
    const second = ep.play(ramp(8000));
    for (let i = 0; i < 5; i++) {
      await fs.waitForReceived(ep.stats.framesOut);
      clock!.advance(20);
    }
    expect(ep.stats.framesOut).toBe(7);
    ep.clear();
    expect(await first).toEqual({ interrupted: true, playedMs: 140, droppedMs: 0 });
    expect(await second).toEqual({ interrupted: true, playedMs: 0, droppedMs: 0 });
    clock!.advance(200);
    // The next datagram the fake sees must be this marker, not more of the cleared audio.
    const marker = new Int16Array(160).fill(1234);
    void ep.play(marker);
    await fs.waitForReceived(8);
    expect(fs.received).toHaveLength(8);
    expect(fs.received[7]!.bytes.equals(Buffer.from(marker.buffer))).toBe(true);
  });

  it('an aborted play stops; the play queued after it goes on', async () => {
    const { ep, fs, clock } = await setup(8000);
    await handshake(ep, fs);
    const ac = new AbortController();
    const first = ep.play(ramp(1600), ac.signal);
    const after = new Int16Array(320).fill(77);
    const second = ep.play(after);
    clock!.advance(20);
    await fs.waitForReceived(3);
    ac.abort();
    expect(await first).toEqual({ interrupted: true, playedMs: 60, droppedMs: 0 });
    await runPacer(ep, fs, clock!, () => ep.stats.framesOut === 5);
    expect(await second).toEqual({ interrupted: false, playedMs: 40, droppedMs: 0 });
    expect(fs.received.slice(3).every((d) => d.bytes.equals(Buffer.from(after.buffer, 0, 320)))).toBe(true);
  });

  it('a stalled event loop restarts the schedule instead of bursting the backlog', async () => {
    const { ep, fs, clock } = await setup(8000);
    await handshake(ep, fs);
    let result: unknown;
    void ep.play(ramp(160 * 50)).then((r) => (result = r));
    await runPacer(ep, fs, clock!, () => ep.stats.framesOut >= 5);
    const before = ep.stats.framesOut;
    clock!.stall(200);
    // 10 frame slots were missed; only the frame now plus the lead go out, not the backlog.
    expect(ep.stats.framesOut - before).toBe(2);
    expect(ep.stats.underruns).toBe(1);
    await runPacer(ep, fs, clock!, () => result !== undefined);
    expect(result).toEqual({ interrupted: false, playedMs: 1000, droppedMs: 0 });
    fs.heard(clock!.monotonicMs() + 100);
    expect(fs.queueFlushes).toBe(0);
  });

  it('caps the output queue: audio beyond maxQueuedMs is dropped and reported', async () => {
    const { ep, fs, clock } = await setup(8000, { maxQueuedMs: 100 });
    await handshake(ep, fs);
    let result: unknown;
    void ep.play(ramp(1600)).then((r) => (result = r));
    await runPacer(ep, fs, clock!, () => result !== undefined);
    expect(result).toEqual({ interrupted: false, playedMs: 100, droppedMs: 100 });
    expect(fs.received).toHaveLength(5);
  });

  it('with the real clock: every frame arrives, spread over the audio duration', async () => {
    const { ep, fs } = await setup(8000, {}, 'real');
    await handshake(ep, fs);
    const r = await ep.play(ramp(160 * 15));
    expect(r).toEqual({ interrupted: false, playedMs: 300, droppedMs: 0 });
    await fs.waitForReceived(15);
    const at = fs.received.map((d) => d.atMs);
    // 15 frames with a 1-frame lead span at least 13 frame times; generous slack for a loaded machine.
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(13 * 20 - 15);
    expect(at.at(-1)! - at[0]!).toBeLessThan(5000);
    expect(fs.received.every((d) => d.bytes.length === 320)).toBe(true);
  });
});

describe('fake FreeSWITCH unicast models the recorded switch', () => {
  it('150 frames sent at once: the caller hears only frames 148-150 (unicast-burst.jsonl)', async () => {
    const clock = new ManualClock();
    const sender = await bindSocket('127.0.0.1');
    cleanups.push(() => void sender.close());
    const fs = await startFakeUnicast({ sampleRateHz: 8000, remote: { host: '127.0.0.1', port: 9 }, clock });
    cleanups.push(() => fs.close());
    const frame = (i: number): Buffer => Buffer.alloc(320, i);
    for (let i = 1; i <= 150; i++) await sendFrom(sender, frame(i), fs.port);
    await fs.waitForReceived(150);
    const heard = fs.heard(1000);
    expect(heard.map((b) => b[0])).toEqual([148, 149, 150]);
  });

  it('a zero-length datagram kills the receiver: nothing after it is recorded', async () => {
    const sender = await bindSocket('127.0.0.1');
    cleanups.push(() => void sender.close());
    const fs = await startFakeUnicast({ sampleRateHz: 8000, remote: { host: '127.0.0.1', port: 9 } });
    cleanups.push(() => fs.close());
    await sendFrom(sender, Buffer.alloc(320), fs.port);
    await fs.waitForReceived(1);
    await sendFrom(sender, Buffer.alloc(0), fs.port);
    await waitFor(() => fs.receiverDead, 'receiverDead');
    await sendFrom(sender, Buffer.alloc(320), fs.port);
    expect(fs.received).toHaveLength(1);
  });
});

describe('unicast endpoint: ports and the sendmsg', () => {
  it('close() releases the port: the same port binds again', async () => {
    const first = await openUnicastEndpoint({
      portRange: { min: 30000, max: 60000 },
      freeswitchHost: '127.0.0.1',
      sampleRateHz: 8000,
    });
    const port = first.localPort;
    await first.close();
    await first.close();
    const again = await openUnicastEndpoint({
      portRange: { min: port, max: port },
      freeswitchHost: '127.0.0.1',
      sampleRateHz: 8000,
    });
    cleanups.push(() => again.close());
    expect(again.localPort).toBe(port);
  });

  it('an exhausted port range is a clear UnicastBindError', async () => {
    const held = await holdTwoPorts();
    cleanups.push(() => held.sockets.forEach((s) => s.close()));
    const opening = openUnicastEndpoint({
      portRange: { min: held.min, max: held.min + 1 },
      freeswitchHost: '127.0.0.1',
      sampleRateHz: 8000,
    });
    await expect(opening).rejects.toBeInstanceOf(UnicastBindError);
    await expect(opening).rejects.toThrow(`no free UDP port for unicast on 127.0.0.1 in ${held.min}-`);
  });

  it('unicastCommand: FreeSWITCH binds local-*, sends to remote-* (the recorded sendmsg, byte for byte)', () => {
    const headers = unicastCommand(
      { localHost: '127.0.0.1', localPort: 18251 },
      { ip: '127.0.0.1', port: 18250 },
    );
    const text = ['sendmsg', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\n') + '\n\n';
    expect(text).toBe(
      'sendmsg\ncall-command: unicast\nlocal-ip: 127.0.0.1\nlocal-port: 18250\nremote-ip: 127.0.0.1\nremote-port: 18251\ntransport: udp\n\n',
    );
  });
});
