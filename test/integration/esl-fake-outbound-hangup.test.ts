/**
 * A call that ends under a running execute, against the whole fake FreeSWITCH at real speed: the pending
 * execute rejects with CallHangupError within 100 ms, the hangup signal aborts, and once the session closed it
 * holds no pending command, no socket listener, no emitter listener and no abort listener on the caller's
 * signal.
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallHangupError } from '../../src/core/errors.js';
import {
  createOutboundServer,
  type EslEvent,
  type OutboundServer,
  type OutboundSession,
  type OutboundSessionEvents,
} from '../../src/esl/index.js';
import { startFakeFreeSwitch, type FakeCall, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';

/** 3.7 s at speed 1: the playback is still running when the call ends. */
const SALES_8K = join(import.meta.dirname, '../fixtures/audio/fake-fs-sales-8k.wav');
/** The bound the issue sets between the hangup and the execute's rejection. */
const HANGUP_REJECT_MS = 100;

interface LogLine {
  level: number;
  msg: string;
}

let fake: FakeFreeSwitch;
let server: OutboundServer;
const logLines: LogLine[] = [];
const log: Logger = pino(
  { level: 'debug' },
  { write: (s: string) => void logLines.push(JSON.parse(s) as LogLine) },
);
const handed = new Map<string, (s: OutboundSession) => void>();

beforeAll(async () => {
  // Speed 1 and FreeSWITCH's 20 ms event poll: the timing below is real-world timing.
  fake = await startFakeFreeSwitch({ speed: 1, eventLatencyMs: 20 });
  server = await createOutboundServer({
    port: 0,
    log,
    lingerSeconds: 5,
    events: ['PLAYBACK_START', 'PLAYBACK_STOP'],
    onSession: (s) => handed.get(s.channel.uniqueId)?.(s),
  });
});

afterAll(async () => {
  server.destroy();
  await fake.stop();
});

async function placeCall(): Promise<{ call: FakeCall; session: OutboundSession }> {
  const uuid = randomUUID();
  const arrived = new Promise<OutboundSession>((resolve) => handed.set(uuid, resolve));
  const call = fake.placeCall({ target: { host: '127.0.0.1', port: server.port }, uuid, answered: true });
  return { call, session: await arrived };
}

function nextEvent(s: OutboundSession, match: (e: EslEvent) => boolean): Promise<EslEvent> {
  return new Promise((resolve) => {
    const on = (e: EslEvent): void => {
      if (!match(e)) return;
      s.off('event', on);
      resolve(e);
    };
    s.on('event', on);
  });
}

const SESSION_EVENTS: Array<keyof OutboundSessionEvents> = ['event', 'dtmf', 'hangup', 'close'];

/** A consumer that never removes its listeners: the session must drop them itself when it closes. */
function attachConsumer(s: OutboundSession): { hangups: Array<string | undefined>; closes: number } {
  const seen = { hangups: [] as Array<string | undefined>, closes: 0 };
  s.on('event', () => undefined);
  s.on('dtmf', () => undefined);
  s.on('hangup', (cause) => seen.hangups.push(cause));
  s.on('close', () => seen.closes++);
  return seen;
}

/** Runs a long playback, ends the call with `end` once it plays, and times the execute's rejection. */
async function hangUpDuringPlayback(
  s: OutboundSession,
  end: () => void,
): Promise<{ err: unknown; elapsedMs: number; turn: AbortController }> {
  // A turn's own signal, as the call loop passes one to each execute.
  const turn = new AbortController();
  const playing = nextEvent(s, (e) => e.name === 'PLAYBACK_START');
  const execute = s.execute('playback', SALES_8K, { signal: turn.signal });
  const settled = execute.then(
    () => ({ err: undefined, at: performance.now() }),
    (err: unknown) => ({ err, at: performance.now() }),
  );
  await playing;
  expect(s.pendingCount()).toBe(1);
  expect(getEventListeners(turn.signal, 'abort')).toHaveLength(1);
  const t0 = performance.now();
  end();
  const { err, at } = await settled;
  return { err, elapsedMs: at - t0, turn };
}

async function expectReleased(s: OutboundSession): Promise<void> {
  await s.close();
  expect(s.closed).toBe(true);
  expect(s.pendingCount()).toBe(0);
  expect(s.socketListenerCount()).toBe(0);
  for (const name of SESSION_EVENTS) expect(s.listenerCount(name), name).toBe(0);
  expect(server.sessions).toBe(0);
}

describe('a call ending under a pending execute', () => {
  it('caller hangs up during a playback: CallHangupError within 100 ms, everything released', async () => {
    const { call, session: s } = await placeCall();
    const seen = attachConsumer(s);

    const { err, elapsedMs, turn } = await hangUpDuringPlayback(s, () => call.hangup());

    expect(err).toBeInstanceOf(CallHangupError);
    expect(err).toMatchObject({ code: 'E_CALL_HANGUP', hangupCause: 'NORMAL_CLEARING' });
    expect(elapsedMs).toBeLessThan(HANGUP_REJECT_MS);
    expect(s.hangupSignal.aborted).toBe(true);
    expect(s.hangupSignal.reason).toBeInstanceOf(CallHangupError);
    expect(s.hangupCause).toBe('NORMAL_CLEARING');
    expect(s.pendingCount()).toBe(0);
    expect(getEventListeners(turn.signal, 'abort')).toHaveLength(0);
    // Nothing more is sent on a call that is gone.
    await expect(s.execute('answer')).rejects.toBeInstanceOf(CallHangupError);
    expect(seen.hangups).toEqual(['NORMAL_CLEARING']);

    await expectReleased(s);
    expect(seen.closes).toBe(1);
    expect(await call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
    // The fake stopped the playback when the channel went down.
    expect(call.executed.map((e) => `${e.app} ${e.response}`)).toEqual(['playback PLAYBACK ERROR']);
    expect(call.violations).toEqual([]);
    expect(logLines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('the socket drops during a playback (no CHANNEL_HANGUP): CallHangupError within 100 ms, released', async () => {
    const { call, session: s } = await placeCall();
    const seen = attachConsumer(s);

    const { err, elapsedMs, turn } = await hangUpDuringPlayback(s, () => call.faults.dropSocket());

    expect(err).toBeInstanceOf(CallHangupError);
    expect(err).toMatchObject({ code: 'E_CALL_HANGUP', hangupCause: undefined });
    expect(elapsedMs).toBeLessThan(HANGUP_REJECT_MS);
    expect(s.hangupSignal.aborted).toBe(true);
    expect(getEventListeners(turn.signal, 'abort')).toHaveLength(0);
    expect(seen.hangups).toEqual([undefined]);

    await expectReleased(s);
    expect(seen.closes).toBe(1);
    // The socket app returned under the playback: the dialplan hangs up after it.
    expect(await call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'freeswitch' });
    expect(call.violations).toEqual([]);
    expect(logLines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
