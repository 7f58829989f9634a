import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapturedRequest } from '../fakes/openai-server.js';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const speechInputs = (from: number): string[] =>
  h.ai.requests
    .slice(from)
    .filter((r) => r.route === 'speech')
    .map((r) => (r.body as { input: string }).input);

async function speechFor(input: string): Promise<CapturedRequest> {
  for (;;) {
    const found = h.ai.requests.find(
      (r) => r.route === 'speech' && (r.body as { input: string }).input === input,
    );
    if (found) return found;
    await h.ai.nextRequest('speech');
  }
}

describe('the first sentence is synthesized one token early', () => {
  it('TTS of "Claro." starts before the next token arrives (the LLM stalls right after it)', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Oi.' });
    // Without the early start the chunker would wait forever for the token after "Claro.".
    h.ai.script('chat', {
      type: 'chat',
      tokens: ['Claro.', ' Posso', ' ajudar?'],
      fault: { afterTokens: 1, type: 'hang' },
    });
    const call = h.call(t, { script: utterance() });
    await speechFor('Claro.');
    call.hangup();
    const conv = await h.conversation(call.uuid);
    expect(conv.resolution).toBe('caller_hangup');
  });

  it('a right guess is the file that plays, synthesized once', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Oi.' });
    h.ai.script('chat', {
      type: 'chat',
      tokens: ['Certo.', ' Mais', ' alguma', ' coisa?'],
      toolCalls: [{ name: 'end_call', arguments: {} }],
      latency: { perChunkMs: 50 },
    });
    const before = h.ai.requests.length;
    const call = h.call(t, { script: utterance() });
    await call.ended;
    expect(speechInputs(before).filter((x) => x === 'Certo.')).toHaveLength(1);
    const plays = call.executed.filter((e) => e.app === 'playback').map((e) => e.arg);
    expect(plays.some((p) => /turn-1-0\.wav$/.test(p))).toBe(true);
    const conv = await h.conversation(call.uuid);
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.find((m) => m.role === 'assistant' && m.turn === 1)?.content).toBe(
      'Certo. Mais alguma coisa?',
    );
  });

  it('a wrong guess ("3." before "5") is dropped and the real first sentence plays', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Quanto custa?' });
    h.ai.script('chat', {
      type: 'chat',
      tokens: ['Custa', ' 3.', '5', ' mil', ' reais.', ' Até', ' logo.'],
      toolCalls: [{ name: 'end_call', arguments: {} }],
      latency: { perChunkMs: 50 },
    });
    const before = h.ai.requests.length;
    const call = h.call(t, { script: utterance() });
    await call.ended;
    const inputs = speechInputs(before);
    expect(inputs).toContain('Custa 3.');
    expect(inputs).toContain('Custa 3.5 mil reais.');
    const plays = call.executed.filter((e) => e.app === 'playback').map((e) => e.arg);
    expect(plays.some((p) => /turn-1-0r\.wav$/.test(p))).toBe(true);
    expect(plays.some((p) => /turn-1-0\.wav$/.test(p))).toBe(false);
    const conv = await h.conversation(call.uuid);
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.find((m) => m.role === 'assistant' && m.turn === 1)?.content).toBe(
      'Custa 3.5 mil reais. Até logo.',
    );
  });
});
