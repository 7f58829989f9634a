/**
 * Replays the daemon side of the recorded unicast sessions (unicast-*.jsonl) against the fake FreeSWITCH and
 * compares every ESL frame it sends back with the real 1.10.12's, as the outbound replay does: the unicast
 * sendmsg gets a bare +OK and no event; DTMF comes as usual while unicast runs; a playback runs as without
 * unicast; a daemon hangup gives CHANNEL_HANGUP first, but a caller hangup gives CHANNEL_UNPARK and the
 * socket app's EXECUTE_COMPLETE (still answered) before CHANNEL_HANGUP.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeCall, PlaceCallOptions } from '../fakes/fake-freeswitch/index.js';
import { compareFrames, loadRecording, RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { Frame } from '../fakes/fake-freeswitch/replay.js';
import { writeWav } from '../fakes/fake-freeswitch/wav.js';

const REC = join(import.meta.dirname, '../fixtures/recordings');
/** The socket app's port in the unicast recordings (`socket 127.0.0.1:18184 async full`). */
const RECORDED_SOCKET_PORT = 18184;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function eventHeader(f: Frame, name: string): string | undefined {
  return f.event?.headers.find(([n]) => n === name)?.[1];
}

function indexOfEvent(expected: Frame[], name: string, nth = 0): number {
  const all = expected.flatMap((f, i) => (eventHeader(f, 'Event-Name') === name ? [i] : []));
  return all[nth] ?? -1;
}

async function udpSocket(): Promise<{ socket: UdpSocket; port: number; received: Buffer[] }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, port: socket.address().port, received };
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Replay {
  call: FakeCall;
  client: RawClient;
  expected: Frame[];
  diffs: string[];
  daemonReceived: Buffer[];
}

/** Sends each recorded daemon write once the fake has sent as many frames as FreeSWITCH had by then. */
async function replay(
  file: string,
  callOpts: Omit<PlaceCallOptions, 'target'>,
  onFrame: (expected: Frame[], client: RawClient, call: FakeCall) => void = () => undefined,
): Promise<Replay> {
  const items = loadRecording(join(REC, file)).filter((i) => i.conn === 'outbound');
  const expected = items.flatMap((i) => (i.kind === 'frame' ? [i.frame] : []));
  const uuid = expected[0]?.headers.find(([n]) => n === 'Unique-ID')?.[1];
  expect(uuid).toBeDefined();
  const dir = mkdtempSync(join(tmpdir(), 'fake-fs-unicast-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // uc-tone-2s.wav: 2.000 s at 8 kHz; only its length shows on the wire (playback_* variables).
  const tone = new Int16Array(16000).map((_, i) =>
    Math.round(16000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)),
  );
  writeWav(join(dir, 'uc-tone-2s.wav'), tone, 8000);
  const daemon = await udpSocket();
  const fsPort = await freeUdpPort();
  const fake = await startFakeFreeSwitch({ speed: 10 });
  cleanups.push(() => fake.stop());
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const call = fake.placeCall({ target: { host: '127.0.0.1', port }, uuid: uuid as string, ...callOpts });
  const sock = await accepted;
  cleanups.push(() => void sock.destroy());
  const client = new RawClient(sock);
  onFrame(expected, client, call);
  let seen = 0;
  for (const item of items) {
    if (item.kind === 'frame') {
      seen++;
      continue;
    }
    await client.waitFrames(seen);
    if (item.kind === 'send') {
      const text = item.bytes
        .toString('utf8')
        .split('/tmp/voice-ai/')
        .join(`${dir}/`)
        .replace(/^local-port: \d+$/m, `local-port: ${fsPort}`)
        .replace(/^remote-port: \d+$/m, `remote-port: ${daemon.port}`);
      sock.write(text);
    } else if (item.dir === 'app->fs') sock.end();
  }
  await client.waitFrames(expected.length);
  await client.waitFor(() => client.finished, 10_000, 'FreeSWITCH to close the socket');
  const replace: Array<[string, string]> = [
    [`:${port} `, `:${RECORDED_SOCKET_PORT} `],
    [`%3A${port}%20`, `%3A${RECORDED_SOCKET_PORT}%20`],
    [`${dir}/`, '/tmp/voice-ai/'],
  ];
  const chosenIds = new Set(
    items.flatMap((i) =>
      i.kind === 'send'
        ? Array.from(i.bytes.toString().matchAll(/Event-UUID: (\S+)/g), (m) => m[1] ?? '')
        : [],
    ),
  );
  const diffs = expected.flatMap((e, i) => {
    const a = client.frames[i];
    return a ? compareFrames(i, e, a, { replace, chosenIds }) : [`frame ${i} missing`];
  });
  return { call, client, expected, diffs, daemonReceived: daemon.received };
}

const CALLER = { answered: true, callerIdName: 'Alice', callerIdNumber: '15551230001' } as const;

function names(frames: Frame[]): string[] {
  return frames.flatMap((f) => {
    const name = eventHeader(f, 'Event-Name');
    if (name === undefined) return [];
    const app = eventHeader(f, 'Application');
    return [app === undefined ? name : `${name} ${app}`];
  });
}

describe('fake FreeSWITCH replays the recorded unicast sessions', () => {
  for (const [file, readRateHz] of [
    ['unicast-basic.jsonl', 8000],
    ['unicast-burst.jsonl', 8000],
    ['unicast-16k.jsonl', 16000],
  ] as const) {
    it(`${file}: unicast sendmsg -> +OK and no event; a daemon hangup -> CHANNEL_HANGUP first`, async () => {
      const r = await replay(file, { ...CALLER, readRateHz });
      expect(r.diffs).toEqual([]);
      expect(r.client.frames).toHaveLength(r.expected.length);
      expect(r.call.unicast.started).toBe(true);
      expect(r.call.unicast.active).toBe(false);
      expect(r.call.violations).toEqual([]);
      for (const d of r.daemonReceived) expect(d.length).toBe((readRateHz / 50) * 2);
      expect(await r.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
    });
  }

  it('unicast-dtmf: the DTMF events are the usual ones while unicast runs', async () => {
    let activeAtDtmf: boolean | undefined;
    const r = await replay('unicast-dtmf.jsonl', CALLER, (expected, client, call) => {
      client.at(indexOfEvent(expected, 'DTMF', 0), () => {
        activeAtDtmf = call.unicast.active || !call.unicast.bound;
        call.dtmf('1');
      });
      client.at(indexOfEvent(expected, 'DTMF', 1), () => call.dtmf('23'));
    });
    expect(r.diffs).toEqual([]);
    expect(r.client.frames).toHaveLength(r.expected.length);
    expect(activeAtDtmf).toBe(true);
  });

  it('unicast-hangup: the caller hangs up -> CHANNEL_UNPARK and EXECUTE_COMPLETE socket before CHANNEL_HANGUP', async () => {
    const r = await replay('unicast-hangup.jsonl', CALLER, (expected, client, call) =>
      client.at(indexOfEvent(expected, 'CHANNEL_UNPARK'), () => call.hangup()),
    );
    expect(r.diffs).toEqual([]);
    expect(r.client.frames).toHaveLength(r.expected.length);
    expect(names(r.client.frames)).toEqual([
      'CHANNEL_UNPARK',
      'CHANNEL_EXECUTE_COMPLETE socket',
      'CHANNEL_HANGUP',
      'CHANNEL_STATE',
      'CHANNEL_STATE',
      'CHANNEL_HANGUP_COMPLETE',
    ]);
    expect(await r.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
  });

  it('unicast-playback: a playback during unicast has the usual events, and ends unicast', async () => {
    const r = await replay('unicast-playback.jsonl', CALLER);
    expect(r.diffs).toEqual([]);
    expect(r.client.frames).toHaveLength(r.expected.length);
    expect(r.call.executed.map((e) => `${e.app}:${e.response}`)).toEqual(['playback:FILE PLAYED']);
    expect(r.call.unicast.bound).toBe(false);
    expect(r.call.violations).toEqual([]);
  });
});
