import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, ProviderError } from '../../src/core/errors.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import type { LlmEvent, LlmProvider } from '../../src/providers/types.js';
import { servedBy, withFallback } from '../../src/providers/wrap/fallback.js';
import { FAKE_API_KEY, captureLog, fakeConfig } from '../fakes/openai-rows.js';
import { serverError, startFakeOpenAi, tone, type FakeOpenAi } from '../fakes/openai-server.js';

let a: FakeOpenAi;
let b: FakeOpenAi;
beforeEach(async () => {
  [a, b] = await Promise.all([
    startFakeOpenAi({ apiKey: FAKE_API_KEY }),
    startFakeOpenAi({ apiKey: FAKE_API_KEY }),
  ]);
});
afterEach(() => Promise.all([a.close(), b.close()]));

const AUDIO = { samples: tone(100, 8000), sampleRateHz: 8000 };
const REQ = { system: '', messages: [{ role: 'user' as const, content: 'oi' }] };

function llms(): LlmProvider[] {
  return [
    createOpenAiLlm(fakeConfig(a.baseUrl, 'llm', { provider_uuid: 'uuid-a' })),
    createOpenAiLlm(
      fakeConfig(b.baseUrl, 'llm', { provider_name: 'groq', config: { model: 'llama-3.3-70b' } }),
    ),
  ];
}

async function drain(events: AsyncIterable<LlmEvent>, seen: LlmEvent[] = []): Promise<unknown> {
  try {
    for await (const e of events) seen.push(e);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('withFallback', () => {
  it('servedBy names the provider that answered last: the first until it fails, then the fallback', async () => {
    const llm = withFallback(llms());
    expect(servedBy(llm).providerUuid).toBe('uuid-a'); // nothing answered yet: the face
    a.script('chat', { type: 'chat', text: 'do primeiro' });
    await drain(llm.stream(REQ, new AbortController().signal));
    expect(servedBy(llm).vendor).toBe('openai');
    a.script('chat', serverError(503));
    b.script('chat', { type: 'chat', text: 'do segundo' });
    const seen: LlmEvent[] = [];
    expect(await drain(llm.stream(REQ, new AbortController().signal), seen)).toBeUndefined();
    expect(seen.some((e) => e.type === 'text')).toBe(true);
    expect(servedBy(llm)).toMatchObject({ vendor: 'groq', model: 'llama-3.3-70b' });
    a.script('chat', { type: 'chat', text: 'de volta' });
    await drain(llm.stream(REQ, new AbortController().signal));
    expect(servedBy(llm).vendor).toBe('openai');
    // A lone provider is not a chain: servedBy is its own info.
    const single = llms()[1] as LlmProvider;
    expect(servedBy(single)).toBe(single.info);
  });

  it('moves to the next provider when the first fails, and logs it', async () => {
    const { log, lines } = captureLog();
    a.script('transcriptions', serverError(500));
    b.script('transcriptions', { type: 'transcription', text: 'do segundo' });
    const stt = withFallback(
      [createOpenAiStt(fakeConfig(a.baseUrl, 'stt')), createOpenAiStt(fakeConfig(b.baseUrl, 'stt'))],
      { log },
    );
    expect(await stt.transcribe(AUDIO, {}, new AbortController().signal)).toMatchObject({
      text: 'do segundo',
    });
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'provider failed, falling back',
        vendor: 'openai',
        status: 500,
        next: 'openai',
      }),
    ]);
  });

  it('streams from the next provider when the first fails before any output', async () => {
    a.script('chat', { type: 'error', status: 401, message: 'bad key' });
    b.script('chat', { type: 'chat', text: 'Olá do Groq' });
    const llm = withFallback(llms());
    expect(llm.info).toMatchObject({ vendor: 'openai', providerUuid: 'uuid-a' });
    const seen: LlmEvent[] = [];
    expect(await drain(llm.stream(REQ, new AbortController().signal), seen)).toBeUndefined();
    expect(seen.filter((e) => e.type === 'text').map((e) => (e.type === 'text' ? e.delta : ''))).toEqual([
      'Olá ',
      'do ',
      'Groq',
    ]);
    expect(b.requests[0]?.body).toMatchObject({ model: 'llama-3.3-70b' });
  });

  it('does not fall back once output was given', async () => {
    a.script('chat', { type: 'chat', text: 'um dois', fault: { afterTokens: 1, type: 'error-data' } });
    const seen: LlmEvent[] = [];
    const err = await drain(withFallback(llms()).stream(REQ, new AbortController().signal), seen);
    expect(err).toBeInstanceOf(ProviderError);
    expect(seen).toEqual([{ type: 'text', delta: 'um ' }]);
    expect(b.requests).toHaveLength(0);
  });

  it('an abort stops everything: no fallback', async () => {
    a.script('chat', { type: 'hang' });
    const ac = new AbortController();
    const pending = drain(withFallback(llms()).stream(REQ, ac.signal));
    await a.nextRequest('chat');
    ac.abort();
    expect(await pending).toBeInstanceOf(AbortedError);
    expect(b.requests).toHaveLength(0);
  });

  it('throws the last error when every provider fails', async () => {
    a.script('chat', serverError(500));
    b.script('chat', serverError(503));
    const err = await drain(withFallback(llms()).stream(REQ, new AbortController().signal));
    expect(err).toMatchObject({ name: 'ProviderError', status: 503 });
  });

  it('a single provider is returned as is', () => {
    const [one] = llms();
    expect(withFallback([one as LlmProvider])).toBe(one);
  });
});
