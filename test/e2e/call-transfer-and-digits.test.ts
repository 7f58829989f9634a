import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('transfers and keys', () => {
  it('transfers to the operator when the LLM calls transfer_to_operator', async () => {
    const t = await h.tenant({ secretary: { transfer_extension: '1001' } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Quero falar com o financeiro.' }));
    h.ai.script('chat', {
      type: 'chat',
      text: 'Claro.',
      toolCalls: [{ name: 'transfer_to_operator', arguments: { reason: 'financeiro' } }],
    });
    const call = h.call(t, { script: utterance() });
    const end = await call.ended;
    expect(end.transferredTo).toBe('1001');
    expect(end.transferredContext).toBe(t.domain_name);
    const transfer = call.executed.find((e) => e.app === 'transfer');
    expect(transfer?.arg).toBe(`1001 XML ${t.domain_name}`);
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'transferred', transferred_to: '1001', total_turns: 1 });
    // The LLM was offered the tool only because the secretary has an operator.
    const chat = h.ai.requests.filter((r) => r.route === 'chat').at(-1)?.body as {
      tools: { function: { name: string } }[];
    };
    expect(chat.tools.map((x) => x.function.name).sort()).toEqual(['end_call', 'transfer_to_operator']);
  });

  it('DTMF 0 during the greeting transfers to the operator', async () => {
    const t = await h.tenant({
      secretary: { transfer_extension: '1002', greeting: 'Uma saudação bem longa para apertar zero.' },
    });
    h.ai.script('speech', { type: 'speech', durationMs: 3000 });
    const call = h.call(t, { script: [{ type: 'dtmf', digit: '0', when: 'during_playback' }] });
    const end = await call.ended;
    expect(end.transferredTo).toBe('1002');
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'transferred', transferred_to: '1002', total_turns: 0 });
    expect(call.executed.some((e) => e.app === 'record')).toBe(false);
  });

  it('DTMF * while the caller is being recorded ends the call with the farewell', async () => {
    const t = await h.tenant();
    const before = h.ai.requests.length;
    const call = h.call(t, {
      script: [
        { type: 'silence', ms: 200 },
        { type: 'dtmf', digit: '*', when: 'during_record' },
        { type: 'silence', ms: 5000 },
      ],
    });
    await call.ended;
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'completed', total_turns: 0 });
    const record = call.executed.find((e) => e.app === 'record');
    expect(record?.variables['playback_terminator_used']).toBe('*');
    // Farewell played after the recording, then hung up by the daemon.
    expect(call.executed.at(-1)?.app).toBe('playback');
    expect(h.ai.requests.slice(before).some((r) => r.route === 'transcriptions')).toBe(false);
  });

  it('stops after max_turns and transfers when there is an operator', async () => {
    const t = await h.tenant({ secretary: { max_turns: 2, transfer_extension: '1003' } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Mais uma pergunta.' }));
    h.ai.on('chat', () => ({ type: 'chat', text: 'Certo.' }));
    const call = h.call(t, { script: [...utterance(), ...utterance(), ...utterance()] });
    const end = await call.ended;
    expect(end.transferredTo).toBe('1003');
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'max_turns', transferred_to: '1003', total_turns: 2 });
  });

  it('stops after max_turns with a farewell when there is no operator', async () => {
    const t = await h.tenant({ secretary: { max_turns: 1 } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Mais uma pergunta.' }));
    h.ai.on('chat', () => ({ type: 'chat', text: 'Certo.' }));
    const call = h.call(t, { script: utterance() });
    const end = await call.ended;
    expect(end.transferredTo).toBeUndefined();
    const conv = await h.conversation(call.uuid);
    expect(conv).toMatchObject({ resolution: 'max_turns', transferred_to: null, total_turns: 1 });
    expect(call.commands.some((c) => c.startsWith('sendmsg') && c.includes('hangup'))).toBe(true);
  });
});
