/**
 * The fake's `call-command: unicast` on the UDP side, with a plain dgram socket as the daemon: the caller's
 * frames every 20 ms from `local-port` (L16 LE at the read rate, CNG as bytes 0xFF), a refused or failed
 * bind (+OK, nothing sent), what ends it (playback, hangup), a second unicast, DTMF meanwhile, and what the
 * caller hears of the daemon's datagrams through mod_loopback's 3-frame queue (burst vs paced, zero-length
 * datagram), plus the caller's `await_playback` step for barge-in.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { CallerStep, FakeFreeSwitch, PlaceCallOptions } from '../fakes/fake-freeswitch/index.js';
import { execute, openSession } from '../fakes/fake-freeswitch/test-session.js';
import type { RawSession } from '../fakes/fake-freeswitch/test-session.js';
import { unicastAddresses } from '../fakes/fake-freeswitch/unicast.js';
import { writeWav } from '../fakes/fake-freeswitch/wav.js';

const REC = join(import.meta.dirname, '../fixtures/recordings');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Datagram {
  atMs: number;
  bytes: Buffer;
  from: number;
}

/** The daemon's UDP socket: every datagram with its arrival time; waits re-check on each one. */
interface Daemon {
  socket: UdpSocket;
  port: number;
  got: Datagram[];
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  send(bytes: Buffer, port: number): Promise<void>;
}

async function daemonSocket(): Promise<Daemon> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  const got: Datagram[] = [];
  let waiters: Array<() => void> = [];
  socket.on('message', (bytes, rinfo) => {
    got.push({ atMs: performance.now(), bytes, from: rinfo.port });
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  const until = (pred: () => boolean, what: string, timeoutMs = 3000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what} (${got.length} datagrams)`)),
        timeoutMs,
      );
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  const send = (bytes: Buffer, port: number): Promise<void> =>
    new Promise((resolve, reject) =>
      socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    );
  return { socket, port: socket.address().port, got, until, send };
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** True when the port can be bound again (FreeSWITCH closed its socket). */
async function portIsFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => resolve(true));
  });
  await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

function unicast(localPort: number, remotePort: number, extra: string[] = []): string {
  return [
    'sendmsg',
    'call-command: unicast',
    'local-ip: 127.0.0.1',
    `local-port: ${localPort}`,
    'remote-ip: 127.0.0.1',
    `remote-port: ${remotePort}`,
    'transport: udp',
    ...extra,
  ].join('\n');
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function setup(
  opts: Omit<PlaceCallOptions, 'target'> = {},
  speed = 1,
): Promise<{ fake: FakeFreeSwitch; s: RawSession; daemon: Daemon; fsPort: number }> {
  const fake = await startFakeFreeSwitch({ speed });
  cleanups.push(() => fake.stop());
  const s = await openSession(fake, { answered: true, ...opts });
  cleanups.push(() => s.close());
  return { fake, s, daemon: await daemonSocket(), fsPort: await freeUdpPort() };
}

function le(samples: Int16Array): Buffer {
  const buf = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => buf.writeInt16LE(v, i * 2));
  return buf;
}

/** A distinct value in every sample, so a frame's bytes say where it came from. */
function ramp(samples: number): Int16Array {
  return new Int16Array(samples).map((_, i) => ((i * 7) % 20000) + 100);
}

/** The daemon's datagrams in a recording, payloads as sent (uc-prompt.wav, 150 frames of 320 B). */
function recordedPrompt(file: string): Buffer[] {
  return readFileSync(join(REC, file), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { kind: string; dir: string; binary_base64?: string })
    .filter((o) => o.kind === 'udp' && o.dir === 'app->fs' && o.binary_base64 !== undefined)
    .map((o) => Buffer.from(o.binary_base64 as string, 'base64'));
}

const isCng = (b: Buffer): boolean => b.every((x) => x === 0xff);

describe('fake FreeSWITCH unicast: FreeSWITCH -> daemon', () => {
  for (const rateHz of [8000, 16000] as const) {
    it(`sends the caller's audio byte-exact from local-port every 20 ms, ${(rateHz / 50) * 2} B at ${rateHz / 1000} kHz`, async () => {
      const audio = ramp(rateHz); // 1 s
      const { s, daemon, fsPort } = await setup({
        readRateHz: rateHz,
        script: [{ type: 'speak', pcm: audio, sampleRateHz: rateHz }],
      });
      const sentAt = performance.now();
      const reply = await s.cmd(unicast(fsPort, daemon.port));
      expect(reply.headers).toEqual([
        ['Content-Type', 'command/reply'],
        ['Reply-Text', '+OK'],
      ]);
      await daemon.until(() => daemon.got.length >= 26, '26 datagrams');
      const got = daemon.got.slice(0, 26);
      // The first came 26-32 ms after the +OK on the real switch; the fake sends it one frame in.
      expect((got[0] as Datagram).atMs - sentAt).toBeLessThan(120);
      for (const d of got) {
        expect(d.bytes.length).toBe((rateHz / 50) * 2);
        expect(d.from).toBe(fsPort);
      }
      const meanMs = ((got[25] as Datagram).atMs - (got[0] as Datagram).atMs) / 25;
      expect(meanMs).toBeGreaterThan(17);
      expect(meanMs).toBeLessThan(23);
      const frame = rateHz / 50;
      expect(Buffer.concat(got.map((d) => d.bytes)).equals(le(audio.subarray(0, 26 * frame)))).toBe(true);
      expect(s.call.unicast).toMatchObject({ started: true, active: true, bound: true });
      expect(s.call.unicast.local).toEqual({ host: '127.0.0.1', port: fsPort });
      // No event follows the unicast sendmsg.
      expect(s.names()).toEqual([]);
    });
  }

  it('sends full frames of bytes 0xFF (CNG) while the caller script has no audio', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 5, '5 datagrams');
    for (const d of daemon.got) {
      expect(d.bytes.length).toBe(320);
      expect(isCng(d.bytes)).toBe(true);
    }
    expect(s.call.unicast.framesSent).toBeGreaterThanOrEqual(5);
  });

  it("transport: tcp still opens a UDP socket; a sendmsg without addresses uses FreeSWITCH's defaults", async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port).replace('transport: udp', 'transport: tcp'));
    await daemon.until(() => daemon.got.length >= 2, 'datagrams over transport tcp');
    expect(unicastAddresses(() => undefined)).toEqual({
      localHost: '127.0.0.1',
      localPort: 8025,
      remoteHost: '127.0.0.1',
      remotePort: 8026,
    });
  });

  for (const [what, opts, extra] of [
    ["unicast: 'refuse'", { unicast: 'refuse' }, []],
    ['transport: sctp', {}, ['transport: sctp']],
  ] as const) {
    it(`${what}: the reply is +OK and no datagram ever comes`, async () => {
      const { s, daemon, fsPort } = await setup(opts);
      const cmd = unicast(fsPort, daemon.port, [...extra]);
      const reply = await s.cmd(extra.length > 0 ? cmd.replace('transport: udp\n', '') : cmd);
      expect(reply.headers.find(([n]) => n === 'Reply-Text')?.[1]).toBe('+OK');
      await delay(250);
      expect(daemon.got).toEqual([]);
      expect(s.call.unicast).toMatchObject({ started: true, active: false, bound: false, framesSent: 0 });
      expect(s.names()).toEqual([]);
    });
  }

  it('a local-port already in use: +OK, silently nothing sent', async () => {
    const { s, daemon, fsPort } = await setup();
    const squatter = createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(fsPort, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => squatter.close(() => r())));
    const reply = await s.cmd(unicast(fsPort, daemon.port));
    expect(reply.headers.find(([n]) => n === 'Reply-Text')?.[1]).toBe('+OK');
    await delay(250);
    expect(daemon.got).toEqual([]);
    expect(s.call.unicast.active).toBe(false);
    expect(s.call.violations).toEqual([]);
  });
});

describe('fake FreeSWITCH unicast: what ends it', () => {
  it('a playback ends unicast for good: sending stops at once, the port closes at EXECUTE_COMPLETE; a second unicast does nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-fs-unicast-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const wav = join(dir, 'tone.wav');
    writeWav(wav, ramp(2400), 8000); // 300 ms
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 3, '3 datagrams');
    await s.cmd(execute('playback', wav));
    const atOk = daemon.got.length;
    await s.event('CHANNEL_EXECUTE', { Application: 'playback' });
    expect(s.call.unicast).toMatchObject({ active: false, bound: true });
    await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' });
    await delay(150);
    // At most one datagram was already on its way.
    expect(daemon.got.length - atOk).toBeLessThanOrEqual(1);
    expect(s.call.unicast.bound).toBe(false);
    expect(await portIsFree(fsPort)).toBe(true);

    const after = daemon.got.length;
    const reply = await s.cmd(unicast(await freeUdpPort(), daemon.port));
    expect(reply.headers.find(([n]) => n === 'Reply-Text')?.[1]).toBe('+OK');
    await delay(200);
    expect(daemon.got.length).toBe(after);
    expect(s.call.violations).toEqual(['second unicast in one call']);
  });

  it('a second unicast while the first runs does nothing; the first keeps going', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 2, '2 datagrams');
    const other = await freeUdpPort();
    await s.cmd(unicast(other, daemon.port));
    const n = daemon.got.length;
    await daemon.until(() => daemon.got.length >= n + 3, '3 more datagrams');
    expect(daemon.got.every((d) => d.from === fsPort)).toBe(true);
    expect(s.call.violations).toEqual(['second unicast in one call']);
    expect(s.call.unicast.local?.port).toBe(fsPort);
  });

  it('the caller hanging up stops the datagrams and frees the port; UNPARK comes before CHANNEL_HANGUP', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 3, '3 datagrams');
    s.call.hangup();
    await s.event('CHANNEL_HANGUP_COMPLETE');
    const n = daemon.got.length;
    await delay(100);
    expect(daemon.got.length).toBe(n);
    expect(s.call.unicast).toMatchObject({ active: false, bound: false });
    expect(await portIsFree(fsPort)).toBe(true);
    expect(s.names()).toEqual([
      'CHANNEL_UNPARK',
      'CHANNEL_EXECUTE_COMPLETE socket',
      'CHANNEL_HANGUP',
      'CHANNEL_STATE',
      'CHANNEL_STATE',
      'CHANNEL_HANGUP_COMPLETE',
    ]);
  });

  it('DTMF events come as usual while unicast runs, and the stream goes on', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 2, '2 datagrams');
    s.call.dtmf('5');
    await s.event('DTMF', { 'DTMF-Digit': '5' });
    const n = daemon.got.length;
    await daemon.until(() => daemon.got.length >= n + 3, 'datagrams after the DTMF');
    expect(s.call.unicast.active).toBe(true);
  });
});

describe('fake FreeSWITCH unicast: daemon -> caller (mod_loopback 3-frame queue)', () => {
  it('a burst of the 150 recorded prompt frames: the caller hears only the last 3 (unicast-burst)', async () => {
    const prompt = recordedPrompt('unicast-burst.jsonl');
    expect(prompt).toHaveLength(150);
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 1, 'the first datagram');
    await Promise.all(prompt.map((f) => daemon.send(f, fsPort)));
    await delay(150);
    expect(s.call.unicast.framesReceived).toBe(150);
    const heard = s.call.unicast.heardFrames();
    expect(heard.map((f) => le(f.samples))).toEqual(prompt.slice(147));
    expect(le(s.call.unicast.heard()).equals(Buffer.concat(prompt.slice(147)))).toBe(true);
  });

  it('the 150 recorded prompt frames paced at 20 ms are all heard, in order (unicast-basic)', async () => {
    const prompt = recordedPrompt('unicast-basic.jsonl');
    expect(prompt).toHaveLength(150);
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 1, 'the first datagram');
    const anchor = performance.now();
    for (const [k, frame] of prompt.entries()) {
      const wait = anchor + k * 20 - performance.now();
      if (wait > 0) await delay(wait);
      await daemon.send(frame, fsPort);
    }
    await delay(100);
    expect(s.call.unicast.framesReceived).toBe(150);
    const heard = s.call.unicast.heardFrames();
    expect(heard).toHaveLength(150);
    expect(le(s.call.unicast.heard()).equals(Buffer.concat(prompt))).toBe(true);
    // One frame per 20 ms read of the caller's leg.
    for (let i = 1; i < heard.length; i++) {
      expect((heard[i] as { atMs: number }).atMs - (heard[i - 1] as { atMs: number }).atMs).toBeCloseTo(
        20,
        6,
      );
    }
  });

  it('datagrams from another source port are played too (a plain recv())', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 1, 'the first datagram');
    const stranger = await daemonSocket();
    await stranger.send(Buffer.alloc(320, 1), fsPort);
    await delay(80);
    expect(s.call.unicast.framesReceived).toBe(1);
    expect(s.call.unicast.heardFrames()).toHaveLength(1);
  });

  it('a zero-length datagram ends the receive thread for the call; FreeSWITCH keeps sending', async () => {
    const { s, daemon, fsPort } = await setup();
    await s.cmd(unicast(fsPort, daemon.port));
    await daemon.until(() => daemon.got.length >= 1, 'the first datagram');
    await daemon.send(Buffer.alloc(320, 1), fsPort);
    await delay(30);
    await daemon.send(Buffer.alloc(0), fsPort);
    await delay(30);
    await daemon.send(Buffer.alloc(320, 2), fsPort);
    await delay(60);
    expect(s.call.unicast.receiverDead).toBe(true);
    expect(s.call.unicast.framesReceived).toBe(1);
    expect(s.call.unicast.heardFrames().map((f) => f.samples[0])).toEqual([0x0101]);
    expect(s.call.violations).toEqual(['zero-length unicast datagram']);
    const n = daemon.got.length;
    await daemon.until(() => daemon.got.length >= n + 2, 'datagrams after the zero-length one');
    expect(s.call.unicast.active).toBe(true);
  });
});

describe('fake FreeSWITCH caller step await_playback', () => {
  it("holds the caller's speech until the daemon's datagrams have been arriving for atMs", async () => {
    const speech = new Int16Array(8000).fill(12000);
    const script: CallerStep[] = [
      { type: 'await_playback', atMs: 200 },
      { type: 'speak', pcm: speech, sampleRateHz: 8000 },
    ];
    const { s, daemon, fsPort } = await setup({ script });
    await s.cmd(unicast(fsPort, daemon.port));
    // Nothing plays to the caller yet: comfort noise only.
    await daemon.until(() => daemon.got.length >= 15, '15 datagrams');
    expect(daemon.got.every((d) => isCng(d.bytes))).toBe(true);
    const frame = Buffer.alloc(320, 0x10);
    const anchor = performance.now();
    let k = 0;
    let speechAt: number | undefined;
    while (speechAt === undefined && k < 40) {
      const wait = anchor + k * 20 - performance.now();
      if (wait > 0) await delay(wait);
      await daemon.send(frame, fsPort);
      k++;
      speechAt = daemon.got.find((d) => !isCng(d.bytes))?.atMs;
    }
    expect(speechAt).toBeDefined();
    const after = (speechAt as number) - anchor;
    expect(after).toBeGreaterThanOrEqual(190);
    expect(after).toBeLessThan(320);
    const first = daemon.got.find((d) => !isCng(d.bytes)) as Datagram;
    expect(first.bytes.readInt16LE(0)).toBe(12000);
  });

  it('a playback app counts as playing too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-fs-unicast-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const wav = join(dir, 'long.wav');
    writeWav(wav, new Int16Array(8000 * 5), 8000);
    const script: CallerStep[] = [
      { type: 'await_playback', atMs: 300 },
      { type: 'hangup', when: 'now' },
    ];
    const { s } = await setup({ script }, 10);
    await s.cmd(execute('playback', wav));
    const t0 = performance.now();
    await s.event('CHANNEL_HANGUP');
    // 300 ms of call time at speed 10, well before the 5 s file ends.
    expect(performance.now() - t0).toBeLessThan(400);
    expect(s.names()).toContain('PLAYBACK_STOP');
  });
});
