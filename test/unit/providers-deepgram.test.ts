import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, InvalidInputError, ProviderError } from '../../src/core/errors.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import {
  createDeepgramStt,
  deepgramConfigFromRow,
  type ListenStream,
} from '../../src/providers/stt/deepgram.js';
import type { SttProvider, SttStream } from '../../src/providers/types.js';
import {
  FAKE_DEEPGRAM_KEY,
  deepgramRow,
  drain,
  pattern,
  results,
  speechStarted,
  startFakeDeepgram,
  utteranceEnd,
  type FakeDeepgram,
} from '../fakes/deepgram-server.js';
import { captureLog } from '../fakes/openai-rows.js';

let dg: FakeDeepgram;
beforeEach(async () => {
  dg = await startFakeDeepgram({ idleCloseMs: 400 });
});
afterEach(() => dg.close());

const WRONG_KEY = '0badc0ffee0badc0ffee0badc0ffee0badc0ffee';

function stt(config: Record<string, unknown> = {}, apiKey?: string): SttProvider {
  return createDeepgramStt(
    deepgramConfigFromRow(deepgramRow(dg.baseUrl, { config, ...(apiKey ? { apiKey } : {}) })),
  );
}

async function open(
  provider: SttProvider = stt(),
  opts: { sampleRateHz?: number; language?: string; endpointingMs?: number; prompt?: string } = {},
  signal: AbortSignal = new AbortController().signal,
): Promise<SttStream> {
  if (provider.stream === undefined) throw new Error('no stream');
  return provider.stream({ sampleRateHz: 16000, ...opts }, signal);
}

const frame = (samples = 320): Int16Array => new Int16Array(samples).fill(1000);

describe('deepgram live stt (/v1/listen)', () => {
  it('reports speech start, partials, finals and the end of the turn in order', async () => {
    dg.script(
      { send: speechStarted(0.4), afterBytes: 1 },
      { send: results({ transcript: 'olá' }) },
      { send: results({ transcript: 'Olá,', isFinal: true, start: 0.3, duration: 0.7 }) },
      { send: results({ transcript: 'tudo' }) },
      {
        send: results({ transcript: 'tudo bem?', isFinal: true, speechFinal: true, start: 1, duration: 0.8 }),
      },
      { send: results({ transcript: 'Quero marcar', isFinal: true, start: 2, duration: 1 }) },
      { send: results({ transcript: '', isFinal: true, start: 3, duration: 0.2 }) },
      { send: utteranceEnd(3.2) },
    );
    const s = await open();
    s.write(frame());
    const out = await drain(s.events, (_ev, all) => {
      if (all.length === 7) void s.close();
    });
    expect(out.error).toBeUndefined();
    expect(out.events).toEqual([
      { type: 'speech_started', atMs: 400 },
      { type: 'partial', text: 'olá' },
      { type: 'final', text: 'Olá,', endOfTurn: false, atMs: 1000 },
      { type: 'partial', text: 'Olá, tudo' },
      { type: 'final', text: 'Olá, tudo bem?', endOfTurn: true, atMs: 1800 },
      { type: 'final', text: 'Quero marcar', endOfTurn: false, atMs: 3000 },
      { type: 'final', text: 'Quero marcar', endOfTurn: true, atMs: 3200 },
    ]);
  });

  it('sends the settings in the query, the key as a Token, and the audio byte for byte', async () => {
    const connecting = dg.connection();
    const s = await open(stt({ utterance_end_ms: 1200 }), {
      sampleRateHz: 8000,
      language: 'pt_br',
      endpointingMs: 250,
      prompt: 'Vitória, FusionPBX',
    });
    const conn = await connecting;
    const { frames, bytes } = pattern(10, 160);
    // One buffer reused for every frame, as a media loop does: each write must take its own copy.
    const reused = new Int16Array(160);
    for (const f of frames) {
      reused.set(f);
      s.write(reused);
      await Promise.resolve();
    }
    await s.close();
    expect(conn.headers.authorization).toBe(`Token ${FAKE_DEEPGRAM_KEY}`);
    expect(conn.path).toBe('/v1/listen');
    expect(Object.fromEntries(conn.query)).toMatchObject({
      model: 'nova-3',
      encoding: 'linear16',
      sample_rate: '8000',
      channels: '1',
      interim_results: 'true',
      endpointing: '250',
      utterance_end_ms: '1200',
      vad_events: 'true',
      language: 'pt-BR',
    });
    expect(conn.query.getAll('keyterm')).toEqual(['Vitória', 'FusionPBX']);
    expect(conn.audio.equals(bytes)).toBe(true);
    expect(conn.log).toEqual([...frames.map(() => 'audio'), 'CloseStream']);
  });

  it('finalize() sends Finalize and the flushed result ends the turn', async () => {
    dg.script(
      { send: results({ transcript: 'pode ser' }), afterBytes: 1 },
      {
        send: results({ transcript: 'pode ser amanhã', isFinal: true, fromFinalize: true }),
        onControl: 'Finalize',
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
      { type: 'final', text: 'pode ser amanhã', endOfTurn: true, atMs: 1000 },
    ]);
    expect(conn.log).toEqual(['audio', 'Finalize', 'CloseStream']);
  });

  it('close() sends CloseStream, waits for the server to close, and ends the events normally', async () => {
    const connecting = dg.connection();
    const s = await open();
    const conn = await connecting;
    s.write(frame());
    const events = drain(s.events);
    await s.close();
    await s.close(); // idempotent
    s.write(frame()); // ignored once closed
    s.finalize();
    expect(await conn.closed).toEqual({ code: 1000, reason: '' });
    expect(await events).toEqual({ events: [], error: undefined });
    expect(conn.log).toEqual(['audio', 'CloseStream']);
  });

  it('sends KeepAlive while no audio is written, so the server does not close the idle stream', async () => {
    // The fake closes with 1011 after 400 ms without data; the final comes at 900 ms only to a kept stream.
    dg.script({
      send: results({ transcript: 'ainda aqui', isFinal: true, speechFinal: true }),
      afterMs: 900,
    });
    const connecting = dg.connection();
    const s = await open(stt({ keepalive_ms: 50 }));
    const conn = await connecting;
    const out = await drain(s.events, () => void s.close());
    expect(out.error).toBeUndefined();
    expect(out.events).toEqual([{ type: 'final', text: 'ainda aqui', endOfTurn: true, atMs: 1000 }]);
    expect(conn.audio.length).toBe(0);
    expect(conn.controls.filter((c) => c['type'] === 'KeepAlive').length).toBeGreaterThanOrEqual(2);
  });

  it('a refused key is a non-retryable 401 that does not carry the key', async () => {
    const err = await open(stt({}, WRONG_KEY)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ vendor: 'deepgram', status: 401, retryable: false });
    const message = (err as Error).message;
    expect(message).toContain('INVALID_AUTH');
    expect(message).not.toContain(WRONG_KEY);
    expect(dg.refused).toBe(1);
  });

  it('429 and 5xx on the handshake are retryable, with the retry-after the server gave', async () => {
    dg.refuseNext(429, 'TOO_MANY_REQUESTS', 'Too many requests. Please try again later', {
      'retry-after': '2',
    });
    dg.refuseNext(503, 'SERVICE_UNAVAILABLE', 'try later');
    const limited = await open().catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
    expect((limited as Error).message).toContain('TOO_MANY_REQUESTS');
    expect(await open().catch((e: unknown) => e)).toMatchObject({ status: 503, retryable: true });
  });

  it('a connection dropped mid-stream makes the events throw a retryable error after what came before', async () => {
    dg.script({ send: results({ transcript: 'olá' }), afterBytes: 1 }, { drop: true });
    const s = await open();
    s.write(frame());
    const out = await drain(s.events);
    expect(out.events).toEqual([{ type: 'partial', text: 'olá' }]);
    expect(out.error).toBeInstanceOf(ProviderError);
    expect(out.error).toMatchObject({ vendor: 'deepgram', retryable: true });
    await s.close();
  });

  it('a 1008 close (audio it cannot read) is not retryable', async () => {
    dg.script({ close: 1008, reason: 'DATA-0000', afterBytes: 1 });
    const s = await open();
    s.write(frame());
    const out = await drain(s.events);
    expect(out.error).toMatchObject({ retryable: false });
    expect((out.error as Error).message).toContain('1008');
  });

  it('aborting the signal closes the socket and ends the events with an abort', async () => {
    const controller = new AbortController();
    const connecting = dg.connection();
    const s = await open(stt(), {}, controller.signal);
    const conn = await connecting;
    const events = drain(s.events);
    controller.abort();
    expect((await conn.closed).code).toBe(1000);
    expect((await events).error).toBeInstanceOf(AbortedError);
    await s.close();
    expect(conn.controls).toEqual([]);
  });

  it('an aborted signal refuses to open at all', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(open(stt(), {}, controller.signal)).rejects.toBeInstanceOf(AbortedError);
    expect(dg.connections.length).toBe(0);
  });

  it('holds at most 2 s of unsent audio, dropping the oldest frames and counting them', async () => {
    const connecting = dg.connection();
    const s = await open(stt(), { sampleRateHz: 8000 });
    const conn = await connecting;
    // 3 s written in one go, before the socket could take any of it: 1 s must go.
    const { frames, bytes } = pattern(150, 160);
    for (const f of frames) s.write(f);
    await s.close();
    expect((s as ListenStream).droppedFrames).toBe(50);
    expect(conn.audio.length).toBe(32000);
    expect(conn.audio.equals(bytes.subarray(50 * 320))).toBe(true);
  });

  it('transcribe() streams the clip, finalizes, and joins the turns', async () => {
    dg.script(
      { send: results({ transcript: 'bom' }), afterBytes: 1 },
      { send: results({ transcript: 'Bom dia.', isFinal: true, speechFinal: true }) },
      {
        send: results({ transcript: 'Quero falar com a Ana', isFinal: true, fromFinalize: true }),
        onControl: 'Finalize',
      },
    );
    const connecting = dg.connection();
    const { bytes } = pattern(250, 320); // 5 s at 16 kHz: more than the live budget
    const samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    const result = await stt().transcribe(
      { samples, sampleRateHz: 16000 },
      { language: 'pt-BR' },
      new AbortController().signal,
    );
    const conn = await connecting;
    expect(result).toEqual({ text: 'Bom dia. Quero falar com a Ana', durationMs: 5000 });
    expect(conn.audio.equals(bytes)).toBe(true);
    expect(conn.controls.map((c) => c['type'])).toEqual(['Finalize', 'CloseStream']);
  });

  it('the registry builds the live adapter for a deepgram nova-3 row, and refuses deepgram for tts', async () => {
    const { log, lines } = captureLog();
    const reg = createProviderRegistry({ log, retry: { maxRetries: 0 } });
    dg.script({ send: results({ transcript: 'alô', isFinal: true, speechFinal: true }), afterBytes: 1 });
    const provider = reg.build([deepgramRow(dg.baseUrl, { config: { model: 'nova-3' } })], 'stt');
    expect(provider.info).toMatchObject({ vendor: 'deepgram', kind: 'stt', model: 'nova-3' });
    const connecting = dg.connection();
    const result = await provider.transcribe(
      { samples: frame(1600), sampleRateHz: 16000 },
      {},
      new AbortController().signal,
    );
    expect(result.text).toBe('alô');
    expect((await connecting).path).toBe('/v1/listen');
    expect(() =>
      reg.build([deepgramRow(dg.baseUrl, { kind: 'tts', provider_uuid: 'dg-tts' })], 'tts'),
    ).toThrow(InvalidInputError);
    expect(lines.find((l) => l['providerUuid'] === 'dg-tts')?.['reason']).toContain('stt only');
  });
});
