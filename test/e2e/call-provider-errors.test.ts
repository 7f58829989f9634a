import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
let backup: FakeOpenAi;
beforeAll(async () => {
  h = await startHarness();
  backup = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterAll(async () => {
  await h.close();
  await backup.close();
});

describe('provider failures', () => {
  it('STT answering 500 once is retried and the call goes on', async () => {
    const t = await h.tenant();
    const before = h.ai.requests.length;
    h.ai.script(
      'transcriptions',
      { type: 'error', status: 500 },
      { type: 'transcription', text: 'Olá, tudo bem?' },
    );
    h.ai.script('chat', {
      type: 'chat',
      text: 'Tudo ótimo!',
      toolCalls: [{ name: 'end_call', arguments: {} }],
    });
    const call = h.call(t, { script: utterance() });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'completed', total_turns: 1 });
    const stt = h.ai.requests.slice(before).filter((r) => r.route === 'transcriptions');
    expect(stt).toHaveLength(2);
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.find((m) => m.role === 'user')?.content).toBe('Olá, tudo bem?');
    expect(h.logs.find((l) => l.msg === 'provider attempt failed')).toMatchObject({
      vendor: 'openai',
      status: 500,
      retried: true,
    });
  });

  it('LLM down with a second LLM provider configured: the fallback answers, and its row names it', async () => {
    const t = await h.tenant({ extraLlm: { baseUrl: backup.baseUrl, name: 'groq' } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Qual o endereço?' }));
    h.ai.script(
      'chat',
      { type: 'error', status: 503 },
      { type: 'error', status: 503 },
      { type: 'error', status: 503 },
    );
    backup.script('chat', {
      type: 'chat',
      text: 'Rua das Flores, 10.',
      toolCalls: [{ name: 'end_call', arguments: {} }],
    });
    const call = h.call(t, { script: utterance() });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'completed', total_turns: 1 });
    const backupChats = backup.requests.filter((r) => r.route === 'chat');
    expect(backupChats).toHaveLength(1);
    expect((backupChats[0]?.body as { model: string }).model).toBe('backup-llm');
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.filter((m) => m.role === 'assistant').map((m) => m.content)).toContain('Rua das Flores, 10.');
    // The answer came from the fallback: its row says groq, not the secretary's openai LLM that failed.
    expect(msgs.find((m) => m.content === 'Rua das Flores, 10.')).toMatchObject({
      llm_provider: 'groq',
      tts_provider: 'openai',
    });
    expect(msgs.find((m) => m.role === 'user')).toMatchObject({ stt_provider: 'openai' });
  });

  it('LLM down with no other provider: apology, then transfer to the operator; resolution error', async () => {
    const t = await h.tenant({ secretary: { transfer_extension: '1009' } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Qual o endereço?' }));
    h.ai.script(
      'chat',
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
    );
    const before = h.ai.requests.length;
    const call = h.call(t, { script: utterance() });
    const end = await call.ended;
    expect(end.transferredTo).toBe('1009');
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'error', transferred_to: '1009' });
    const spoken = h.ai.requests
      .slice(before)
      .filter((r) => r.route === 'speech')
      .map((r) => (r.body as { input: string }).input);
    expect(spoken).toEqual(expect.arrayContaining(['Desculpe, estou com um problema técnico no momento.']));
    const failure = h.logs.find((l) => l.msg === 'provider failed');
    expect(failure).toMatchObject({ vendor: 'openai', status: 500 });
  });
});
