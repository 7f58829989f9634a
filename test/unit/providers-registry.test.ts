import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import type { LlmEvent } from '../../src/providers/types.js';
import type { ProviderSample } from '../../src/providers/wrap/metrics.js';
import { FAKE_API_KEY, captureLog, fakeRow } from '../fakes/openai-rows.js';
import { rateLimited, startFakeOpenAi, tone, type FakeOpenAi } from '../fakes/openai-server.js';

let fakes: FakeOpenAi[];
beforeEach(async () => {
  fakes = await Promise.all([1, 2, 3].map(() => startFakeOpenAi({ apiKey: FAKE_API_KEY })));
});
afterEach(() => Promise.all(fakes.map((f) => f.close())));

const REQ = { system: '', messages: [{ role: 'user' as const, content: 'oi' }] };
const fake = (i: number): FakeOpenAi => fakes[i] as FakeOpenAi;

async function drain(events: AsyncIterable<LlmEvent>): Promise<unknown> {
  try {
    for await (const _ of events);
    return undefined;
  } catch (err) {
    return err;
  }
}

function registry(extra: { onSample?: (s: ProviderSample) => void } = {}) {
  const { log, lines } = captureLog();
  const reg = createProviderRegistry({ log, retry: { maxRetries: 0 }, ...extra });
  return { reg, lines };
}

describe('provider registry', () => {
  it('orders rows by is_default, then priority, and falls back in that order', async () => {
    const order: string[] = [];
    fakes.forEach((f, i) =>
      f.on('chat', () => {
        order.push(`fake${i}`);
        return { type: 'error', status: 400, message: 'no' };
      }),
    );
    const rows = [
      fakeRow(fake(0).baseUrl, 'llm', { priority: 10, provider_uuid: 'low-priority' }),
      fakeRow(fake(1).baseUrl, 'llm', { priority: 200, is_default: true, provider_uuid: 'default' }),
      fakeRow(fake(2).baseUrl, 'llm', { priority: 5, provider_uuid: 'lowest-number' }),
    ];
    const { reg } = registry();
    const llm = reg.build(rows, 'llm');
    expect(llm.info.providerUuid).toBe('default');
    expect(await drain(llm.stream(REQ, new AbortController().signal))).toMatchObject({ status: 400 });
    expect(order).toEqual(['fake1', 'fake2', 'fake0']);
  });

  it('skips broken rows, naming them in the log, and builds the rest', async () => {
    const { reg, lines } = registry();
    const rows = [
      fakeRow('not a url', 'stt', { is_default: true, provider_uuid: 'bad-url' }),
      fakeRow(fake(0).baseUrl, 'stt', { provider_uuid: 'no-key', secrets: null }),
      fakeRow(fake(0).baseUrl, 'stt', { provider_uuid: 'unknown', provider_name: 'whisperx' }),
      // A name of an Object.prototype member is unknown too (a row edited by hand in the database).
      fakeRow(fake(0).baseUrl, 'stt', { provider_uuid: 'proto', provider_name: 'constructor' }),
      fakeRow(fake(0).baseUrl, 'stt', { provider_uuid: 'bad-timeout', config: { timeout_ms: 'soon' } }),
      fakeRow(fake(1).baseUrl, 'stt', { provider_uuid: 'good', priority: 500 }),
    ];
    fake(1).script('transcriptions', { type: 'transcription', text: 'funciona' });
    const stt = reg.build(rows, 'stt');
    expect(stt.info.providerUuid).toBe('good');
    const result = await stt.transcribe(
      { samples: tone(100, 8000), sampleRateHz: 8000 },
      {},
      new AbortController().signal,
    );
    expect(result.text).toBe('funciona');
    const skipped = lines.filter((l) => l['msg'] === 'provider row skipped');
    expect(skipped.map((l) => l['providerUuid'])).toEqual([
      'bad-url',
      'no-key',
      'unknown',
      'proto',
      'bad-timeout',
    ]);
    expect(skipped.map((l) => l['reason'])).toEqual([
      'provider bad-url (openai stt): base_url is not a URL',
      'provider no-key (openai stt): secret api_key is missing',
      "provider unknown: unknown provider_name 'whisperx'",
      "provider proto: unknown provider_name 'constructor'",
      'provider bad-timeout (openai stt): config.timeout_ms must be a positive number',
    ]);
  });

  it('throws InvalidInputError naming every row when none is usable', () => {
    const { reg } = registry();
    const rows = [
      fakeRow('ftp://x', 'tts', { provider_uuid: 'row-1' }),
      fakeRow(fake(0).baseUrl, 'tts', { provider_uuid: 'row-2', provider_name: 'groq', secrets: {} }),
    ];
    expect(() => reg.build(rows, 'tts')).toThrow(InvalidInputError);
    expect(() => reg.build(rows, 'tts')).toThrow(
      /no usable tts provider: provider row-1 .*; provider row-2 /,
    );
    expect(() => reg.build([], 'tts')).toThrow('no usable tts provider is configured');
  });

  it('ignores rows of other kinds and disabled rows; local servers need no key', () => {
    const { reg } = registry();
    const rows = [
      fakeRow(fake(0).baseUrl, 'tts', { provider_uuid: 'a-tts', is_default: true }),
      fakeRow(fake(0).baseUrl, 'llm', { provider_uuid: 'disabled', is_default: true, is_enabled: false }),
      fakeRow(fake(0).baseUrl, 'llm', {
        provider_uuid: 'ollama',
        provider_name: 'ollama',
        secrets: null,
        config: { model: 'llama3.2' },
      }),
    ];
    expect(reg.build(rows, 'llm').info).toEqual({
      vendor: 'ollama',
      kind: 'llm',
      model: 'llama3.2',
      providerUuid: 'ollama',
    });
  });

  it('falls back between embeddings only for the same model and dimensions', () => {
    const { reg, lines } = registry();
    const rows = [
      fakeRow(fake(0).baseUrl, 'embeddings', { provider_uuid: 'e1', is_default: true }),
      fakeRow(fake(1).baseUrl, 'embeddings', {
        provider_uuid: 'e2',
        provider_name: 'ollama',
        config: { model: 'nomic-embed-text' },
      }),
    ];
    const emb = reg.build(rows, 'embeddings');
    expect(emb.dimensions).toBe(1536);
    expect(lines.find((l) => l['msg'] === 'provider row skipped')).toMatchObject({ providerUuid: 'e2' });
  });

  it('wraps with retry and metrics: a 429 is retried and every attempt is sampled', async () => {
    const samples: ProviderSample[] = [];
    const { log } = captureLog();
    const reg = createProviderRegistry({
      log,
      onSample: (s) => samples.push(s),
      retry: { sleep: async () => undefined },
    });
    fake(0).script('chat', rateLimited(1), { type: 'chat', text: 'oi' });
    const llm = reg.build([fakeRow(fake(0).baseUrl, 'llm', { provider_uuid: 'p' })], 'llm');
    expect(await drain(llm.stream(REQ, new AbortController().signal))).toBeUndefined();
    expect(samples.map((s) => [s.outcome, s.status])).toEqual([
      ['error', 429],
      ['ok', undefined],
    ]);
  });

  it("applies a row's timeout_ms", async () => {
    const { reg } = registry();
    fake(0).script('transcriptions', { type: 'hang' });
    const stt = reg.build([fakeRow(fake(0).baseUrl, 'stt', { config: { timeout_ms: 100 } })], 'stt');
    const err = await stt
      .transcribe({ samples: tone(100, 8000), sampleRateHz: 8000 }, {}, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProviderError', retryable: true });
    expect((err as Error).message).toMatch(/timed out after 100 ms/);
  });
});
