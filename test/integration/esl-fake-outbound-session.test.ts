/**
 * The outbound ESL client against the whole fake FreeSWITCH (not a replay): the channel data is typed from the
 * fake's `connect` reply, and answer / playback / record executes resolve with exactly the Application-Response
 * and channel variables the fake's applications produced, without a protocol violation on the fake's side.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutboundServer,
  type EventFormat,
  type ExecuteResult,
  type OutboundServer,
  type OutboundSession,
} from '../../src/esl/index.js';
import {
  startFakeFreeSwitch,
  type CallerStep,
  type ExecutedApp,
  type FakeCall,
  type FakeFreeSwitch,
  type ReadCodec,
} from '../fakes/fake-freeswitch/index.js';

/** 3.022 s, 8 kHz mono 16-bit (24,178 samples). */
const PROMPT_8K = join(import.meta.dirname, '../fixtures/audio/fake-fs-prompt-8k.wav');
const EVENTS = ['PLAYBACK_START', 'PLAYBACK_STOP', 'RECORD_START', 'RECORD_STOP'];

interface LogLine {
  level: number;
  msg: string;
}

let fake: FakeFreeSwitch;
let dir: string;
const logLines: LogLine[] = [];
const log: Logger = pino(
  { level: 'debug' },
  { write: (s: string) => void logLines.push(JSON.parse(s) as LogLine) },
);
const servers = new Map<EventFormat, OutboundServer>();
/** Sessions handed out by the servers, by call uuid: the test drives each one itself. */
const handed = new Map<string, (s: OutboundSession) => void>();

function sessionFor(uuid: string): Promise<OutboundSession> {
  return new Promise((resolve) => handed.set(uuid, resolve));
}

beforeAll(async () => {
  fake = await startFakeFreeSwitch({ speed: 20 });
  dir = mkdtempSync(join(tmpdir(), 'esl-fake-outbound-'));
  for (const format of ['plain', 'json'] as const) {
    const server = await createOutboundServer({
      port: 0,
      log,
      eventFormat: format,
      lingerSeconds: 5,
      events: EVENTS,
      onSession: (s) => handed.get(s.channel.uniqueId)?.(s),
    });
    servers.set(format, server);
  }
});

afterAll(async () => {
  for (const server of servers.values()) server.destroy();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A constant-|amplitude| tone (alternating sign) at the channel rate: speech for the record app. */
function tone(amplitude: number, ms: number, rateHz: number): CallerStep {
  const pcm = new Int16Array((rateHz * ms) / 1000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = i % 2 === 0 ? amplitude : -amplitude;
  return { type: 'speak', pcm, sampleRateHz: rateHz };
}

/** The client's view of an execute equals the fake's own record of it. */
function expectSameAsFake(result: ExecuteResult, done: ExecutedApp | undefined): void {
  expect(done).toBeDefined();
  expect({
    application: result.application,
    applicationData: result.applicationData,
    applicationUuid: result.applicationUuid,
    response: result.response,
    variables: { ...result.variables },
  }).toEqual({
    application: done?.app,
    applicationData: done?.arg,
    applicationUuid: done?.applicationUuid,
    response: done?.response,
    variables: done?.variables,
  });
}

const CASES: Array<{ format: EventFormat; codec: ReadCodec; rateHz: 8000 | 16000 }> = [
  { format: 'plain', codec: 'PCMU', rateHz: 8000 },
  { format: 'json', codec: 'L16', rateHz: 16000 },
];

describe('outbound ESL client against the fake FreeSWITCH', () => {
  it.each(CASES)(
    '$codec/$rateHz with $format events: typed channel data, executes resolve with the fake’s results',
    async ({ format, codec, rateHz }) => {
      const server = servers.get(format) as OutboundServer;
      const uuid = randomUUID();
      const domainUuid = randomUUID();
      const secretaryUuid = randomUUID();
      const arrived = sessionFor(uuid);
      const call: FakeCall = fake.placeCall({
        target: { host: '127.0.0.1', port: server.port },
        uuid,
        callerIdNumber: '5511987654321',
        // A Latin-1 trunk: goes out as `Jo%E3o` and must read as "João".
        callerIdName: Buffer.from('Jo\xe3o', 'latin1'),
        destinationNumber: '8000',
        domainUuid,
        domainName: 'tenant-a.example.com',
        readCodec: codec,
        readRateHz: rateHz,
        variables: { voice_ai_secretary_uuid: secretaryUuid },
        // One second of speech, then silence long enough for `record ... 200 1` to stop on it.
        script: [tone(1000, 1000, rateHz), { type: 'silence', ms: 3000 }],
      });
      const s = await arrived;

      expect(s.channel).toMatchObject({
        uniqueId: uuid,
        channelName: 'loopback/8000-b',
        callerIdNumber: '5511987654321',
        callerIdName: 'João',
        destinationNumber: '8000',
        context: 'tenant-a.example.com',
        domainUuid,
        domainName: 'tenant-a.example.com',
        readCodecName: codec,
        readRateHz: rateHz,
        answerState: 'ringing',
      });
      expect(s.channel.variables['voice_ai_secretary_uuid']).toBe(secretaryUuid);
      expect(s.channel.variables['read_rate']).toBe(String(rateHz));
      // Every channel variable of the reply, decoded, and nothing else.
      expect({ ...s.channel.variables }).toEqual(call.variables());

      const answered = await s.execute('answer');
      expect(answered.response).toBe('_none_');
      expect(answered.variables['endpoint_disposition']).toBe('ANSWER');
      expectSameAsFake(answered, call.executed[0]);

      const appUuid = randomUUID();
      const played = await s.execute('playback', PROMPT_8K, { eventUuid: appUuid });
      expect(played).toMatchObject({
        application: 'playback',
        applicationUuid: appUuid,
        response: 'FILE PLAYED',
      });
      expect(played.variables).toMatchObject({ playback_ms: '3022', playback_samples: '24178' });
      expectSameAsFake(played, call.executed[1]);

      const missing = await s.execute('playback', join(dir, 'no-such-prompt.wav'));
      expect(missing.response).toBe('FILE NOT FOUND');
      expectSameAsFake(missing, call.executed[2]);

      const file = join(dir, `${uuid}.wav`);
      const recorded = await s.execute('record', `${file} 10 200 1`);
      expect(recorded.response).toBe('_none_');
      // 1 s of tone, then 49 silent 20 ms frames: the 50th (1 s of silence) ends the record unwritten.
      expect(recorded.variables).toMatchObject({
        silence_hits_exhausted: 'true',
        record_ms: '1980',
        record_samples: String((1980 * rateHz) / 1000),
      });
      expectSameAsFake(recorded, call.executed[3]);
      expect(call.recordings).toEqual([file]);
      expect(existsSync(file)).toBe(true);

      await s.hangup();
      await s.close();
      expect(s.hangupSignal.aborted).toBe(true);
      expect(await call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
      expect(call.violations).toEqual([]);
      expect(call.commands).toEqual([
        'connect',
        'linger 5',
        format === 'json' ? 'myevents json' : 'myevents',
        `event ${format} ${EVENTS.join(' ')}`,
        'sendmsg execute answer',
        `sendmsg execute playback ${PROMPT_8K}`,
        `sendmsg execute playback ${join(dir, 'no-such-prompt.wav')}`,
        `sendmsg execute record ${file} 10 200 1`,
        'sendmsg hangup NORMAL_CLEARING',
      ]);
      expect(server.sessions).toBe(0);
      expect(logLines.filter((l) => l.level >= 40)).toEqual([]);
    },
  );
});
