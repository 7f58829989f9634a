import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, InvalidInputError, ProviderError } from '../../src/core/errors.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import { deepgramConfigFromRow } from '../../src/providers/stt/deepgram.js';
import { createDeepgramFluxStt } from '../../src/providers/stt/deepgram-flux.js';
import type { SttProvider, SttStream } from '../../src/providers/types.js';
import {
  FAKE_DEEPGRAM_KEY,
  deepgramRow,
  drain,
  fluxError,
  pattern,
  startFakeDeepgram,
  turnInfo,
  type FakeDeepgram,
} from '../fakes/deepgram-server.js';
import { captureLog } from '../fakes/openai-rows.js';

let dg: FakeDeepgram;
beforeEach(async () => {
  dg = await startFakeDeepgram();
});
afterEach(() => dg.close());

const WRONG_KEY = '0badc0ffee0badc0ffee0badc0ffee0badc0ffee';
const MODEL = 'flux-general-multi';

function flux(config: Record<string, unknown> = {}, apiKey?: string): SttProvider {
  const row = deepgramRow(dg.baseUrl, { config: { model: MODEL, ...config }, ...(apiKey ? { apiKey } : {}) });
  return createDeepgramFluxStt(deepgramConfigFromRow(row));
}

async function open(
  provider: SttProvider = flux(),
  opts: { sampleRateHz?: number; language?: string; endpointingMs?: number } = {},
  signal: AbortSignal = new AbortController().signal,
): Promise<SttStream> {
  if (provider.stream === undefined) throw new Error('no stream');
  return provider.stream({ sampleRateHz: 16000, ...opts }, signal);
}

const frame = (samples = 1280): Int16Array => new Int16Array(samples).fill(-1200);

describe('deepgram flux stt (/v2/listen)', () => {
  it('maps a turn cycle to speech start, partials and one end-of-turn final', async () => {
    dg.script(
      { send: turnInfo('StartOfTurn', { start: 0.32 }), afterBytes: 1 },
      { send: turnInfo('Update', { transcript: 'olá' }) },
      { send: turnInfo('Update', { transcript: 'olá' }) }, // unchanged: no news
      { send: turnInfo('EagerEndOfTurn', { transcript: 'olá tudo bem' }) },
      { send: turnInfo('TurnResumed', { transcript: 'olá tudo bem' }) },
      { send: turnInfo('Update', { transcript: 'olá tudo bem eu queria' }) },
      { send: turnInfo('EndOfTurn', { transcript: 'olá tudo bem eu queria', start: 0.32, end: 2.4 }) },
      { send: turnInfo('StartOfTurn', { turnIndex: 1, start: 3.1 }) },
    );
    const s = await open();
    s.write(frame());
    const out = await drain(s.events, (_ev, all) => {
      if (all.length === 6) void s.close();
    });
    expect(out.error).toBeUndefined();
    expect(out.events).toEqual([
      { type: 'speech_started', atMs: 320 },
      { type: 'partial', text: 'olá' },
      { type: 'partial', text: 'olá tudo bem' },
      { type: 'partial', text: 'olá tudo bem eu queria' },
      { type: 'final', text: 'olá tudo bem eu queria', endOfTurn: true, atMs: 2400 },
      { type: 'speech_started', atMs: 3100 },
    ]);
  });

  it('sends the Flux query, the key as a Token, and the audio byte for byte', async () => {
    const connecting = dg.connection();
    const s = await open(flux({ eot_threshold: 0.8 }), { language: 'pt-BR', endpointingMs: 300 });
    const conn = await connecting;
    const { frames, bytes } = pattern(8, 1280);
    for (const f of frames) {
      s.write(f);
      await Promise.resolve();
    }
    await s.close();
    expect(conn.path).toBe('/v2/listen');
    expect(conn.headers.authorization).toBe(`Token ${FAKE_DEEPGRAM_KEY}`);
    expect(Object.fromEntries(conn.query)).toEqual({
      model: MODEL,
      encoding: 'linear16',
      sample_rate: '16000',
      eot_threshold: '0.8',
      eot_timeout_ms: '500', // 300 clamped to Flux's minimum
      language_hint: 'pt',
    });
    expect(conn.audio.equals(bytes)).toBe(true);
    expect(conn.log).toEqual([...frames.map(() => 'audio'), 'CloseStream']);
  });

  it('finalize() sends ForceEndTurn and the EndOfTurn it causes is a final', async () => {
    dg.script(
      { send: turnInfo('Update', { transcript: 'pode ser' }), afterBytes: 1 },
      {
        send: turnInfo('EndOfTurn', { transcript: 'pode ser amanhã', end: 1.1, trigger: 'manual' }),
        onControl: 'ForceEndTurn',
      },
    );
    const connecting = dg.connection();
    const s = await open();
    const conn = await connecting;
    s.write(frame());
    const out = await drain(s.events, (ev) => {
      if (ev.type === 'partial') s.finalize();
      if (ev.type === 'final') void s.close();
    });
    expect(out.events).toEqual([
      { type: 'partial', text: 'pode ser' },
      { type: 'final', text: 'pode ser amanhã', endOfTurn: true, atMs: 1100 },
    ]);
    expect(conn.log).toEqual(['audio', 'ForceEndTurn', 'CloseStream']);
  });

  it('close() sends CloseStream and nothing else: no KeepAlive on the v2 socket, however idle', async () => {
    dg.script({ send: turnInfo('Update', { transcript: 'alô' }), afterMs: 200 });
    const connecting = dg.connection();
    const s = await open(flux({ keepalive_ms: 20 }));
    const conn = await connecting;
    const out = await drain(s.events, () => void s.close());
    expect(out).toEqual({ events: [{ type: 'partial', text: 'alô' }], error: undefined });
    expect((await conn.closed).code).toBe(1000);
    expect(conn.log).toEqual(['CloseStream']);
  });

  it('a refused key is a non-retryable 401 that does not carry the key', async () => {
    const err = await open(flux({}, WRONG_KEY)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ vendor: 'deepgram', status: 401, retryable: false });
    expect((err as Error).message).not.toContain(WRONG_KEY);
    expect(dg.refused).toBe(1);
  });

  it('an Error message ends the stream with a non-retryable error naming its code', async () => {
    dg.script({ send: fluxError('INVALID_AUDIO', 'cannot decode'), afterBytes: 1 });
    const s = await open();
    s.write(frame());
    const out = await drain(s.events);
    expect(out.error).toBeInstanceOf(ProviderError);
    expect(out.error).toMatchObject({ retryable: false });
    expect((out.error as Error).message).toContain('INVALID_AUDIO');
    expect((out.error as Error).message).toContain('cannot decode');
  });

  it('the key is in no error message and no log line: a refused key, and an Error that echoes it', async () => {
    const { log, lines } = captureLog();
    const reg = createProviderRegistry({ log, retry: { maxRetries: 0 } });
    const refused = reg.build(
      [deepgramRow(dg.baseUrl, { config: { model: MODEL }, apiKey: WRONG_KEY })],
      'stt',
    );
    // The fake's 401 body quotes the key it was given, as a careless proxy might.
    const err = await refused
      .transcribe({ samples: frame(), sampleRateHz: 16000 }, {}, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect((err as Error).message).toContain('INVALID_AUTH');
    expect((err as Error).message).not.toContain(WRONG_KEY);

    dg.script({ send: fluxError('UNAUTHORIZED', `token ${FAKE_DEEPGRAM_KEY} revoked`), afterBytes: 1 });
    const echoed = reg.build([deepgramRow(dg.baseUrl, { config: { model: MODEL } })], 'stt');
    const err2 = await echoed
      .transcribe({ samples: frame(), sampleRateHz: 16000 }, {}, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ProviderError);
    expect((err2 as Error).message).toContain('UNAUTHORIZED');
    expect((err2 as Error).message).not.toContain(FAKE_DEEPGRAM_KEY);

    expect(lines.filter((l) => l['msg'] === 'provider attempt failed')).toHaveLength(2);
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain(WRONG_KEY);
    expect(logged).not.toContain(FAKE_DEEPGRAM_KEY);
  });

  it('takes eot_timeout_ms and eager_eot_threshold from the row; flux-general-en gets no language_hint', async () => {
    const connecting = dg.connection();
    const provider = flux({ model: 'flux-general-en', eot_timeout_ms: 1500, eager_eot_threshold: 0.4 });
    const s = await open(provider, { sampleRateHz: 8000, language: 'pt-BR' });
    const conn = await connecting;
    await s.close();
    expect(Object.fromEntries(conn.query)).toEqual({
      model: 'flux-general-en',
      encoding: 'linear16',
      sample_rate: '8000',
      eager_eot_threshold: '0.4',
      eot_timeout_ms: '1500',
    });
    // The stream's own endpointing wins, clamped to Flux's maximum (which the fake would refuse past).
    const second = dg.connection();
    await (await open(provider, { endpointingMs: 90_000 })).close();
    expect((await second).query.get('eot_timeout_ms')).toBe('60000');
  });

  it('a connection dropped mid-stream makes the events throw a retryable error', async () => {
    dg.script({ send: turnInfo('StartOfTurn', { start: 0.1 }), afterBytes: 1 }, { drop: true });
    const s = await open();
    s.write(frame());
    const out = await drain(s.events);
    expect(out.events).toEqual([{ type: 'speech_started', atMs: 100 }]);
    expect(out.error).toMatchObject({ vendor: 'deepgram', retryable: true });
  });

  it('aborting the signal closes the socket and ends the events with an abort', async () => {
    const controller = new AbortController();
    const connecting = dg.connection();
    const s = await open(flux(), {}, controller.signal);
    const conn = await connecting;
    const events = drain(s.events);
    controller.abort();
    expect((await conn.closed).code).toBe(1000);
    expect((await events).error).toBeInstanceOf(AbortedError);
    expect(conn.controls).toEqual([]);
  });

  it('refuses thresholds outside what Flux accepts when the row is built', () => {
    expect(() => flux({ eot_threshold: 1.5 })).toThrow(InvalidInputError);
    expect(() => flux({ eager_eot_threshold: 0.1 })).toThrow(InvalidInputError);
    expect(() => flux({ eot_timeout_ms: 100 })).toThrow(InvalidInputError);
    expect(() => flux({ eot_threshold: '0.8' })).toThrow(InvalidInputError);
  });

  it('the registry builds the Flux adapter for a flux-general-multi row; transcribe() goes to /v2/listen', async () => {
    const { log } = captureLog();
    const reg = createProviderRegistry({ log, retry: { maxRetries: 0 } });
    dg.script(
      { send: turnInfo('Update', { transcript: 'bom dia' }), afterBytes: 1 },
      { send: turnInfo('EndOfTurn', { transcript: 'bom dia' }), onControl: 'ForceEndTurn' },
      { send: turnInfo('Update', { transcript: 'quero falar' }) },
    );
    const provider = reg.build([deepgramRow(dg.baseUrl, { config: { model: MODEL } })], 'stt');
    expect(provider.info).toMatchObject({ vendor: 'deepgram', kind: 'stt', model: MODEL });
    const connecting = dg.connection();
    const result = await provider.transcribe(
      { samples: frame(8000), sampleRateHz: 16000 },
      { language: 'pt-BR' },
      new AbortController().signal,
    );
    const conn = await connecting;
    expect(conn.path).toBe('/v2/listen');
    expect(conn.query.get('language_hint')).toBe('pt');
    // The EndOfTurn the ForceEndTurn caused, then what was still provisional when the stream closed.
    expect(result).toEqual({ text: 'bom dia quero falar', durationMs: 500 });
    expect(conn.controls.map((c) => c['type'])).toEqual(['ForceEndTurn', 'CloseStream']);
    // 500 ms of audio in the ~80 ms frames Flux asks for: six of 1280 samples and the 320 left over.
    expect(conn.log.filter((l) => l === 'audio')).toHaveLength(7);
    expect(conn.audio.length).toBe(16000);
  });
});
