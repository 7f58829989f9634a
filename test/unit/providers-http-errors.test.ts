import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import { parseRetryAfterMs, scrub } from '../../src/providers/transport/http.js';
import type { LlmProvider } from '../../src/providers/types.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import {
  rateLimited,
  serverError,
  startFakeOpenAi,
  tone,
  type FakeOpenAi,
  type FakeReply,
} from '../fakes/openai-server.js';

let fake: FakeOpenAi;
let llm: LlmProvider;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  llm = createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm'));
});
afterEach(() => fake.close());

async function failure(): Promise<ProviderError> {
  const err = await (async () => {
    for await (const _ of llm.stream(
      { system: '', messages: [{ role: 'user', content: 'oi' }] },
      new AbortController().signal,
    ));
  })().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe('HTTP failures become ProviderError', () => {
  const cases: [string, FakeReply, Partial<ProviderError>][] = [
    ['429 with retry-after', rateLimited(2), { status: 429, retryable: true, retryAfterMs: 2000 }],
    [
      '429 insufficient_quota',
      rateLimited(undefined, 'insufficient_quota'),
      { status: 429, retryable: false },
    ],
    ['500', serverError(500), { status: 500, retryable: true, retryAfterMs: undefined }],
    ['503', serverError(503), { status: 503, retryable: true }],
    ['408', { type: 'error', status: 408, message: 'timeout' }, { status: 408, retryable: true }],
    ['409', { type: 'error', status: 409, message: 'conflict' }, { status: 409, retryable: true }],
    ['400', { type: 'error', status: 400, message: 'bad tools' }, { status: 400, retryable: false }],
    [
      'x-should-retry: false on a 503',
      { type: 'error', status: 503, headers: { 'x-should-retry': 'false' } },
      { status: 503, retryable: false },
    ],
    [
      'x-should-retry: true on a 400',
      { type: 'error', status: 400, headers: { 'x-should-retry': 'true', 'retry-after-ms': '250' } },
      { status: 400, retryable: true, retryAfterMs: 250 },
    ],
  ];
  it.each(cases)('%s', async (_name, reply, expected) => {
    fake.script('chat', reply);
    const err = await failure();
    expect(err).toMatchObject({ code: 'E_PROVIDER', vendor: 'openai', ...expected });
  });

  it('carries the vendor message', async () => {
    fake.script('chat', { type: 'error', status: 400, message: "Invalid schema for function 'transfer'" });
    expect((await failure()).message).toBe("openai responded 400: Invalid schema for function 'transfer'");
  });

  it('a connection reset before the response is a retryable network error', async () => {
    fake.script('chat', { type: 'reset' });
    expect(await failure()).toMatchObject({ retryable: true, status: undefined });
  });

  it('a refused connection is a retryable network error', async () => {
    const dead = await startFakeOpenAi();
    const url = dead.baseUrl;
    await dead.close();
    const stt = createOpenAiStt(fakeConfig(url, 'stt'));
    const err = await stt
      .transcribe({ samples: tone(100, 8000), sampleRateHz: 8000 }, {}, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProviderError', retryable: true });
    expect((err as Error).message).toMatch(/network error: ECONNREFUSED/);
  });

  it('never shows the API key, even when the vendor echoes it', async () => {
    const wrong = createOpenAiLlm(
      fakeConfig(fake.baseUrl, 'llm', { secrets: { api_key: 'sk-wrong-0123456789secret' } }),
    );
    const err = await (async () => {
      for await (const _ of wrong.stream({ system: '', messages: [] }, new AbortController().signal));
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProviderError', status: 401, retryable: false });
    const everything = [
      JSON.stringify(err),
      (err as Error).message,
      inspect(err, { depth: 5 }),
      String(err),
    ].join('\n');
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-wrong-0123456789secret');
    expect(everything).toContain('Incorrect API key provided: [redacted]');
    expect(everything).not.toContain('0123456789secret');
  });
});

describe('parseRetryAfterMs', () => {
  const h = (init: Record<string, string>): Headers => new Headers(init);
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    expect(parseRetryAfterMs(h({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1500);
    expect(parseRetryAfterMs(h({ 'retry-after': '1.5' }))).toBe(1500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000);
    expect(parseRetryAfterMs(h({ 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' }), now)).toBe(0);
  });
  it('ignores absent or nonsense values', () => {
    expect(parseRetryAfterMs(h({}))).toBeUndefined();
    expect(parseRetryAfterMs(h({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfterMs(h({ 'retry-after': '-1' }))).toBeUndefined();
    expect(parseRetryAfterMs(h({ 'retry-after-ms': 'x', 'retry-after': '2' }))).toBe(2000);
  });
});

describe('scrub', () => {
  it('removes given secrets and key-shaped strings', () => {
    expect(scrub('key abcd-1234-efgh here', ['abcd-1234-efgh'])).toBe('key [redacted] here');
    expect(scrub('got gsk_x and sk-proj-ABCDEFGH12345678', [])).toBe('got gsk_x and [redacted]');
  });
});
