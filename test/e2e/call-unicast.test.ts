/**
 * Full-duplex calls on stock FreeSWITCH's unicast: the daemon against the fake switch, whose unicast side
 * behaves as recorded on a real 1.10.12 (test/fakes/fake-freeswitch/unicast.ts, reference §2a). At speed 1:
 * the daemon paces its datagrams in real time, and the fake's loopback queue judges them in call time.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
// Each test file runs its own daemon: a range of its own, FreeSWITCH's side right above it.
const base = 20_000 + Math.floor(Math.random() * 900) * 20;
beforeAll(async () => {
  h = await startHarness({
    speed: 1,
    env: { VOICE_AI_UNICAST_PORTS: `${base}-${base + 9}`, VOICE_AI_UNICAST_FIRST_FRAME_MS: '500' },
  });
});
afterAll(async () => {
  await h.close();
});

const FULL_DUPLEX = { processing_mode: 'auto', media: 'unicast' } as const;

/** This call's log lines with that message (the harness keeps every line of the file's daemon). */
const logged = (msg: string, callUuid: string): Record<string, unknown>[] =>
  h.logs.filter((l) => l['msg'] === msg && l['call'] === callUuid);

describe('calls on unicast', () => {
  it('converses over datagrams only: no record, no playback; the rows say unicast and auto', async () => {
    const t = await h.tenant({ secretary: FULL_DUPLEX });
    h.ai.on('speech', () => ({ type: 'speech', durationMs: 400 }));
    h.ai.script('transcriptions', { type: 'transcription', text: 'Qual o horário?' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Das oito às dezoito.',
      toolCalls: [{ name: 'end_call', arguments: { reason: 'respondido' } }],
    });
    const call = h.call(t, { script: [{ type: 'silence', ms: 1500 }, ...utterance()] });
    await call.ended;
    expect(call.violations).toEqual([]);
    expect(call.unicast.started).toBe(true);
    // The default VAD (VOICE_AI_VAD=silero) heard this call.
    expect(logged('unicast media started', call.uuid)).toEqual([expect.objectContaining({ vad: 'silero' })]);
    expect(call.commands.some((c) => c.startsWith('sendmsg') && c.includes('unicast'))).toBe(true);
    const apps = call.executed.map((e) => e.app);
    expect(apps).not.toContain('record');
    expect(apps).not.toContain('playback');
    // Greeting, reply and farewell, 400 ms each, reached the caller as audio.
    const heardMs = (call.unicast.heard().length / 8000) * 1000;
    expect(heardMs).toBeGreaterThanOrEqual(1000);
    expect(call.unicast.framesReceived).toBeGreaterThanOrEqual(50);

    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({
      resolution: 'completed',
      total_turns: 1,
      processing_mode: 'auto',
      media_backend: 'unicast',
    });
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.map((m) => [m.turn, m.role, m.content])).toEqual([
      [0, 'assistant', 'Olá, aqui é a Ana.'],
      [1, 'user', 'Qual o horário?'],
      [1, 'assistant', 'Das oito às dezoito.'],
      [1, 'tool', JSON.stringify({ name: 'end_call', arguments: JSON.stringify({ reason: 'respondido' }) })],
    ]);
    // The endpointer cut the caller's turn out of the stream: one STT request with the utterance in it.
    const stt = h.ai.requests.filter((r) => r.route === 'transcriptions');
    expect(stt).toHaveLength(1);
  });

  it('falls back to record + playback when FreeSWITCH sends no audio (the +OK means nothing)', async () => {
    const t = await h.tenant({ secretary: FULL_DUPLEX });
    h.ai.on('speech', () => ({ type: 'speech', durationMs: 300 }));
    h.ai.script('transcriptions', { type: 'transcription', text: 'Tchau.' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Até logo.',
      toolCalls: [{ name: 'end_call', arguments: { reason: 'tchau' } }],
    });
    const call = h.call(t, { unicast: 'refuse', script: utterance() });
    await call.ended;
    expect(call.violations).toEqual([]);
    expect(call.unicast.started).toBe(true);
    expect(call.unicast.framesSent).toBe(0);
    const apps = call.executed.map((e) => e.app);
    expect(apps).toContain('playback');
    expect(apps).toContain('record');
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({
      resolution: 'completed',
      processing_mode: 'turn_based',
      media_backend: 'files',
    });
    expect(
      logged('unicast sent no audio: FreeSWITCH could not start it; this call uses files', call.uuid),
    ).toHaveLength(1);
  });

  it('barge-in: caller speech over the reply stops it; the row keeps what was heard, marked interrupted', async () => {
    const t = await h.tenant({ secretary: FULL_DUPLEX });
    h.ai.on('speech', (req) => {
      const input = (req.body as { input?: string }).input ?? '';
      return {
        type: 'speech',
        durationMs: input.startsWith('Temos') || input.startsWith('Cada') ? 2500 : 300,
      };
    });
    h.ai.script(
      'transcriptions',
      { type: 'transcription', text: 'Quais são os planos?' },
      { type: 'transcription', text: 'Só o mais barato.' },
    );
    h.ai.script(
      'chat',
      { type: 'chat', text: 'Temos três planos com preços diferentes. Cada um tem uma carência própria.' },
      {
        type: 'chat',
        text: 'O básico custa cem reais.',
        toolCalls: [{ name: 'end_call', arguments: { reason: 'respondido' } }],
      },
    );
    const call = h.call(t, {
      script: [
        { type: 'silence', ms: 1200 },
        ...utterance(),
        // The caller talks over the reply once it has played for 700 ms.
        { type: 'await_playback', atMs: 700 },
        ...utterance(),
      ],
    });
    await call.ended;
    expect(call.violations).toEqual([]);
    expect(logged('barge-in: playout stopped', call.uuid)).toHaveLength(1);
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'completed', total_turns: 2, media_backend: 'unicast' });
    const msgs = await h.messages(conv.conversation_uuid);
    const first = msgs.find((m) => m.turn === 1 && m.role === 'assistant');
    // The caller never heard the second sentence, nor all of the first.
    expect(first?.content).not.toContain('Cada um');
    expect(first?.content.length).toBeLessThan('Temos três planos com preços diferentes.'.length);
    const [row] = await h.sql<{ interrupted: boolean }[]>`
      SELECT interrupted FROM v_voice_messages
      WHERE domain_uuid = ${t.domain_uuid} AND conversation_uuid = ${conv.conversation_uuid}
        AND turn = 1 AND role = 'assistant'`;
    expect(row?.interrupted).toBe(true);
    expect(msgs.filter((m) => m.role === 'user').map((m) => m.content)).toEqual([
      'Quais são os planos?',
      'Só o mais barato.',
    ]);
    // The second turn's history is what the caller heard, not what the LLM wrote.
    const chats = h.ai.requests.filter((r) => r.route === 'chat');
    const history = (chats.at(-1)?.body as { messages: { role: string; content: string }[] }).messages;
    expect(history.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual([first?.content]);
    // Far less than the 5 s reply reached the caller: greeting, ~0.7 s of the reply, the answer, farewell.
    const heardMs = (call.unicast.heard().length / 8000) * 1000;
    expect(heardMs).toBeLessThan(300 + 2500 + 300 + 300 + 1000);
  });

  it('DTMF 0 while the greeting plays reaches the operator', async () => {
    const t = await h.tenant({ secretary: { ...FULL_DUPLEX, transfer_extension: '1001' } });
    h.ai.on('speech', () => ({ type: 'speech', durationMs: 3000 }));
    const call = h.call(t, { script: [{ type: 'dtmf', digit: '0', when: { afterMs: 600 } }] });
    const end = await call.ended;
    expect(end.transferredTo).toBe('1001');
    expect(call.executed.find((e) => e.app === 'transfer')?.arg).toBe(`1001 XML ${t.domain_name}`);
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'transferred', media_backend: 'unicast' });
    // The greeting was cut: well under its 3 s reached the caller before the transfer phrase.
    expect((call.unicast.heard().length / 8000) * 1000).toBeLessThan(3000 + 3000);
  });

  it('16 kHz: frames of 640 bytes both ways, a cough over the reply does not interrupt it, * hangs up', async () => {
    const t = await h.tenant({ secretary: FULL_DUPLEX });
    h.ai.on('speech', () => ({ type: 'speech', durationMs: 1500 }));
    h.ai.script('transcriptions', { type: 'transcription', text: 'Oi.' });
    h.ai.script('chat', { type: 'chat', text: 'Olá! Em que posso ajudar hoje?' });
    const cough = new Int16Array(1600).map((_, i) => Math.round(8000 * Math.sin(i / 3))); // 100 ms at 16 kHz
    const call = h.call(t, {
      readCodec: 'L16',
      readRateHz: 16000,
      script: [
        { type: 'silence', ms: 2000 },
        ...utterance(16000),
        { type: 'await_playback', atMs: 500 },
        { type: 'speak', pcm: cough, sampleRateHz: 16000 },
        { type: 'silence', ms: 3000 },
        { type: 'dtmf', digit: '*', when: 'now' },
      ],
    });
    await call.ended;
    expect(call.violations).toEqual([]);
    expect(logged('barge-in: playout stopped', call.uuid)).toHaveLength(0);
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'completed', total_turns: 1, media_backend: 'unicast' });
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.find((m) => m.role === 'assistant' && m.turn === 1)?.content).toBe(
      'Olá! Em que posso ajudar hoje?',
    );
    // The 1.5 s reply reached the caller whole, at 16 kHz.
    expect(call.unicast.heard().length / 16).toBeGreaterThanOrEqual(1500 * 3);
  });

  it('a silent caller is asked once, then hears the farewell; the UDP port is free after the call', async () => {
    const t = await h.tenant({ secretary: { ...FULL_DUPLEX, max_silent_turns: 2 } });
    h.ai.on('speech', () => ({ type: 'speech', durationMs: 300 }));
    const sttBefore = h.ai.requests.filter((r) => r.route === 'transcriptions').length;
    const call = h.call(t, { script: [] });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'silence', total_turns: 0, media_backend: 'unicast' });
    // Comfort noise is not speech: nothing went to STT.
    expect(h.ai.requests.filter((r) => r.route === 'transcriptions')).toHaveLength(sttBefore);
    // Our port is FreeSWITCH's less the range's size (10 here): bindable again once the call is over.
    const fsPort = call.unicast.local?.port ?? 0;
    expect(fsPort).toBeGreaterThan(base + 9);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(fsPort - 10, '127.0.0.1', () => resolve());
    });
    socket.close();
  });
});
