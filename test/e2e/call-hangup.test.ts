import { readdir } from 'node:fs/promises';
import path from 'node:path';
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

/** Resolves with the first request to the fake matching `pred` (already received or still to come). */
async function requestWhere(pred: (r: CapturedRequest) => boolean): Promise<CapturedRequest> {
  for (;;) {
    const found = h.ai.requests.find(pred);
    if (found) return found;
    await h.ai.nextRequest();
  }
}

const callDirs = async (): Promise<string[]> => readdir(path.join(h.audioDir, 'calls')).catch(() => []);

describe('the caller hangs up', () => {
  it('mid-LLM-stream: the LLM request is aborted and the conversation ends caller_hangup', async () => {
    const t = await h.tenant();
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Uma pergunta longa.' }));
    h.ai.script('chat', {
      type: 'chat',
      text: 'Esta resposta chega muito devagar, palavra por palavra, até o chamador desistir.',
      latency: { perChunkMs: 2000 },
    });
    const call = h.call(t, { script: utterance() });
    const chat = await requestWhere((r) => r.route === 'chat');
    call.hangup();
    await chat.closed;
    expect(chat.aborted).toBe(true);
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'caller_hangup', total_turns: 1 });
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.map((m) => m.role)).toEqual(['assistant', 'user']);
    expect(await callDirs()).toEqual([]);
  });

  it('mid-TTS: the speech request is aborted, nothing plays after, and audio files are deleted', async () => {
    const t = await h.tenant();
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Outra pergunta.' }));
    h.ai.script('chat', { type: 'chat', text: 'Uma resposta que nunca será ouvida.' });
    h.ai.on('speech', (req) =>
      (req.body as { input?: string }).input === 'Uma resposta que nunca será ouvida.'
        ? { type: 'speech', durationMs: 2000, latency: { firstByteMs: 30_000 } }
        : { type: 'speech', durationMs: 200 },
    );
    const call = h.call(t, { script: utterance() });
    const speech = await requestWhere(
      (r) =>
        r.route === 'speech' &&
        (r.body as { input?: string }).input === 'Uma resposta que nunca será ouvida.',
    );
    call.hangup();
    await speech.closed;
    expect(speech.aborted).toBe(true);
    const conv = await h.conversation(call.uuid);
    expect(conv.resolution).toBe('caller_hangup');
    expect(call.executed.filter((e) => e.app === 'playback' && /turn-/.test(e.arg))).toEqual([]);
    expect(await callDirs()).toEqual([]);
  });
});
