import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFakeFreeSwitch, type FakeCall, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { testSql, type Sql } from '../helpers/db.js';
import { utterance } from './call-harness.js';
import {
  OPS_ENCRYPTION_KEY,
  callTo,
  createTenant,
  endedConversation,
  spawnDaemon,
  type DaemonProcess,
  type LogLine,
} from './ops-daemon.js';

// Neither looks like an OpenAI key (`sk-…`), so only scrubbing by the row's own secret can hide them.
const API_KEY = 'ops-known-api-key-9d27c4e1b8';
const WRONG_KEY = 'ops-wrong-api-key-41f0a6d3c2';
const CALLER = '5511987654321';
const TRANSCRIPT = 'Meu CPF é 123.456.789-00, quero a segunda via.';
const REPLY = 'Anotado, vou enviar a segunda via.';

let sql: Sql;
let fs: FakeFreeSwitch;
let ai: FakeOpenAi;
/** Redacting (the default) and verbose (VOICE_AI_LOG_PII=true), both at trace level. */
let quiet: DaemonProcess;
let verbose: DaemonProcess;

/** One call whose LLM is first tried with the wrong key (a 401 echoing it), then with the right one. */
async function runCall(d: DaemonProcess): Promise<FakeCall> {
  const t = await createTenant(sql, {
    provider: { baseUrl: ai.baseUrl, apiKey: API_KEY },
    llm: [
      { baseUrl: ai.baseUrl, apiKey: WRONG_KEY },
      { baseUrl: ai.baseUrl, apiKey: API_KEY },
    ],
  });
  const call = fs.placeCall(callTo(t, d.outboundPort, { callerIdNumber: CALLER, script: utterance() }));
  await call.ended;
  expect(await endedConversation(sql, call.uuid)).toMatchObject({ resolution: 'completed', total_turns: 1 });
  return call;
}

beforeAll(async () => {
  sql = testSql();
  fs = await startFakeFreeSwitch({ speed: 10 });
  ai = await startFakeOpenAi({ apiKey: API_KEY });
  ai.on('transcriptions', () => ({ type: 'transcription', text: TRANSCRIPT }));
  ai.on('chat', () => ({ type: 'chat', text: REPLY, toolCalls: [{ name: 'end_call', arguments: {} }] }));
  const common = { databaseUrl: inject('databaseUrl'), eslPort: fs.inboundPort };
  [quiet, verbose] = await Promise.all([
    spawnDaemon({ ...common, env: { VOICE_AI_LOG_LEVEL: 'trace' } }),
    spawnDaemon({ ...common, env: { VOICE_AI_LOG_LEVEL: 'trace', VOICE_AI_LOG_PII: 'true' } }),
  ]);
  await Promise.all([runCall(quiet), runCall(verbose)]);
  // Stopped cleanly so that every line they would ever print is read before the assertions.
  for (const d of [quiet, verbose]) d.signal('SIGTERM');
  for (const d of [quiet, verbose]) expect(await d.exited).toEqual({ code: 0, signal: null });
});
afterAll(async () => {
  await Promise.all([quiet?.dispose(), verbose?.dispose()]);
  await fs.stop();
  await ai.close();
  await sql.end();
});

const output = (d: DaemonProcess): string[] => [...d.stdout, ...d.stderr];
const line = (d: DaemonProcess, msg: string): LogLine | undefined => d.logs.find((l) => l.msg === msg);

describe('what the daemon logs at trace level', () => {
  it('the provider error path ran: the wrong key was sent, refused with a 401 and fallen back from', () => {
    const wrong = ai.requests.filter((r) => r.headers.authorization === `Bearer ${WRONG_KEY}`);
    expect(wrong.length).toBeGreaterThanOrEqual(2);
    for (const d of [quiet, verbose]) {
      expect(line(d, 'provider failed, falling back')).toMatchObject({ kind: 'llm', status: 401 });
      const attempt = line(d, 'provider attempt failed');
      expect(attempt).toMatchObject({ kind: 'llm', status: 401, retried: false });
      // The vendor's message is kept, with the echoed key scrubbed out of it.
      expect((attempt?.['err'] as { message?: string }).message).toContain(
        'Incorrect API key provided: [redacted].',
      );
    }
  });

  it('no line, on stdout or stderr, holds an API key or the encryption key', () => {
    for (const d of [quiet, verbose]) {
      for (const secret of [API_KEY, WRONG_KEY, OPS_ENCRYPTION_KEY]) {
        expect(output(d).filter((l) => l.includes(secret))).toEqual([]);
      }
      expect(d.stderr).toEqual([]);
    }
  });

  it('transcripts and caller numbers appear only as [redacted] by default', () => {
    for (const text of [TRANSCRIPT, REPLY, CALLER]) {
      expect(output(quiet).filter((l) => l.includes(text))).toEqual([]);
    }
    expect(line(quiet, 'caller said')).toMatchObject({ turn: 1, pii: '[redacted]' });
    expect(line(quiet, 'secretary replied')).toMatchObject({ turn: 1, pii: '[redacted]' });
  });

  it('with VOICE_AI_LOG_PII=true the transcript is logged, the secrets still are not', () => {
    expect(line(verbose, 'caller said')).toMatchObject({ turn: 1, pii: { text: TRANSCRIPT } });
    expect(line(verbose, 'secretary replied')).toMatchObject({ turn: 1, pii: { text: REPLY } });
  });
});
