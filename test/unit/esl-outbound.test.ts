import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { CallHangupError } from '../../src/core/errors.js';
import type { EslEvent } from '../../src/esl/event.js';
import {
  createOutboundServer,
  type OutboundServer,
  type OutboundServerOptions,
} from '../../src/esl/outbound.js';
import type { OutboundSession } from '../../src/esl/outbound-session.js';
import { EslParser } from '../../src/esl/parser.js';
import { fsChunks, memoryLogger, outboundSteps, ReplayPeer, silentLog } from './esl-support.js';

const SUBSCRIBED = [
  'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE',
  'DTMF',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
];

/** Application-UUID of each app's EXECUTE_COMPLETE in a recording's outbound stream. */
function appUuids(recording: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parser = new EslParser();
  for (const c of fsChunks(recording).get('outbound') ?? []) {
    parser.push(c, (f) => {
      const e = f.event;
      if (e?.name === 'CHANNEL_EXECUTE_COMPLETE') out[e.application] ??= e.applicationUuid;
    });
  }
  return out;
}

const servers: OutboundServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.destroy();
});

/** Starts a server whose onSession runs `body` and hands its outcome (and the session) to the test. */
async function serve<T>(
  body: (s: OutboundSession) => Promise<T>,
  options: Partial<OutboundServerOptions> = {},
): Promise<{ server: OutboundServer; outcome: Promise<{ session: OutboundSession; value: T }> }> {
  let resolve!: (v: { session: OutboundSession; value: T }) => void;
  let reject!: (e: unknown) => void;
  const outcome = new Promise<{ session: OutboundSession; value: T }>(
    (res, rej) => ((resolve = res), (reject = rej)),
  );
  const server = await createOutboundServer({
    port: 0,
    log: silentLog,
    events: SUBSCRIBED,
    ...options,
    onSession: async (session) => {
      try {
        resolve({ session, value: await body(session) });
      } catch (err) {
        reject(err);
      }
    },
  });
  servers.push(server);
  return { server, outcome };
}

function expectNoLeaks(session: OutboundSession, server: OutboundServer): void {
  expect(session.closed).toBe(true);
  expect(session.pendingCount()).toBe(0);
  expect(session.socketListenerCount()).toBe(0);
  expect(session.eventNames()).toEqual([]);
  expect(server.sessions).toBe(0);
}

describe('outbound session against recorded FreeSWITCH traffic', () => {
  it('runs the recorded turn (plain): channel data, answer, playback, record, DTMF, hangup', async () => {
    const uuids = appUuids('outbound-socket-turn.jsonl');
    const { server, outcome } = await serve(
      async (s) => {
        const digits: string[] = [];
        s.on('dtmf', (d) => digits.push(d));
        const answer = await s.execute('answer', undefined, { eventUuid: uuids['answer'] ?? '' });
        const playback = await s.execute('playback', '/tmp/voice-ai/prompt.wav', {
          eventUuid: uuids['playback'] ?? '',
        });
        const record = await s.execute('record', '/tmp/voice-ai/rec.wav 15 200 2', {
          eventUuid: uuids['record'] ?? '',
        });
        await s.hangup();
        if (!s.hangupSignal.aborted) await once(s.hangupSignal, 'abort');
        return { answer, playback, record, digits };
      },
      { lingerSeconds: 5 },
    );
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-turn.jsonl'));
    const { session, value } = await outcome;
    expect(session.channel).toMatchObject({
      uniqueId: '33b5929c-06e0-4ac7-bbd7-7c77d4a4610c',
      channelName: 'loopback/8000-b',
      callerIdNumber: '15551230001',
      callerIdName: 'Alice',
      destinationNumber: '8000',
      context: 'voice.example.com',
      readCodecName: 'L16',
      readRateHz: 8000,
      answerState: 'answered',
    });
    expect(session.channel.domainUuid).toBeUndefined();
    expect(session.channel.variables['loopback_leg']).toBe('B');
    expect(session.channel.variables['current_application_data']).toBe('127.0.0.1:8084 async full');
    expect(value.answer.application).toBe('answer');
    expect(value.playback).toMatchObject({
      response: 'FILE PLAYED',
      applicationUuid: '2922aff8-369d-4a59-b882-d6feed164e54',
    });
    expect(value.playback.variables['playback_ms']).toBe('3022');
    expect(value.record.response).toBe('_none_');
    expect(value.record.variables).toMatchObject({ record_ms: '3720', silence_hits_exhausted: 'true' });
    expect(value.digits).toEqual(['1']);
    expect(session.hangupCause).toBe('NORMAL_CLEARING');
    await peer.done;
    await session.close();
    // The playback sendmsg is byte for byte the one the recorded client sent.
    expect(peer.commands[5]).toBe(
      'sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: /tmp/voice-ai/prompt.wav\n' +
        'event-lock: true\nEvent-UUID: 2922aff8-369d-4a59-b882-d6feed164e54\n\n',
    );
    expect(peer.commands.slice(0, 3)).toEqual(['connect\n\n', 'linger 5\n\n', 'myevents\n\n']);
    expect(peer.commands[3]).toBe(`event plain ${SUBSCRIBED.join(' ')}\n\n`);
    expect(peer.commands[7]).toBe('sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n');
    expectNoLeaks(session, server);
  });

  it('rejects the pending execute with CallHangupError within 100 ms of the caller hanging up', async () => {
    const uuids = appUuids('outbound-socket-caller-hangup.jsonl');
    const peerRef: { peer?: ReplayPeer } = {};
    const { server, outcome } = await serve(
      async (s) => {
        await s.execute('answer', undefined, { eventUuid: uuids['answer'] ?? '' });
        const started = new Promise<void>((resolve) =>
          s.on(
            'event',
            (e: EslEvent) => e.name === 'CHANNEL_EXECUTE' && e.application === 'playback' && resolve(),
          ),
        );
        const playing = s.execute('playback', '/tmp/voice-ai/long.wav');
        await started;
        const peer = peerRef.peer as ReplayPeer;
        await peer.held();
        expect(s.pendingCount()).toBe(1);
        const t0 = performance.now();
        peer.advance();
        const err = await playing.then(
          () => undefined,
          (e: unknown) => e,
        );
        return { err, elapsedMs: performance.now() - t0, pendingAfter: s.pendingCount() };
      },
      { lingerSeconds: 5 },
    );
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-caller-hangup.jsonl'), {
      holdOverMs: 500,
      maxHolds: 1,
    });
    peerRef.peer = peer;
    const { session, value } = await outcome;
    expect(value.err).toBeInstanceOf(CallHangupError);
    expect((value.err as CallHangupError).hangupCause).toBe('NORMAL_CLEARING');
    expect(value.elapsedMs).toBeLessThan(100);
    expect(value.pendingAfter).toBe(0);
    expect(session.hangupSignal.aborted).toBe(true);
    await session.close();
    await peer.done;
    expectNoLeaks(session, server);
  });

  it('ends cleanly when FreeSWITCH closes first (no linger)', async () => {
    const uuids = appUuids('outbound-socket-caller-hangup-nolinger.jsonl');
    const { server, outcome } = await serve(async (s) => {
      await s.execute('answer', undefined, { eventUuid: uuids['answer'] ?? '' });
      const err = await s.execute('playback', '/tmp/voice-ai/long.wav').catch((e: unknown) => e);
      await s.close();
      return err;
    });
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-caller-hangup-nolinger.jsonl'));
    const { session, value } = await outcome;
    expect(value).toBeInstanceOf(CallHangupError);
    await peer.done;
    expectNoLeaks(session, server);
    await expect(session.execute('answer')).rejects.toBeInstanceOf(CallHangupError);
  });

  it('runs the recorded json turn with api on the outbound socket and a transfer', async () => {
    const uuids = appUuids('outbound-socket-json.jsonl');
    const { server, outcome } = await serve(
      async (s) => {
        const events: string[] = [];
        s.on('event', (e) => events.push(e.eventName));
        await s.execute('answer', undefined, { eventUuid: uuids['answer'] ?? '' });
        const playback = await s.execute('playback', '/tmp/voice-ai/prompt.wav', {
          eventUuid: uuids['playback'] ?? '',
        });
        const record = await s.execute('record', '/tmp/voice-ai/rec2.wav 15 200 2', {
          eventUuid: uuids['record'] ?? '',
        });
        const recordMs = await s.api(`uuid_getvar ${s.channel.uniqueId} record_ms`);
        const transfer = await s.execute('transfer', '2000 XML voice.example.com', {
          eventUuid: uuids['transfer'] ?? '',
        });
        if (!s.hangupSignal.aborted) await once(s.hangupSignal, 'abort');
        return { playback, record, recordMs, transfer, events };
      },
      { eventFormat: 'json', lingerSeconds: 5 },
    );
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-json.jsonl'));
    const { session, value } = await outcome;
    expect(session.channel).toMatchObject({
      callerIdName: 'Bob',
      uniqueId: '8040cd66-4313-44ce-936f-13084d471557',
    });
    expect(value.playback.response).toBe('FILE PLAYED');
    expect(value.record.variables['record_ms']).toBe('3720');
    expect(value.recordMs).toBe('3720');
    expect(value.transfer.applicationData).toBe('2000 XML voice.example.com');
    expect(value.events).toContain('DTMF');
    expect(session.hangupCause).toBe('NORMAL_CLEARING');
    expect(peer.commands[2]).toBe('myevents json\n\n');
    await session.close();
    await peer.done;
    expectNoLeaks(session, server);
  });

  it('types a Latin-1 caller name (Jo%E3o) from the connect reply without crashing', async () => {
    const { server, outcome } = await serve(async (s) => s.channel.callerIdName);
    const swap = (b: Buffer): Buffer =>
      Buffer.from(
        b.toString('latin1').replace('Caller-Caller-ID-Name: Carol\n', 'Caller-Caller-ID-Name: Jo%E3o\n'),
        'latin1',
      );
    new ReplayPeer(server.port, outboundSteps('outbound-socket-caller-hangup-nolinger.jsonl'), {
      transform: swap,
    });
    expect((await outcome).value).toBe('João');
  });

  it('logs an onSession failure, closes the session and keeps serving', async () => {
    const { log, lines } = memoryLogger();
    const server = await createOutboundServer({
      port: 0,
      log,
      onSession: async () => {
        throw new Error('boom');
      },
    });
    servers.push(server);
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-caller-hangup-nolinger.jsonl'));
    await once(peer.socket, 'end');
    expect(lines.find((l) => l.msg === 'esl outbound onSession failed')).toBeDefined();
  });

  it('refuses peers outside allowedAddresses', async () => {
    const { log, lines } = memoryLogger();
    let called = false;
    const server = await createOutboundServer({
      port: 0,
      log,
      allowedAddresses: ['192.0.2.10'],
      onSession: () => void (called = true),
    });
    servers.push(server);
    const peer = new ReplayPeer(server.port, outboundSteps('outbound-socket-turn.jsonl'));
    await once(peer.socket, 'close');
    expect(called).toBe(false);
    expect(peer.commands).toEqual([]);
    expect(
      lines.find((l) => l.msg === 'esl outbound connection rejected' && l['reason'] === 'peer_not_allowed'),
    ).toBeDefined();
  });
});
