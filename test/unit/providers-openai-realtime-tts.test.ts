import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pcm16FromBytes } from '../../src/audio/frames.js';
import { mulawDecode } from '../../src/audio/g711.js';
import { AbortedError, InvalidInputError, ProviderError } from '../../src/core/errors.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import { createOpenAiRealtimeTts } from '../../src/providers/tts/openai-realtime.js';
import type { PcmAudio, TtsProvider } from '../../src/providers/types.js';
import { FAKE_API_KEY, captureLog, fakeConfig, fakeRow } from '../fakes/openai-rows.js';
import { startFakeRealtime, realtimeAudio, type FakeRealtime } from '../fakes/openai-realtime-server.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';

const MODEL = 'gpt-realtime-2.1-mini';
let rt: FakeRealtime;
beforeEach(async () => {
  rt = await startFakeRealtime({ apiKey: FAKE_API_KEY });
});
afterEach(() => rt.close());

const tts = (config: Record<string, unknown> = {}, secrets?: Record<string, string>): TtsProvider =>
  createOpenAiRealtimeTts(
    fakeConfig(rt.baseUrl, 'tts', {
      config: { model: MODEL, ...config },
      ...(secrets === undefined ? {} : { secrets }),
    }),
  );

async function collect(it: AsyncIterable<PcmAudio>): Promise<{ samples: Int16Array; rates: Set<number> }> {
  const parts: Int16Array[] = [];
  const rates = new Set<number>();
  for await (const c of it) {
    parts.push(c.samples);
    rates.add(c.sampleRateHz);
  }
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    samples.set(p, at);
    at += p.length;
  }
  return { samples, rates };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('OpenAI speech through the Realtime API', () => {
  it('speaks the text: GA session.update, the text as a user item, 24 kHz PCM byte for byte', async () => {
    rt.script({ type: 'audio', durationMs: 300 });
    const out = await collect(
      tts({ voice: 'marin' }).synthesize(
        'Olá, aqui é a Ana.',
        { language: 'pt-BR' },
        new AbortController().signal,
      ),
    );
    const conn = rt.connections[0];
    expect(conn?.url).toBe(`/v1/realtime?model=${MODEL}`);
    expect(conn?.headers.authorization).toBe(`Bearer ${FAKE_API_KEY}`);
    expect(conn?.events.map((e) => e['type'])).toEqual([
      'session.update',
      'conversation.item.create',
      'response.create',
    ]);
    expect(conn?.events[0]).toMatchObject({
      session: {
        type: 'realtime',
        model: MODEL,
        output_modalities: ['audio'],
        audio: { output: { format: { type: 'audio/pcm', rate: 24_000 }, voice: 'marin' } },
      },
    });
    const session = conn?.events[0]?.['session'] as { instructions: string };
    expect(session.instructions).toMatch(/verbatim/);
    expect(session.instructions).toMatch(/pt-BR/);
    expect(conn?.events[1]).toEqual({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Olá, aqui é a Ana.' }] },
    });
    expect(out.rates).toEqual(new Set([24_000]));
    expect(out.samples).toEqual(pcm16FromBytes(realtimeAudio(300, 'pcm')).samples);
    expect(conn?.sentAudio).toEqual(realtimeAudio(300, 'pcm'));
    // The client closes cleanly once the response is done.
    await conn?.closed;
    expect(conn?.closeCode).toBe(1000);
  });

  it('asks for audio/pcmu and yields it decoded at 8 kHz when output_format is pcmu', async () => {
    rt.script({ type: 'audio', durationMs: 250 });
    const out = await collect(
      tts({ output_format: 'pcmu' }).synthesize('Um momento.', {}, new AbortController().signal),
    );
    expect(rt.connections[0]?.events[0]).toMatchObject({
      session: { audio: { output: { format: { type: 'audio/pcmu' } } } },
    });
    expect(out.rates).toEqual(new Set([8000]));
    expect(out.samples).toEqual(mulawDecode(realtimeAudio(250, 'pcmu')));
  });

  it('an error event is a ProviderError naming the vendor and its message; invalid requests are not retryable', async () => {
    rt.script({
      type: 'error',
      code: 'invalid_value',
      message: "Invalid value: 'nova'. Supported values are: ...",
    });
    const err = await failure(collect(tts().synthesize('Oi', {}, new AbortController().signal)));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ vendor: 'openai', retryable: false });
    expect((err as Error).message).toBe(
      "openai realtime error (invalid_value): Invalid value: 'nova'. Supported values are: ...",
    );
  });

  it('a failed response with a server error is retryable', async () => {
    rt.script({ type: 'failed', errorType: 'server_error', message: 'The server had an error' });
    const err = await failure(collect(tts().synthesize('Oi', {}, new AbortController().signal)));
    expect(err).toMatchObject({ vendor: 'openai', retryable: true });
    expect((err as Error).message).toMatch(
      /^openai realtime error \(server_error\): The server had an error$/,
    );
  });

  it('an abrupt close mid-speech is a retryable error with the close code, after the audio already sent', async () => {
    rt.script({ type: 'close', afterChunks: 2 });
    const chunks: PcmAudio[] = [];
    const err = await failure(
      (async () => {
        for await (const c of tts().synthesize('Oi', {}, new AbortController().signal)) chunks.push(c);
      })(),
    );
    expect(err).toMatchObject({ vendor: 'openai', retryable: true });
    expect((err as Error).message).toMatch(/closed before the speech was complete \(code 1006\)/);
    expect(chunks.reduce((n, c) => n + c.samples.length, 0)).toBe(Math.floor((2 * 4801) / 2));
  });

  it('a wrong key: 401 naming the vendor, the key scrubbed, and the registry does not retry it', async () => {
    const { log, lines } = captureLog();
    const registry = createProviderRegistry({ log, retry: { sleep: async () => undefined } });
    const row = fakeRow(rt.baseUrl, 'tts', {
      config: { model: MODEL },
      secrets: { api_key: 'sk-wrong-0123456789abcdef' },
    });
    const err = await failure(
      collect(registry.build([row], 'tts').synthesize('Oi', {}, new AbortController().signal)),
    );
    expect(err).toMatchObject({ vendor: 'openai', status: 401, retryable: false });
    expect((err as Error).message).toMatch(/^openai realtime responded 401: Incorrect API key provided/);
    expect((err as Error).message).not.toContain('sk-wrong');
    expect(rt.refused).toBe(1);
    expect(JSON.stringify(lines)).not.toContain('sk-wrong-0123456789abcdef');
  });

  it('an abort while the vendor is silent rejects with AbortedError and drops the connection', async () => {
    rt.script({ type: 'hang' });
    const ac = new AbortController();
    const pending = failure(collect(tts().synthesize('Oi', {}, ac.signal)));
    const { conn } = await rt.nextEvent('response.create');
    ac.abort();
    expect(await pending).toBeInstanceOf(AbortedError);
    await conn.closed;
    expect(conn.closeCode).toBe(1006);
  });

  it('a silent vendor hits the first-byte timeout of the registry: a retryable timeout, socket dropped', async () => {
    rt.script({ type: 'hang' });
    const { log } = captureLog();
    const registry = createProviderRegistry({ log, retry: { maxRetries: 0 } });
    const row = fakeRow(rt.baseUrl, 'tts', { config: { model: MODEL, first_byte_timeout_ms: 150 } });
    const err = await failure(
      collect(registry.build([row], 'tts').synthesize('Oi', {}, new AbortController().signal)),
    );
    expect(err).toMatchObject({ vendor: 'openai', retryable: true });
    expect((err as Error).message).toMatch(/openai tts first chunk timed out after 150 ms/);
    await rt.connections[0]?.closed;
    expect(rt.connections[0]?.closeCode).toBe(1006);
  });

  it('refuses, when the row is built, a voice only tts-1 has and an output format Realtime lacks', () => {
    expect(() => tts({ voice: 'nova' })).toThrow(InvalidInputError);
    expect(() => tts({ output_format: 'mp3' })).toThrow(/output_format must be 'pcm' or 'pcmu'/);
  });
});

describe('the registry picks the route by model', () => {
  let http: FakeOpenAi;
  beforeEach(async () => {
    http = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  });
  afterEach(() => http.close());

  it('tts-1 still posts to /audio/speech; a realtime model (and the default) goes over the WebSocket', async () => {
    const { log } = captureLog();
    const registry = createProviderRegistry({ log });
    const signal = new AbortController().signal;
    await collect(
      registry
        .build([fakeRow(http.baseUrl, 'tts', { config: { model: 'tts-1' } })], 'tts')
        .synthesize('Oi', {}, signal),
    );
    expect(http.requests.map((r) => r.path)).toEqual(['/v1/audio/speech']);

    const realtime = fakeRow(rt.baseUrl, 'tts', { config: { model: MODEL } });
    const byDefault = fakeRow(rt.baseUrl, 'tts', { config: { model: undefined } });
    for (const row of [realtime, byDefault]) {
      const out = await collect(registry.build([row], 'tts').synthesize('Oi', {}, signal));
      expect(out.samples.length).toBeGreaterThan(0);
    }
    expect(rt.connections.map((c) => c.url)).toEqual([
      `/v1/realtime?model=${MODEL}`,
      '/v1/realtime?model=gpt-realtime-2.1-mini',
    ]);
    expect(http.requests).toHaveLength(1);
  });
});
