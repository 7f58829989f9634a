import { describe, expect, it } from 'vitest';
import { isAbort } from '../../src/core/errors.js';
import { conversationTools } from '../../src/conversation/tools.js';
import { createLocalLlm, DEFAULT_MIN_COVERAGE, type LocalLlmConfig } from '../../src/providers/local/llm.js';
import type { ChatMessage, LlmEvent, LlmProvider, LlmRequest } from '../../src/providers/types.js';

const CLINIC = `# Clínica Sorriso

P: Qual é o horário de funcionamento?
R: Atendemos de segunda a sexta, das 8h às 18h, e aos sábados das 8h às 12h.

P: Onde fica a clínica?
R: Estamos na Rua das Flores, 123, no centro de Campinas.

P: Vocês aceitam convênio?
R: Aceitamos os convênios Unimed, Bradesco Saúde e Amil.

Para marcar uma consulta, ligue neste número ou mande mensagem pelo WhatsApp.
As consultas duram cerca de quarenta minutos.
`;

const HOURS = 'Atendemos de segunda a sexta, das 8h às 18h, e aos sábados das 8h às 12h.';
const FALLBACK_PT = 'Desculpe, não sei responder isso. Posso transferir para um atendente?';

function llm(over: Partial<LocalLlmConfig> = {}): LlmProvider {
  return createLocalLlm({
    info: { vendor: 'local', kind: 'llm', model: 'bm25' },
    knowledge: CLINIC,
    language: 'pt-BR',
    minCoverage: DEFAULT_MIN_COVERAGE,
    followUp: false,
    ...over,
  });
}

function request(messages: ChatMessage[] | string, canTransfer = true, system = ''): LlmRequest {
  const msgs = typeof messages === 'string' ? [{ role: 'user' as const, content: messages }] : messages;
  return { system, messages: msgs, tools: conversationTools(canTransfer) };
}

async function collect(provider: LlmProvider, req: LlmRequest, signal = new AbortController().signal) {
  const events: LlmEvent[] = [];
  for await (const ev of provider.stream(req, signal)) events.push(ev);
  const text = events.flatMap((e) => (e.type === 'text' ? [e.delta] : [])).join('');
  const tools = events.flatMap((e) => (e.type === 'tool_call' ? [e.name] : []));
  const done = events.filter((e) => e.type === 'done');
  return { events, text, tools, done };
}

describe('local retrieval responder', () => {
  it('answers an FAQ question with the matching passage, streamed word by word', async () => {
    const r = await collect(llm(), request('Qual o horário de funcionamento de vocês?'));
    expect(r.text).toBe(HOURS);
    const deltas = r.events.filter((e) => e.type === 'text');
    expect(deltas.length).toBe(HOURS.split(' ').length);
    expect(r.tools).toEqual([]);
    expect(r.done).toEqual([{ type: 'done', finishReason: 'stop' }]);
    expect(r.events.at(-1)?.type).toBe('done');
  });

  it('ignores accents, case, punctuation and stopwords', async () => {
    for (const q of [
      'QUAL O HORARIO DE FUNCIONAMENTO???',
      'horario funcionamento',
      'e o horário, por favor?',
    ]) {
      expect((await collect(llm(), request(q))).text).toBe(HOURS);
    }
    expect((await collect(llm(), request('onde vocês ficam?'))).text).toContain('Rua das Flores');
    expect((await collect(llm(), request('aceitam convenios?'))).text).toContain('Unimed');
  });

  it('answers from plain paragraphs too, and asks for more when follow_up is on', async () => {
    const r = await collect(llm({ followUp: true }), request('quanto tempo dura a consulta?'));
    expect(r.text).toContain('quarenta minutos');
    expect(r.text.endsWith('Posso ajudar em algo mais?')).toBe(true);
  });

  it('searches the facts the knowledge pipeline put into the system prompt', async () => {
    const system =
      'Você é a secretária.\nFacts you may use to answer:\n- O estacionamento é gratuito para pacientes.';
    const r = await collect(llm(), request('tem estacionamento?', true, system));
    expect(r.text).toBe('O estacionamento é gratuito para pacientes.');
  });

  it('closes with end_call on thanks and goodbye', async () => {
    for (const q of ['obrigado, tchau', 'Era só isso, obrigada!', 'até logo']) {
      const r = await collect(llm(), request(q));
      expect(r.tools).toEqual(['end_call']);
      expect(r.text).not.toBe('');
      expect(r.done).toEqual([{ type: 'done', finishReason: 'tool_calls' }]);
    }
    const call = (await collect(llm(), request('tchau'))).events.find((e) => e.type === 'tool_call');
    expect(call).toMatchObject({
      id: 'call_local_1_end_call',
      arguments: '{"reason":"caller said goodbye"}',
    });
  });

  it('answers a question that comes with thanks instead of hanging up', async () => {
    const r = await collect(llm(), request('Obrigado! E vocês aceitam convênio?'));
    expect(r.text).toContain('Unimed');
    expect(r.tools).toEqual([]);
  });

  it('transfers a caller who asks for a person, only when the tool is offered', async () => {
    for (const q of [
      'quero falar com um atendente',
      'Posso falar com uma pessoa?',
      'me passa pra um humano',
    ]) {
      const r = await collect(llm(), request(q));
      expect(r.tools, q).toEqual(['transfer_to_operator']);
      expect(r.done).toEqual([{ type: 'done', finishReason: 'tool_calls' }]);
    }
    const without = await collect(llm(), request('quero falar com um atendente', false));
    expect(without.tools).toEqual([]);
    expect(without.text).toContain('não consigo transferir');
  });

  it('says it does not know, offering a transfer, and transfers on yes', async () => {
    const unknown = await collect(llm(), request('Vocês vendem passagens de avião?'));
    expect(unknown.text).toBe(FALLBACK_PT);
    expect(unknown.tools).toEqual([]);
    const history: ChatMessage[] = [
      { role: 'user', content: 'Vocês vendem passagens de avião?' },
      { role: 'assistant', content: unknown.text },
      { role: 'user', content: 'sim, por favor' },
    ];
    expect((await collect(llm(), request(history))).tools).toEqual(['transfer_to_operator']);
    history[2] = { role: 'user', content: 'não' };
    expect((await collect(llm(), request(history))).text).toBe('Tudo bem. Posso ajudar em algo mais?');
  });

  it('does not offer a transfer it cannot make', async () => {
    const r = await collect(llm(), request('Vocês vendem passagens de avião?', false));
    expect(r.text).toBe('Desculpe, não sei responder isso. Pode perguntar de outra forma?');
  });

  it('greets when there is nothing to answer yet', async () => {
    expect((await collect(llm(), request([]))).text).toBe('Olá! Como posso ajudar?');
    expect((await collect(llm(), request('bom dia'))).text).toBe('Olá! Como posso ajudar?');
  });

  it('speaks English when configured', async () => {
    const en = llm({
      language: 'en-US',
      knowledge: 'Q: What are your opening hours?\nA: We are open Monday to Friday, 9 am to 5 pm.',
    });
    expect((await collect(en, request('When are you open?'))).text).toBe(
      'We are open Monday to Friday, 9 am to 5 pm.',
    );
    expect((await collect(en, request('Do you sell plane tickets?'))).text).toBe(
      "Sorry, I don't know the answer to that. Shall I transfer you to an operator?",
    );
    expect((await collect(en, request('thanks, bye'))).tools).toEqual(['end_call']);
    expect((await collect(en, request('I want to speak to a human'))).tools).toEqual([
      'transfer_to_operator',
    ]);
  });

  it('is deterministic', async () => {
    const a = await collect(llm(), request('qual o endereço da clínica?'));
    const b = await collect(llm(), request('qual o endereço da clínica?'));
    expect(a.events).toEqual(b.events);
  });

  it('stops streaming when the signal aborts', async () => {
    const ctl = new AbortController();
    const seen: LlmEvent[] = [];
    let error: unknown;
    try {
      for await (const ev of llm().stream(request('qual o horário?'), ctl.signal)) {
        seen.push(ev);
        if (seen.length === 2) ctl.abort();
      }
    } catch (err) {
      error = err;
    }
    expect(isAbort(error)).toBe(true);
    expect(seen).toHaveLength(2);

    const pre = new AbortController();
    pre.abort();
    await expect(collect(llm(), request('qual o horário?'), pre.signal)).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
  });
});
