import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, ProviderError } from '../../src/core/errors.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import type { LlmEvent, LlmProvider, SttProvider } from '../../src/providers/types.js';
import { withRetry, type RetryOptions } from '../../src/providers/wrap/retry.js';
import { FAKE_API_KEY, captureLog, fakeConfig } from '../fakes/openai-rows.js';
import { rateLimited, serverError, startFakeOpenAi, tone, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterEach(() => fake.close());

const AUDIO = { samples: tone(100, 8000), sampleRateHz: 8000 };

function setup(opts: RetryOptions = {}) {
  const sleeps: number[] = [];
  const sleep = vi.fn(async (ms: number) => void sleeps.push(ms));
  const { log, lines } = captureLog();
  const base = { sleep, random: () => 0, log, ...opts };
  const stt: SttProvider = withRetry(createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')), base);
  const llm: LlmProvider = withRetry(createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm')), base);
  return { stt, llm, sleeps, lines };
}

async function text(events: AsyncIterable<LlmEvent>): Promise<string> {
  let out = '';
  for await (const e of events) if (e.type === 'text') out += e.delta;
  return out;
}

const REQ = { system: '', messages: [{ role: 'user' as const, content: 'oi' }] };
const signal = (): AbortSignal => new AbortController().signal;

describe('withRetry', () => {
  it('honours retry-after on a 429, then succeeds', async () => {
    const { llm, sleeps, lines } = setup();
    fake.script('chat', rateLimited(3), { type: 'chat', text: 'Oi!' });
    expect(await text(llm.stream(REQ, signal()))).toBe('Oi!');
    expect(sleeps).toEqual([3000]);
    expect(fake.requests).toHaveLength(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'provider attempt failed',
      vendor: 'openai',
      status: 429,
      attempt: 1,
      retried: true,
      delayMs: 3000,
    });
  });

  it('backs off exponentially with jitter after 5xx, up to maxRetries', async () => {
    const { stt, sleeps, lines } = setup({ random: () => 1 });
    fake.script('transcriptions', serverError(500), serverError(503), { type: 'transcription', text: 'oi' });
    expect(await stt.transcribe(AUDIO, {}, signal())).toMatchObject({ text: 'oi' });
    expect(sleeps).toEqual([375, 750]); // 500 · 2^n less 25 % jitter
    fake.script('transcriptions', serverError(), serverError(), serverError());
    const err = await stt.transcribe(AUDIO, {}, signal()).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProviderError', status: 500 });
    expect(fake.requests).toHaveLength(6);
    expect(lines.map((l) => [l['attempt'], l['retried']])).toEqual([
      [1, true],
      [2, true],
      [1, true],
      [2, true],
      [3, false],
    ]);
  });

  it('caps the backoff at capMs', async () => {
    const { stt, sleeps } = setup({ maxRetries: 5, baseMs: 100, capMs: 300, random: () => 0 });
    fake.script('transcriptions', ...Array.from({ length: 5 }, () => serverError()));
    await stt.transcribe(AUDIO, {}, signal());
    expect(sleeps).toEqual([100, 200, 300, 300, 300]);
  });

  it('does not retry a 400, a spent quota, or a retry-after beyond the cap', async () => {
    const { stt, sleeps } = setup({ maxRetryAfterMs: 5000 });
    fake.script(
      'transcriptions',
      { type: 'error', status: 400, message: 'bad' },
      rateLimited(1, 'insufficient_quota'),
      rateLimited(30),
    );
    for (let i = 0; i < 3; i++)
      await expect(stt.transcribe(AUDIO, {}, signal())).rejects.toBeInstanceOf(ProviderError);
    expect(fake.requests).toHaveLength(3);
    expect(sleeps).toEqual([]);
  });

  it('never retries an abort, nor logs it', async () => {
    const { stt, lines } = setup();
    fake.script('transcriptions', { type: 'hang' });
    const ac = new AbortController();
    const pending = stt.transcribe(AUDIO, {}, ac.signal);
    await fake.nextRequest('transcriptions');
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(fake.requests).toHaveLength(1);
    expect(lines).toEqual([]);
  });

  it('an abort during the backoff ends the wait without another attempt', async () => {
    const ac = new AbortController();
    const { stt } = setup({
      sleep: async () => {
        ac.abort();
        throw new AbortedError();
      },
    });
    fake.script('transcriptions', serverError(), { type: 'transcription', text: 'never' });
    await expect(stt.transcribe(AUDIO, {}, ac.signal)).rejects.toBeInstanceOf(AbortedError);
    expect(fake.requests).toHaveLength(1);
  });

  it('retries a stream that failed before yielding anything', async () => {
    const { llm, sleeps } = setup();
    fake.script(
      'chat',
      { type: 'chat', text: 'a b', fault: { afterTokens: 0, type: 'reset' } },
      { type: 'chat', text: 'ok' },
    );
    expect(await text(llm.stream(REQ, signal()))).toBe('ok');
    expect(sleeps).toHaveLength(1);
  });

  it('does not retry a stream that already yielded', async () => {
    const { llm, sleeps, lines } = setup();
    fake.script('chat', { type: 'chat', text: 'a b c', fault: { afterTokens: 1, type: 'error-data' } });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of llm.stream(REQ, signal())) if (e.type === 'text') seen.push(e.delta);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['a ']);
    expect(err).toMatchObject({ name: 'ProviderError', retryable: true });
    expect(fake.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(lines[0]).toMatchObject({ retried: false, attempt: 1 });
  });
});
