import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
let other: FakeOpenAi;
beforeAll(async () => {
  h = await startHarness();
  other = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterAll(async () => {
  await h.close();
  await other.close();
});

describe('who answers, and how', () => {
  it('an unknown extension fails open: no answer, socket closed so the dialplan goes on, no rows', async () => {
    const t = await h.tenant();
    const call = h.call({ ...t, extension: '9999' });
    const end = await call.ended;
    expect(end.socketClosedBy).toBe('daemon');
    expect(call.executed).toEqual([]);
    expect(h.logs.some((l) => l.msg === 'no enabled secretary for this call: failing open')).toBe(true);
    const rows = await h.sql`SELECT 1 FROM v_voice_conversations WHERE call_uuid = ${call.uuid}`;
    expect(rows).toHaveLength(0);
  });

  it('an unknown domain fails open too', async () => {
    const t = await h.tenant();
    const call = h.call({
      ...t,
      domain_uuid: '00000000-0000-4000-8000-00000000dead',
      domain_name: 'nowhere.example.com',
    });
    const end = await call.ended;
    expect(end.socketClosedBy).toBe('daemon');
    expect(call.executed).toEqual([]);
  });

  it('three silent turns: reprompts twice, says the farewell, resolution silence; STT never called', async () => {
    const t = await h.tenant();
    const before = h.ai.requests.length;
    const call = h.call(t, {
      script: [
        { type: 'silence', ms: 1500 },
        { type: 'silence', ms: 1500 },
        { type: 'silence', ms: 1500 },
      ],
    });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'silence', total_turns: 0 });
    expect(call.executed.filter((e) => e.app === 'record')).toHaveLength(3);
    const mine = h.ai.requests.slice(before);
    expect(mine.filter((r) => r.route === 'transcriptions')).toHaveLength(0);
    const spoken = mine.filter((r) => r.route === 'speech').map((r) => (r.body as { input: string }).input);
    expect(spoken).toContain('Você ainda está aí?');
  });

  it('idle_timeout_seconds ends a silent call before max_silent_turns: farewell, resolution silence', async () => {
    // Each silent recording is 0.98 s (1 s of silence ends it; the frame that ends it is not kept), so
    // 2 s of idle time are reached on the third silent turn, long before the tenth.
    const t = await h.tenant({
      secretary: { max_silent_turns: 10, idle_timeout_seconds: 2, silence_seconds: 1 },
    });
    const call = h.call(t, {
      script: Array.from({ length: 6 }, () => ({ type: 'silence', ms: 1500 }) as const),
    });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'silence', total_turns: 0 });
    expect(call.executed.filter((e) => e.app === 'record')).toHaveLength(3);
    // Greeting, "are you still there?" twice, then the farewell.
    expect(call.executed.filter((e) => e.app === 'playback')).toHaveLength(4);
  });

  it('a Latin-1 caller name from the trunk is stored as João', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Tchau.' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Até mais.',
      toolCalls: [{ name: 'end_call', arguments: {} }],
    });
    const call = h.call(t, {
      callerIdName: Buffer.from('Jo\xe3o', 'latin1'),
      script: utterance(),
    });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv.caller_id_name).toBe('João');
    expect(conv.resolution).toBe('completed');
  });

  it('8 kHz and 16 kHz channels: record thresholds and synthesized files follow the channel rate', async () => {
    const t = await h.tenant({ secretary: { greeting: 'Saudação de teste de taxa.' } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Tchau.' }));
    h.ai.on('chat', () => ({ type: 'chat', text: 'Até.', toolCalls: [{ name: 'end_call', arguments: {} }] }));
    const narrow = h.call(t, {
      readCodec: 'PCMU',
      readRateHz: 8000,
      script: utterance(),
    });
    await narrow.ended;
    const wide = h.call(t, {
      readCodec: 'G722',
      readRateHz: 16000,
      script: utterance(16000),
    });
    await wide.ended;
    // silence threshold 200 at 8 kHz is 400 at 16 kHz (FreeSWITCH's energy score doubles there)
    expect(narrow.executed.find((e) => e.app === 'record')?.arg).toMatch(/ 10 200 1$/);
    expect(wide.executed.find((e) => e.app === 'record')?.arg).toMatch(/ 10 400 1$/);
    // The caller's recordings were made (at the channel rate, by FreeSWITCH) and deleted with the call.
    for (const call of [narrow, wide]) {
      expect(call.recordings).toHaveLength(1);
      await expect(access(call.recordings[0] ?? '')).rejects.toThrow();
    }
    const prompts = path.join(h.audioDir, 'prompts');
    const rates = await Promise.all(
      (await readdir(prompts)).map(async (f) => parseWav(await readFile(path.join(prompts, f))).sampleRateHz),
    );
    expect(new Set(rates)).toEqual(new Set([8000, 16000]));
  });

  it('two calls to the same extension in two domains at once each get their own secretary and providers', async () => {
    const a = await h.tenant({ extension: '7000', secretary: { greeting: 'Empresa A, bom dia.' } });
    const b = await h.tenant({
      extension: '7000',
      ai: other,
      secretary: { greeting: 'Empresa B, boa tarde.' },
    });
    for (const ai of [h.ai, other]) {
      ai.script('transcriptions', { type: 'transcription', text: 'Tchau.' });
      ai.script('chat', { type: 'chat', text: 'Tchau!', toolCalls: [{ name: 'end_call', arguments: {} }] });
    }
    const beforeOther = other.requests.length;
    const ca = h.call(a, { script: utterance() });
    const cb = h.call(b, { script: utterance() });
    await Promise.all([ca.ended, cb.ended]);
    const [convA, convB] = await Promise.all([h.conversation(ca.uuid), h.conversation(cb.uuid)]);
    expect(convA).toMatchObject({
      domain_uuid: a.domain_uuid,
      secretary_uuid: a.secretaryUuid,
      resolution: 'completed',
    });
    expect(convB).toMatchObject({
      domain_uuid: b.domain_uuid,
      secretary_uuid: b.secretaryUuid,
      resolution: 'completed',
    });
    const greetingB = (await h.messages(convB.conversation_uuid))[0]?.content;
    expect(greetingB).toBe('Empresa B, boa tarde.');
    // Domain B's providers point at the other fake: its STT, LLM and TTS requests went there.
    const routes = new Set(other.requests.slice(beforeOther).map((r) => r.route));
    expect(routes).toEqual(new Set(['transcriptions', 'chat', 'speech']));
  });
});
