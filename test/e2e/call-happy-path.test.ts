import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('a turn-based call', () => {
  it('greets, holds three turns through STT -> LLM -> TTS and writes every row in order', async () => {
    const t = await h.tenant();
    h.ai.script(
      'transcriptions',
      { type: 'transcription', text: 'Qual o horário de funcionamento?' },
      { type: 'transcription', text: 'E aos sábados?' },
      { type: 'transcription', text: 'Obrigado, tchau.' },
    );
    h.ai.script(
      'chat',
      { type: 'chat', text: 'Funcionamos das oito às dezoito. Posso ajudar em algo mais?' },
      { type: 'chat', text: 'Aos sábados, das nove ao meio-dia.' },
      { type: 'chat', text: 'Por nada!', toolCalls: [{ name: 'end_call', arguments: { reason: 'bye' } }] },
    );
    const call = h.call(t, {
      script: [...utterance(), ...utterance(), ...utterance()],
    });
    const end = await call.ended;
    expect(end.socketClosedBy === 'daemon' || end.hangupCause === 'NORMAL_CLEARING').toBe(true);
    expect(call.violations).toEqual([]);

    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({
      domain_uuid: t.domain_uuid,
      secretary_uuid: t.secretaryUuid,
      caller_id: '5511999990000',
      caller_id_name: 'Maria',
      processing_mode: 'turn_based',
      total_turns: 3,
      resolution: 'completed',
      transferred_to: null,
      media_backend: 'files',
    });
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.map((m) => [m.turn, m.role, m.content])).toEqual([
      [0, 'assistant', 'Olá, aqui é a Ana.'],
      [1, 'user', 'Qual o horário de funcionamento?'],
      [1, 'assistant', 'Funcionamos das oito às dezoito. Posso ajudar em algo mais?'],
      [2, 'user', 'E aos sábados?'],
      [2, 'assistant', 'Aos sábados, das nove ao meio-dia.'],
      [3, 'user', 'Obrigado, tchau.'],
      [3, 'assistant', 'Por nada!'],
      [3, 'tool', JSON.stringify({ name: 'end_call', arguments: JSON.stringify({ reason: 'bye' }) })],
    ]);
    for (const m of msgs.filter((x) => x.role === 'user')) {
      expect(m.stt_provider).toBe('openai');
      expect(m.stt_ms).toBeGreaterThanOrEqual(0);
    }
    for (const m of msgs.filter((x) => x.role === 'assistant' && x.turn > 0)) {
      expect(m).toMatchObject({ llm_provider: 'openai', tts_provider: 'openai' });
      expect(m.llm_first_token_ms).toBeGreaterThanOrEqual(0);
      expect(m.tts_first_byte_ms).toBeGreaterThanOrEqual(0);
      expect(m.turn_ms).toBeGreaterThanOrEqual(0);
    }
    // The two-sentence reply was played as two files, the first before the second was synthesized.
    const plays = call.executed.filter((e) => e.app === 'playback').map((e) => e.arg);
    expect(plays.filter((p) => /turn-1-\d\.wav$/.test(p))).toHaveLength(2);
    // The LLM saw the system prompt, the language and the whole history on the last turn.
    const chats = h.ai.requests.filter((r) => r.route === 'chat');
    const last = chats[chats.length - 1]?.body as { messages: { role: string; content: string }[] };
    expect(last.messages[0]?.role).toBe('system');
    expect(last.messages[0]?.content).toContain('pt-BR');
    expect(last.messages.slice(1).map((m) => m.content)).toEqual([
      'Qual o horário de funcionamento?',
      'Funcionamos das oito às dezoito. Posso ajudar em algo mais?',
      'E aos sábados?',
      'Aos sábados, das nove ao meio-dia.',
      'Obrigado, tchau.',
    ]);
  });
});
