import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import type { LlmEvent, LlmProvider, LlmRequest } from '../../src/providers/types.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type ChatQuirks, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
let llm: LlmProvider;

beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  llm = createOpenAiLlm(fakeConfig(fake.baseUrl, 'llm'));
});
afterEach(() => fake.close());

const REQ: LlmRequest = {
  system: 'Você é a secretária da Acme.',
  messages: [
    { role: 'user', content: 'Quero falar com vendas' },
    {
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"vendas"}' }],
    },
    { role: 'tool', toolCallId: 'call_1', content: '{"extension":"200"}' },
  ],
  tools: [
    { name: 'transfer', description: 'Transfer the call', parameters: { type: 'object', properties: {} } },
  ],
  temperature: 0.3,
  maxTokens: 200,
};

async function collect(events: AsyncIterable<LlmEvent>): Promise<LlmEvent[]> {
  const out: LlmEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const text = (events: LlmEvent[]): string => events.map((e) => (e.type === 'text' ? e.delta : '')).join('');

describe('OpenAI chat completions adapter', () => {
  it('sends the OpenAI request shape', async () => {
    await collect(llm.stream(REQ, new AbortController().signal));
    const req = fake.requests[0];
    expect(req?.path).toBe('/v1/chat/completions');
    expect(req?.headers.authorization).toBe(`Bearer ${FAKE_API_KEY}`);
    expect(req?.body).toEqual({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.3,
      max_completion_tokens: 200,
      messages: [
        { role: 'system', content: 'Você é a secretária da Acme.' },
        { role: 'user', content: 'Quero falar com vendas' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"vendas"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"extension":"200"}' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'transfer',
            description: 'Transfer the call',
            parameters: { type: 'object', properties: {} },
          },
        },
      ],
    });
  });

  it('streams text deltas, then done with the finish reason and usage', async () => {
    fake.script('chat', { type: 'chat', text: 'Olá! Vou transferir você.' });
    const events = await collect(llm.stream(REQ, new AbortController().signal));
    expect(events.filter((e) => e.type === 'text').length).toBeGreaterThan(1);
    expect(text(events)).toBe('Olá! Vou transferir você.');
    expect(events.at(-1)).toEqual({
      type: 'done',
      finishReason: 'stop',
      usage: { promptTokens: 42, completionTokens: 4, totalTokens: 46 },
    });
  });

  it('assembles tool calls split across chunks and emits each once, complete', async () => {
    fake.script('chat', {
      type: 'chat',
      text: 'Um momento.',
      toolCalls: [
        { id: 'call_a', name: 'transfer', arguments: { extension: '200', reason: 'vendas' } },
        { id: 'call_b', name: 'note', arguments: { text: 'cliente quer orçamento' } },
      ],
    });
    const events = await collect(llm.stream(REQ, new AbortController().signal));
    const calls = events.filter((e) => e.type === 'tool_call');
    expect(calls).toEqual([
      {
        type: 'tool_call',
        id: 'call_a',
        name: 'transfer',
        arguments: '{"extension":"200","reason":"vendas"}',
      },
      { type: 'tool_call', id: 'call_b', name: 'note', arguments: '{"text":"cliente quer orçamento"}' },
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  });

  const quirkCases: [string, ChatQuirks][] = [
    ['tool-call deltas without index', { noIndex: true }],
    ['whole tool calls without index', { noIndex: true, wholeToolCalls: true }],
    ['no [DONE], no usage, no finish_reason', { noDone: true, noUsage: true, noFinishReason: true }],
    ['CRLF line endings and keep-alive comments', { crlf: true, comments: true }],
  ];
  it.each(quirkCases)('tolerates %s', async (_name, quirks) => {
    fake.script('chat', {
      type: 'chat',
      text: 'Certo.',
      toolCalls: [
        { id: 'call_x', name: 'transfer', arguments: { extension: '201' } },
        { id: 'call_y', name: 'hangup', arguments: {} },
      ],
      quirks,
    });
    const events = await collect(llm.stream(REQ, new AbortController().signal));
    expect(text(events)).toBe('Certo.');
    expect(events.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', id: 'call_x', name: 'transfer', arguments: '{"extension":"201"}' },
      { type: 'tool_call', id: 'call_y', name: 'hangup', arguments: '{}' },
    ]);
    const done = events.at(-1);
    expect(done).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    if (quirks.noUsage) expect(done).not.toHaveProperty('usage');
  });

  it('accepts a whole chat.completion when the server ignores stream: true', async () => {
    const completion = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Transferindo.',
            tool_calls: [
              { type: 'function', function: { name: 'transfer', arguments: { extension: '200' } } },
            ],
          },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    };
    fake.script('chat', {
      type: 'raw',
      headers: { 'content-type': 'application/json' },
      chunks: [JSON.stringify(completion)],
    });
    const events = await collect(llm.stream(REQ, new AbortController().signal));
    expect(events).toEqual([
      { type: 'text', delta: 'Transferindo.' },
      { type: 'tool_call', id: 'call_0_1', name: 'transfer', arguments: '{"extension":"200"}' },
      {
        type: 'done',
        finishReason: 'tool_calls',
        usage: { promptTokens: 10, completionTokens: 5, totalTokens: 15 },
      },
    ]);
  });

  it('ends at end of body when the server sends no [DONE]', async () => {
    fake.script('chat', { type: 'chat', text: 'Tchau.', quirks: { noDone: true } });
    const events = await collect(llm.stream(REQ, new AbortController().signal));
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('uses max_tokens for OpenAI imitators and sends no key when none is configured', async () => {
    const keyless = await startFakeOpenAi();
    try {
      const ollama = createOpenAiLlm(
        fakeConfig(keyless.baseUrl, 'llm', {
          provider_name: 'ollama',
          secrets: null,
          config: { model: 'llama3.2' },
        }),
      );
      await collect(ollama.stream(REQ, new AbortController().signal));
      expect(keyless.requests[0]?.headers.authorization).toBeUndefined();
      expect(keyless.requests[0]?.body).toMatchObject({ model: 'llama3.2', max_tokens: 200 });
      expect(ollama.info).toMatchObject({ vendor: 'ollama', kind: 'llm', model: 'llama3.2' });
    } finally {
      await keyless.close();
    }
  });

  it.each(['error-data', 'error-event'] as const)(
    'turns a mid-stream %s into a ProviderError',
    async (type) => {
      fake.script('chat', { type: 'chat', text: 'um dois três', fault: { afterTokens: 2, type } });
      const seen: LlmEvent[] = [];
      const err = await (async () => {
        for await (const e of llm.stream(REQ, new AbortController().signal)) seen.push(e);
      })().catch((e: unknown) => e);
      expect(text(seen)).toBe('um dois ');
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ vendor: 'openai', retryable: true });
    },
  );

  it('turns a malformed event into a non-retryable ProviderError', async () => {
    fake.script('chat', { type: 'chat', text: 'a b', fault: { afterTokens: 1, type: 'malformed' } });
    await expect(collect(llm.stream(REQ, new AbortController().signal))).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: false,
    });
  });

  it('turns a connection reset mid-stream into a retryable ProviderError', async () => {
    fake.script('chat', { type: 'chat', text: 'a b c', fault: { afterTokens: 1, type: 'reset' } });
    await expect(collect(llm.stream(REQ, new AbortController().signal))).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      status: undefined,
    });
  });

  it('aborting mid-stream rejects with AbortedError and the server sees the client leave', async () => {
    fake.script('chat', {
      type: 'chat',
      text: 'um dois três quatro',
      fault: { afterTokens: 2, type: 'hang' },
    });
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of llm.stream(REQ, ac.signal)) {
        if (e.type === 'text') seen.push(e.delta);
        if (seen.length === 2) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortedError', code: 'E_ABORTED' });
    const req = fake.requests[0];
    await req?.closed;
    expect(req?.aborted).toBe(true);
  });

  it('breaking out of the loop early releases the connection', async () => {
    fake.script('chat', { type: 'chat', text: 'um dois três', fault: { afterTokens: 1, type: 'hang' } });
    for await (const e of llm.stream(REQ, new AbortController().signal)) {
      if (e.type === 'text') break;
    }
    const req = fake.requests[0];
    await req?.closed;
    expect(req?.aborted).toBe(true);
  });
});
