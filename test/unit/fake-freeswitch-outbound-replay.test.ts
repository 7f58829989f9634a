/**
 * Replays the daemon side of the recorded outbound-socket sessions against the fake FreeSWITCH and compares
 * every frame it sends back with what the real FreeSWITCH 1.10.12 sent: Content-Type, header names in order,
 * and every value that does not depend on ids, clocks, ports or the capture host.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeCall, FakeFreeSwitch, PlaceCallOptions } from '../fakes/fake-freeswitch/index.js';
import { compareFrames, loadRecording, RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { Frame } from '../fakes/fake-freeswitch/replay.js';
import { writeWav } from '../fakes/fake-freeswitch/wav.js';

const REC = join(import.meta.dirname, '../fixtures/recordings');
const AUDIO = join(import.meta.dirname, '../fixtures/audio');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function eventHeader(f: Frame, name: string): string | undefined {
  return f.event?.headers.find(([n]) => n === name)?.[1];
}

async function listen(): Promise<{ server: Server; port: number; accepted: Promise<Socket> }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port, accepted };
}

/** A temp dir standing in for /tmp/voice-ai/ of the capture machine, with its prompt files. */
function audioDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-fs-replay-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(AUDIO, 'fake-fs-prompt-8k.wav'), join(dir, 'prompt.wav'));
  // long.wav was 20.8 s; the caller hangs up 3 s into it, so only its length matters.
  writeWav(join(dir, 'long.wav'), new Int16Array(Math.round(20.8 * 8000)), 8000);
  return dir;
}

interface Replay {
  fake: FakeFreeSwitch;
  call: FakeCall;
  client: RawClient;
  expected: Frame[];
  diffs: string[];
}

/**
 * Sends each recorded daemon write once the fake has sent as many frames as FreeSWITCH had by then,
 * runs caller actions (`onFrame`) at the recorded points, then compares all frames.
 */
async function replay(
  file: string,
  callOpts: Omit<PlaceCallOptions, 'target'>,
  onFrame: (expected: Frame[], client: RawClient, call: FakeCall) => void,
  ignoreValues: RegExp[] = [],
): Promise<Replay> {
  const items = loadRecording(join(REC, file)).filter((i) => i.conn === 'outbound');
  const expected = items.flatMap((i) => (i.kind === 'frame' ? [i.frame] : []));
  const uuid = expected[0]?.headers.find(([n]) => n === 'Unique-ID')?.[1];
  expect(uuid).toBeDefined();
  const dir = audioDir();
  const fake = await startFakeFreeSwitch({ speed: 10 });
  cleanups.push(() => fake.stop());
  const { port, accepted } = await listen();
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
    if (item.kind === 'send') sock.write(item.bytes.toString('utf8').split('/tmp/voice-ai/').join(`${dir}/`));
    else if (item.dir === 'app->fs') sock.end();
  }
  await client.waitFrames(expected.length);
  await client.waitFor(() => client.finished, 10_000, 'FreeSWITCH to close the socket');
  const replace: Array<[string, string]> = [
    [`:${port} `, ':8084 '],
    [`%3A${port}%20`, '%3A8084%20'],
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
    return a ? compareFrames(i, e, a, { replace, ignoreValues, chosenIds }) : [`frame ${i} missing`];
  });
  return { fake, call, client, expected, diffs };
}

/** Index of the first recorded frame carrying this event. */
function indexOfEvent(expected: Frame[], name: string, app?: string): number {
  return expected.findIndex(
    (f) =>
      eventHeader(f, 'Event-Name') === name && (app === undefined || eventHeader(f, 'Application') === app),
  );
}

describe('fake FreeSWITCH replays the recorded outbound sessions', () => {
  it('outbound-socket-turn: connect, linger, myevents, answer, playback, record, DTMF, hangup, linger close', async () => {
    const r = await replay(
      'outbound-socket-turn.jsonl',
      {
        answered: true,
        callerIdName: 'Alice',
        callerIdNumber: '15551230001',
        script: [{ type: 'speak', wavPath: join(AUDIO, 'fake-fs-sales-8k.wav') }],
      },
      (expected, client, call) => client.at(indexOfEvent(expected, 'DTMF'), () => call.dtmf('1')),
    );
    expect(r.diffs).toEqual([]);
    expect(r.client.frames).toHaveLength(r.expected.length);
    const end = await r.call.ended;
    expect(end).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
    expect(r.call.recordings).toHaveLength(1);
    expect(r.call.violations).toEqual([]);
    expect(r.call.executed.map((e) => `${e.app}:${e.response}`)).toEqual([
      'answer:_none_',
      'playback:FILE PLAYED',
      'record:_none_',
    ]);
  });

  it('outbound-socket-json: event-json, linger 5, sendmsg <uuid>, api on the socket, transfer to 2000', async () => {
    const r = await replay(
      'outbound-socket-json.jsonl',
      {
        answered: true,
        callerIdName: 'Bob',
        callerIdNumber: '15551230002',
        script: [{ type: 'speak', wavPath: join(AUDIO, 'fake-fs-sales-8k.wav') }],
      },
      (expected, client, call) => client.at(indexOfEvent(expected, 'DTMF'), () => call.dtmf('2')),
    );
    expect(r.diffs).toEqual([]);
    expect(r.client.frames).toHaveLength(r.expected.length);
    const end = await r.call.ended;
    expect(end).toMatchObject({
      hangupCause: 'NORMAL_CLEARING',
      socketClosedBy: 'freeswitch',
      transferredTo: '2000',
    });
    expect(r.call.violations).toEqual(['sendmsg execute transfer without event-lock']);
  });

  for (const [file, linger] of [
    ['outbound-socket-caller-hangup.jsonl', true],
    ['outbound-socket-caller-hangup-nolinger.jsonl', false],
  ] as const) {
    it(`${file}: CHANNEL_HANGUP before the interrupted playback's EXECUTE_COMPLETE, ${linger ? 'linger' : 'no linger'}`, async () => {
      const r = await replay(
        file,
        {
          answered: true,
          callerIdName: 'Carol',
          callerIdNumber: '15551230003',
          parkEvent: linger ? 'before-reply' : true,
        },
        (expected, client, call) => client.at(indexOfEvent(expected, 'CHANNEL_HANGUP'), () => call.hangup()),
        // FreeSWITCH counts samples read ahead into its buffer (4096 ms after 3 s); the fake counts time.
        [/^variable_playback_/],
      );
      expect(r.diffs).toEqual([]);
      expect(r.client.frames).toHaveLength(r.expected.length);
      expect(await r.call.ended).toEqual({
        hangupCause: 'NORMAL_CLEARING',
        socketClosedBy: linger ? 'daemon' : 'freeswitch',
      });
    });
  }
});
