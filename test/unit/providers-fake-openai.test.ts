import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProviderRegistry } from '../../src/providers/registry.js';
import type { LlmEvent } from '../../src/providers/types.js';
import { FAKE_API_KEY, captureLog, fakeRow } from '../fakes/openai-rows.js';
import { startFakeOpenAi, tone, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY, embeddingDimensions: 4 });
});
afterEach(() => fake.close());

const post = (path: string, body: unknown, key = FAKE_API_KEY): Promise<Response> =>
  fetch(`${fake.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });

describe('fake OpenAI server', () => {
  it('scripts a whole turn: STT text, LLM text with a tool call, TTS audio of a given length', async () => {
    fake.script('transcriptions', { type: 'transcription', text: 'quero falar com vendas' });
    fake.script('chat', {
      type: 'chat',
      text: 'Vou transferir para vendas.',
      toolCalls: [{ id: 'call_t', name: 'transfer', arguments: { extension: '200' } }],
    });
    fake.script('speech', { type: 'speech', durationMs: 500 });
    const { log } = captureLog();
    const reg = createProviderRegistry({ log });
    const signal = new AbortController().signal;
    const stt = reg.build([fakeRow(fake.baseUrl, 'stt')], 'stt');
    const llm = reg.build([fakeRow(fake.baseUrl, 'llm')], 'llm');
    const tts = reg.build([fakeRow(fake.baseUrl, 'tts')], 'tts');

    const heard = await stt.transcribe(
      { samples: tone(800, 8000), sampleRateHz: 8000 },
      { language: 'pt-BR' },
      signal,
    );
    const events: LlmEvent[] = [];
    for await (const e of llm.stream(
      { system: 'sec', messages: [{ role: 'user', content: heard.text }] },
      signal,
    )) {
      events.push(e);
    }
    let samples = 0;
    for await (const c of tts.synthesize('Vou transferir para vendas.', {}, signal))
      samples += c.samples.length;

    expect(heard.text).toBe('quero falar com vendas');
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', id: 'call_t', name: 'transfer', arguments: '{"extension":"200"}' },
    ]);
    expect(samples).toBe(12_000);
    expect(fake.requests.map((r) => r.route)).toEqual(['transcriptions', 'chat', 'speech']);
    expect(fake.requests.every((r) => !r.aborted)).toBe(true);
  });

  it('handlers see the captured request; scripts take precedence', async () => {
    fake.on('chat', (req) => {
      const body = req.body as { messages: { content: string }[] };
      return { type: 'chat', text: `eco: ${body.messages.at(-1)?.content ?? ''}` };
    });
    fake.script('chat', { type: 'chat', text: 'roteiro' });
    const read = async (r: Response): Promise<string> =>
      (await r.text())
        .split('\n\n')
        .filter((l) => l.startsWith('data: {'))
        .map((l) => {
          const chunk = JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] };
          return chunk.choices[0]?.delta.content ?? '';
        })
        .join('');
    const req = { model: 'm', stream: true, messages: [{ role: 'user', content: 'oi' }] };
    expect(await read(await post('/chat/completions', req))).toBe('roteiro');
    expect(await read(await post('/chat/completions', req))).toBe('eco: oi');
  });

  it('answers unknown paths with 404 and wrong keys with 401, in the OpenAI error shape', async () => {
    const missing = await post('/nope', {});
    expect(missing.status).toBe(404);
    const unauthorized = await post('/embeddings', { input: 'a' }, 'sk-wrong');
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toEqual({
      error: {
        message: 'Incorrect API key provided: sk-wrong.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    });
  });

  it('serves embeddings as float or base64', async () => {
    const asFloat = (await (await post('/embeddings', { model: 'e', input: ['a'] })).json()) as {
      data: { embedding: number[] }[];
    };
    const asBase64 = (await (
      await post('/embeddings', { model: 'e', input: ['a'], encoding_format: 'base64' })
    ).json()) as {
      data: { embedding: string }[];
    };
    const bytes = Buffer.from(asBase64.data[0]?.embedding ?? '', 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(asFloat.data[0]?.embedding).toHaveLength(4);
    expect(decoded.map((x) => x.toFixed(5))).toEqual(asFloat.data[0]?.embedding.map((x) => x.toFixed(5)));
  });

  it('nextRequest resolves on arrival, and aborted turns true when the client leaves', async () => {
    fake.script('speech', { type: 'hang' });
    const ac = new AbortController();
    const arrived = fake.nextRequest('speech');
    const pending = fetch(`${fake.baseUrl}/audio/speech`, {
      method: 'POST',
      headers: { authorization: `Bearer ${FAKE_API_KEY}` },
      body: '{}',
      signal: ac.signal,
    }).catch((e: unknown) => e);
    const req = await arrived;
    expect(req.aborted).toBe(false);
    ac.abort();
    await pending;
    await req.closed;
    expect(req.aborted).toBe(true);
  });
});
