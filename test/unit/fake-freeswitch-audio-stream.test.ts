/**
 * The fake's mod_audio_stream: `uuid_audio_stream` replies as recorded, the WebSocket client (metadata text
 * frame, 20 ms L16 frames of the caller), and its CUSTOM events (::connect, ::json, ::play, ::disconnect,
 * ::error), compared with audio-stream.jsonl where the recording has them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { compareFrames, loadRecording, RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { Frame } from '../fakes/fake-freeswitch/replay.js';
import { ev, openSession } from '../fakes/fake-freeswitch/test-session.js';
import type { RawSession } from '../fakes/fake-freeswitch/test-session.js';

const SALES = join(import.meta.dirname, '../fixtures/audio/fake-fs-sales-8k.wav');
const EVENTS =
  'event json CUSTOM mod_audio_stream::connect mod_audio_stream::disconnect mod_audio_stream::error ' +
  'mod_audio_stream::json mod_audio_stream::play';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface WsPeer {
  port: number;
  texts: string[];
  binaries: Buffer[];
  socket: Promise<WebSocket>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `pred` holds, re-checked on every message. */
  until(pred: () => boolean, what: string): Promise<void>;
}

async function wsServer(): Promise<WsPeer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  const texts: string[] = [];
  const binaries: Buffer[] = [];
  let waiters: Array<() => void> = [];
  const notify = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const until = (pred: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  let closedResolve!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (closedResolve = r));
  const socket = new Promise<WebSocket>((resolve) =>
    wss.once('connection', (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) binaries.push(data);
        else texts.push(data.toString());
        notify();
      });
      ws.on('close', (code: number, reason: Buffer) => closedResolve({ code, reason: reason.toString() }));
      resolve(ws);
    }),
  );
  const addr = wss.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, texts, binaries, socket, closed, until };
}

async function setup(): Promise<{ fake: FakeFreeSwitch; s: RawSession; esl: RawClient }> {
  const fake = await startFakeFreeSwitch({ speed: 10 });
  cleanups.push(() => fake.stop());
  const s = await openSession(fake, {
    answered: true,
    callerIdName: 'Erin',
    callerIdNumber: '15551230005',
    destinationNumber: '8002',
    script: [{ type: 'speak', wavPath: SALES }],
  });
  cleanups.push(() => s.close());
  const sock = connect({ host: '127.0.0.1', port: fake.inboundPort });
  cleanups.push(() => void sock.destroy());
  const esl = new RawClient(sock);
  await esl.waitFrames(1);
  sock.write(`auth ClueCon\n\n${EVENTS}\n\n`);
  await esl.waitFrames(3);
  return { fake, s, esl };
}

async function api(esl: RawClient, line: string): Promise<string> {
  const n = esl.frames.length;
  esl.socket.write(`api uuid_audio_stream ${line}\n\n`);
  let reply: Frame | undefined;
  await esl.waitFor(
    () =>
      (reply = esl.frames
        .slice(n)
        .find((f) => f.headers.some(([k, v]) => k === 'Content-Type' && v === 'api/response'))) !== undefined,
    5000,
    `reply to ${line}`,
  );
  return (reply as Frame).body.toString();
}

function custom(esl: RawClient, subclass: string): Promise<Frame> {
  let found: Frame | undefined;
  return esl
    .waitFor(
      () => (found = esl.frames.find((f) => ev(f, 'Event-Subclass') === subclass)) !== undefined,
      5000,
      subclass,
    )
    .then(() => found as Frame);
}

describe('fake FreeSWITCH mod_audio_stream', () => {
  it('streams the caller as 20 ms L16 frames after the metadata, with the recorded events and replies', async () => {
    const { s, esl } = await setup();
    const ws = await wsServer();
    const uuid = s.call.uuid;
    expect(
      await api(
        esl,
        `${uuid} start ws://127.0.0.1:${ws.port}/stream/abc mono 16k {"call":"abc","rate":16000}`,
      ),
    ).toBe('+OK Success\n');
    const server = await ws.socket;
    const connected = await custom(esl, 'mod_audio_stream::connect');
    expect(connected.event?.body).toBe('{"status":"connected"}');
    const recorded = loadRecording(
      join(import.meta.dirname, '../fixtures/recordings/audio-stream.jsonl'),
    ).flatMap((i) =>
      i.kind === 'frame' && i.frame.event?.headers.some(([, v]) => v === 'mod_audio_stream::connect')
        ? [i.frame]
        : [],
    );
    expect(
      compareFrames(0, recorded[0] as Frame, connected, {
        skipVariables: true,
        ignoreValues: [/^Caller-Destination-Number$/],
      }),
    ).toEqual([]);
    expect(ws.texts[0]).toBe('{"call":"abc","rate":16000}');
    await ws.until(() => ws.binaries.length >= 20, 'audio frames');
    expect(new Set(ws.binaries.map((b) => b.length))).toEqual(new Set([640]));

    server.send('{"type":"transcript","text":"hello"}');
    expect((await custom(esl, 'mod_audio_stream::json')).event?.body).toBe(
      '{"type":"transcript","text":"hello"}',
    );
    const pcm = Buffer.alloc(16000, 1);
    server.send(
      JSON.stringify({
        type: 'streamAudio',
        data: { audioDataType: 'raw', sampleRate: 16000, audioData: pcm.toString('base64') },
      }),
    );
    const play = JSON.parse((await custom(esl, 'mod_audio_stream::play')).event?.body ?? '{}') as Record<
      string,
      unknown
    >;
    expect(Object.keys(play)).toEqual(['audioDataType', 'sampleRate', 'file']);
    expect(play.file).toMatch(new RegExp(`${uuid}_0\\.tmp\\.r16$`));
    expect(readFileSync(play.file as string)).toEqual(pcm);

    expect(await api(esl, `${uuid} send_text {"a":"b c"}`)).toBe('+OK Success\n');
    await ws.until(() => ws.texts.length >= 2, 'send_text');
    expect(ws.texts[1]).toBe('{"a":"b');
    expect(await api(esl, `${uuid} stop {"event":"bye"}`)).toBe('+OK Success\n');
    expect(await ws.closed).toEqual({ code: 1000, reason: 'Normal closure' });
    expect(ws.texts.at(-1)).toBe('{"event":"bye"}');
    expect(existsSync(play.file as string)).toBe(false);
    expect(await api(esl, `${uuid} stop`)).toBe('-ERR Operation Failed\n');
  });

  it('replies to bad arguments as recorded', async () => {
    const { s, esl } = await setup();
    const uuid = s.call.uuid;
    expect(await api(esl, `${uuid} stop`)).toBe('-ERR Operation Failed\n');
    expect(await api(esl, `${uuid} start http://127.0.0.1:8090/x mono 16k`)).toBe('-ERR Operation Failed\n');
    expect(await api(esl, `${uuid} start ws://127.0.0.1:8090/x quad 16k`)).toBe('-ERR no reply\n');
    expect(await api(esl, `${uuid} start ws://127.0.0.1:8090/x mono 11025`)).toBe('-ERR Operation Failed\n');
    expect(await api(esl, `${uuid} start`)).toMatch(/^-USAGE: <uuid> \[start \| stop/);
    expect(await api(esl, `${uuid} pause`)).toBe('-ERR Operation Failed\n');
    expect(await api(esl, '00000000-0000-4000-8000-000000000000 start ws://127.0.0.1:8090/x mono 16k')).toBe(
      '-ERR Operation Failed\n',
    );
    expect(await api(esl, '')).toMatch(/^-USAGE/);
  });

  it('a server close fires ::disconnect and keeps the bug attached until stop; a refused connect fires ::error', async () => {
    const { s, esl } = await setup();
    const ws = await wsServer();
    const uuid = s.call.uuid;
    expect(await api(esl, `${uuid} start ws://127.0.0.1:${ws.port}/stream/eight mono 8k`)).toBe(
      '+OK Success\n',
    );
    const server = await ws.socket;
    await ws.until(() => ws.binaries.length >= 5, 'audio frames');
    expect(ws.binaries[0]?.length).toBe(320);
    server.close(1000, 'server done');
    const disconnect = await custom(esl, 'mod_audio_stream::disconnect');
    expect(JSON.parse(disconnect.event?.body ?? '{}')).toEqual({
      status: 'disconnected',
      message: { code: 1000, reason: 'server done' },
    });
    expect(await api(esl, `${uuid} start ws://127.0.0.1:${ws.port}/stream/again mono 8k`)).toBe(
      '-ERR Operation Failed\n',
    );
    expect(await api(esl, `${uuid} stop`)).toBe('+OK Success\n');

    expect(await api(esl, `${uuid} start ws://127.0.0.1:1/nothing mono 16k`)).toBe('+OK Success\n');
    const error = await custom(esl, 'mod_audio_stream::error');
    expect(JSON.parse(error.event?.body ?? '{}')).toEqual({
      status: 'error',
      message: { code: 6, error: 'Connection refused (system error 111)' },
    });
    expect(await api(esl, `${uuid} stop`)).toBe('-ERR Operation Failed\n');
  });
});
