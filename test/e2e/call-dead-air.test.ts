import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
beforeAll(async () => {
  // The daemon's default is 2,500 ms; a short guard keeps the test quick with the same logic.
  h = await startHarness({ fillerAfterMs: 300 });
});
afterAll(async () => {
  await h.close();
});

describe('no dead air while waiting on a provider', () => {
  it('a slow LLM gets "um momento" played before the reply, and turn_ms still counts to the reply itself', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Pergunta difícil.' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Resposta pensada.',
      toolCalls: [{ name: 'end_call', arguments: {} }],
      latency: { firstByteMs: 1500 },
    });
    const before = h.ai.requests.length;
    const call = h.call(t, { script: utterance() });
    await call.ended;
    const plays = call.executed.filter((e) => e.app === 'playback');
    const reply = plays.findIndex((e) => /turn-1-0\.wav$/.test(e.arg));
    expect(reply).toBeGreaterThan(0);
    // The file played just before the reply is the cached "one moment" phrase.
    const spoken = h.ai.requests
      .slice(before)
      .filter((r) => r.route === 'speech')
      .map((r) => (r.body as { input: string }).input);
    expect(spoken).toContain('Um momento, por favor.');
    expect(plays[reply - 1]?.arg).toMatch(/prompts\/[0-9a-f]{32}\.wav$/);
    const conv = await h.conversation(call.uuid);
    const msgs = await h.messages(conv.conversation_uuid);
    const answer = msgs.find((m) => m.role === 'assistant' && m.turn === 1);
    expect(answer?.content).toBe('Resposta pensada.');
    expect(answer?.turn_ms).toBeGreaterThanOrEqual(1500);
  });
});
