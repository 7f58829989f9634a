/**
 * Replays the recorded inbound event-socket sessions (inbound-control, inbound-event-encodings) against the
 * fake and compares its frames with FreeSWITCH's. The recorded `originate` is not replayed (the fake has no
 * originate): the controlled b-leg is a placed call with the recorded uuid, and only its events are compared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { compareFrames, describeFrame, loadRecording, RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { CompareOptions, Frame } from '../fakes/fake-freeswitch/replay.js';
import { writeWav } from '../fakes/fake-freeswitch/wav.js';

const REC = join(import.meta.dirname, '../fixtures/recordings');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The recording of one connection as steps: a send and the frames FreeSWITCH answered with. */
interface Step {
  send: string | undefined;
  frames: Frame[];
}

function steps(file: string, conn: string): Step[] {
  const out: Step[] = [{ send: undefined, frames: [] }];
  for (const item of loadRecording(join(REC, file))) {
    if (item.conn !== conn) continue;
    if (item.kind === 'send') out.push({ send: item.bytes.toString('utf8'), frames: [] });
    if (item.kind === 'frame') out[out.length - 1]?.frames.push(item.frame);
  }
  return out;
}

function channelName(f: Frame): string | undefined {
  return f.event?.headers.find(([n]) => n === 'Channel-Name')?.[1];
}

async function startFake(): Promise<FakeFreeSwitch> {
  const fake = await startFakeFreeSwitch({ speed: 10 });
  cleanups.push(() => fake.stop());
  return fake;
}

async function dial(port: number): Promise<RawClient> {
  const sock = connect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  cleanups.push(() => void sock.destroy());
  return new RawClient(sock);
}

/** Sends a step's command, waits for as many frames as FreeSWITCH sent, compares them. */
async function play(
  client: RawClient,
  step: Step,
  expected: Frame[],
  opts: CompareOptions = {},
  rewrite: (text: string) => string = (t) => t,
): Promise<string[]> {
  // The greeting (no send) may already be there; a command's answer starts with what arrives after it.
  const start = step.send === undefined ? 0 : client.frames.length;
  if (step.send !== undefined) client.socket.write(rewrite(step.send));
  await client.waitFrames(start + expected.length);
  return expected.flatMap((e, i) => compareFrames(start + i, e, client.frames[start + i] as Frame, opts));
}

describe('fake FreeSWITCH replays the recorded inbound sessions', () => {
  it('inbound-control: auth, event json, api, bgapi, uuid_* on a call, exit; and a wrong password', async () => {
    const fake = await startFake();
    const s = steps('inbound-control.jsonl', 'esl');
    const client = await dial(fake.inboundPort);
    const diffs: string[] = [];
    const bLeg = '343f2abb-9c05-457f-8418-b02c124d2daf';
    const at = (prefix: string): Step => {
      const step = s.find((x) => x.send?.startsWith(prefix));
      if (!step) throw new Error(`no recorded step ${prefix}`);
      return step;
    };
    diffs.push(...(await play(client, s[0] as Step, (s[0] as Step).frames)));
    for (const step of s.slice(1, 8)) {
      const isStatus = step.send?.startsWith('api status') ?? false;
      diffs.push(...(await play(client, step, step.frames, { skipBody: isStatus })));
    }
    const status = client.frames.find((f) => f.body.toString().startsWith('UP '));
    expect(status?.body.toString()).toMatch(
      /^UP 0 years, 0 days, \d+ hours, .*\nFreeSWITCH \(Version 1\.10\.12-release {2}64bit\) is ready\n/,
    );

    // The b-leg: a call the "dialplan" parks in the socket app, unanswered (extension 8001 = park).
    const daemon = createServer();
    const accepted = new Promise<Socket>((r) => daemon.once('connection', r));
    await new Promise<void>((r) => daemon.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => daemon.close(() => r())));
    const addr = daemon.address();
    const call = fake.placeCall({
      target: { host: '127.0.0.1', port: typeof addr === 'object' && addr ? addr.port : 0 },
      uuid: bLeg,
      callerIdName: 'Dave',
      callerIdNumber: '15551230004',
      destinationNumber: '8001',
    });
    const outbound = new RawClient(await accepted);
    cleanups.push(() => void outbound.socket.destroy());
    const bOnly = (frames: Frame[]): Frame[] =>
      frames.filter((f) => (channelName(f) ?? 'loopback/8001-b') === 'loopback/8001-b');
    const opts: CompareOptions = { skipVariables: true };
    // bgapi originate ... &park: its CHANNEL_PARK (b) is what this fake sends when the socket app parks.
    const park = at('bgapi originate').frames.filter((f) => channelName(f) === 'loopback/8001-b');
    const before = client.frames.length;
    outbound.socket.write('connect\n\n');
    await client.waitFrames(before + 1);
    diffs.push(...compareFrames(before, park[0] as Frame, client.frames[before] as Frame, opts));
    // uuid_answer: the api reply and CHANNEL_ANSWER (b); the a-leg and the originate's BACKGROUND_JOB are not modelled.
    const answer = at('api uuid_answer');
    const answerFrames = bOnly(answer.frames).filter((f) => !describeFrame(f).includes('BACKGROUND_JOB'));
    diffs.push(...(await play(client, answer, answerFrames, opts)));
    // uuid_send_dtmf to the a-leg shows up as DTMF on the b-leg: the scripted caller presses 5.
    const dtmf = bOnly(at('api uuid_send_dtmf').frames).filter((f) => f.event);
    const beforeDtmf = client.frames.length;
    call.dtmf('5');
    await client.waitFrames(beforeDtmf + 1);
    diffs.push(...compareFrames(beforeDtmf, dtmf[0] as Frame, client.frames[beforeDtmf] as Frame, opts));
    // The broadcast file: the capture machine's /tmp/voice-ai/long.wav (20.8 s), here a silent stand-in.
    const dir = mkdtempSync(join(tmpdir(), 'fake-fs-inbound-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeWav(join(dir, 'long.wav'), new Int16Array(Math.round(20.8 * 8000)), 8000);
    const toDir = (t: string): string => t.split('/tmp/voice-ai/').join(`${dir}/`);
    const fromDir: CompareOptions = { ...opts, replace: [[`${dir}/`, '/tmp/voice-ai/']] };
    for (const prefix of ['api uuid_broadcast', 'api uuid_break', 'api uuid_setvar', 'api uuid_getvar']) {
      diffs.push(...(await play(client, at(prefix), bOnly(at(prefix).frames), fromDir, toDir)));
    }
    const usage = s.find((x) => x.send === `api uuid_setvar ${bLeg}\n\n`) as Step;
    diffs.push(...(await play(client, usage, usage.frames, opts)));
    const transfer = at('api uuid_transfer');
    diffs.push(...(await play(client, transfer, bOnly(transfer.frames), opts)));
    expect(await call.ended).toMatchObject({ hangupCause: 'NORMAL_CLEARING', transferredTo: '2000' });
    const kill = s.filter((x) => x.send?.startsWith('api uuid_kill')).at(-1) as Step;
    diffs.push(...(await play(client, kill, kill.frames)));
    const exit = at('exit');
    diffs.push(...(await play(client, exit, exit.frames)));
    await client.waitFor(() => client.finished, 5000, 'close after exit');
    expect(diffs).toEqual([]);
    expect(fake.apiLog).toContain(`uuid_break ${bLeg} all`);

    const bad = steps('inbound-control.jsonl', 'esl-badauth');
    const badClient = await dial(fake.inboundPort);
    const badDiffs = [...(await play(badClient, bad[0] as Step, (bad[0] as Step).frames))];
    badDiffs.push(...(await play(badClient, bad[1] as Step, (bad[1] as Step).frames)));
    await badClient.waitFor(() => badClient.finished, 5000, 'close after -ERR invalid');
    expect(badDiffs).toEqual([]);
  });

  it('inbound-event-encodings: one sendevent CUSTOM with a body in plain, json and xml; filter; noevents; exit', async () => {
    const fake = await startFake();
    const conns = ['esl-plain', 'esl-json', 'esl-xml'] as const;
    const rec = Object.fromEntries(conns.map((c) => [c, steps('inbound-event-encodings.jsonl', c)]));
    const clients = Object.fromEntries(
      await Promise.all(conns.map(async (c) => [c, await dial(fake.inboundPort)] as const)),
    );
    const diffs: string[] = [];
    for (const c of conns) {
      // The first reply of each step; later frames on these connections are events of the scenario.
      for (const step of (rec[c] as Step[]).slice(0, 3)) {
        diffs.push(...(await play(clients[c] as RawClient, step, step.frames.slice(0, 1))));
      }
    }
    // sendevent on esl-json; the CUSTOM event reaches all three (the first frame each conn got after it).
    const sendevent = (rec['esl-json'] as Step[])[3] as Step;
    expect(sendevent.send?.startsWith('sendevent CUSTOM')).toBe(true);
    diffs.push(...(await play(clients['esl-json'] as RawClient, sendevent, sendevent.frames.slice(0, 1))));
    const custom = (c: string): Frame =>
      (rec[c] as Step[]).flatMap((s) => s.frames).find((f) => f.body.includes('voice_ai')) as Frame;
    for (const c of conns) {
      const client = clients[c] as RawClient;
      await client.waitFor(
        () => client.frames.some((f) => f.body.includes('voice_ai')),
        5000,
        `CUSTOM on ${c}`,
      );
      const got = client.frames.find((f) => f.body.includes('voice_ai')) as Frame;
      const expected = custom(c);
      if (c === 'esl-xml') {
        const norm = (b: Buffer): string =>
          b
            .toString('utf8')
            .replace(
              /<(Event-UUID|Core-UUID|Event-Date-[A-Za-z]+|Event-Sequence|Event-Calling-Line-Number)>[^<]*</g,
              '<$1>X<',
            );
        expect(norm(got.body)).toBe(norm(expected.body));
      } else {
        diffs.push(...compareFrames(0, expected, got));
      }
    }
    // filter, noevents and exit replies (the originate in between is not replayed).
    const filter = (rec['esl-plain'] as Step[]).find((s) => s.send?.startsWith('filter')) as Step;
    diffs.push(...(await play(clients['esl-plain'] as RawClient, filter, filter.frames.slice(0, 1))));
    const noevents = (rec['esl-xml'] as Step[]).find((s) => s.send?.startsWith('noevents')) as Step;
    diffs.push(...(await play(clients['esl-xml'] as RawClient, noevents, noevents.frames.slice(0, 1))));
    for (const c of conns) {
      const exit = (rec[c] as Step[]).find((s) => s.send?.startsWith('exit')) as Step;
      diffs.push(...(await play(clients[c] as RawClient, exit, exit.frames)));
      await (clients[c] as RawClient).waitFor(() => (clients[c] as RawClient).finished, 5000, 'close');
    }
    expect(diffs).toEqual([]);
    expect(fake.inboundConnections()).toBe(0);
  });
});
