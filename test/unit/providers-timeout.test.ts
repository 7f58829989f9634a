import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, ProviderError, TimeoutError } from '../../src/core/errors.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import type { LlmEvent } from '../../src/providers/types.js';
import { withRetry } from '../../src/providers/wrap/retry.js';
import { withTimeout } from '../../src/providers/wrap/timeout.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { startFakeOpenAi, tone, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterEach(() => fake.close());

const AUDIO = { samples: tone(100, 8000), sampleRateHz: 8000 };
const REQ = { system: '', messages: [{ role: 'user' as const, content: 'oi' }] };

async function drain(events: AsyncIterable<LlmEvent>, seen: LlmEvent[] = []): Promise<unknown> {
  try {
    for await (const e of events) seen.push(e);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('withTimeout', () => {
  it('a hung call becomes a retryable ProviderError caused by a TimeoutError, and the request is cancelled', async () => {
    fake.script('transcriptions', { type: 'hang' });
    const stt = withTimeout(createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')), { timeoutMs: 100 });
    const err = await stt.transcribe(AUDIO, {}, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ vendor: 'openai', retryable: true, status: undefined });
    expect((err as Error).cause).toBeInstanceOf(TimeoutError);
    await fake.requests[0]?.closed;
    expect(fake.requests[0]?.aborted).toBe(true);
  });

  it('bounds the wait for the first chunk of a stream', async () => {
    fake.script('chat', { type: 'chat', text: 'oi', latency: { firstByteMs: 60_000 } });
    const llm = withTimeout(createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm')), { firstByteTimeoutMs: 100 });
    const err = await drain(llm.stream(REQ, new AbortController().signal));
    expect(err).toMatchObject({ name: 'ProviderError', retryable: true });
    expect((err as Error).message).toMatch(/first chunk timed out after 100 ms/);
    await fake.requests[0]?.closed;
    expect(fake.requests[0]?.aborted).toBe(true);
  });

  it('bounds the wait between chunks once the stream has started', async () => {
    fake.script('chat', { type: 'chat', text: 'um dois', fault: { afterTokens: 1, type: 'hang' } });
    const llm = withTimeout(createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm')), {
      firstByteTimeoutMs: 5000,
      idleTimeoutMs: 100,
    });
    const seen: LlmEvent[] = [];
    const err = await drain(llm.stream(REQ, new AbortController().signal), seen);
    expect(seen).toEqual([{ type: 'text', delta: 'um ' }]);
    expect((err as Error).message).toMatch(/next chunk timed out/);
  });

  it('passes results through untouched when in time', async () => {
    fake.script('chat', { type: 'chat', text: 'Tudo bem?' });
    const llm = withTimeout(createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm')), {
      timeoutMs: 10_000,
      firstByteTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
    });
    const seen: LlmEvent[] = [];
    expect(await drain(llm.stream(REQ, new AbortController().signal), seen)).toBeUndefined();
    expect(seen.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it("the caller's abort stays an AbortedError", async () => {
    fake.script('chat', { type: 'hang' });
    const llm = withTimeout(createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm')), { firstByteTimeoutMs: 60_000 });
    const ac = new AbortController();
    const pending = drain(llm.stream(REQ, ac.signal));
    await fake.nextRequest('chat');
    ac.abort();
    expect(await pending).toBeInstanceOf(AbortedError);
  });

  it('a timed-out attempt is retried by the retry wrapper', async () => {
    fake.script('transcriptions', { type: 'hang' }, { type: 'transcription', text: 'segunda' });
    const stt = withRetry(withTimeout(createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')), { timeoutMs: 100 }), {
      sleep: async () => undefined,
    });
    expect(await stt.transcribe(AUDIO, {}, new AbortController().signal)).toMatchObject({ text: 'segunda' });
    expect(fake.requests).toHaveLength(2);
  });
});
