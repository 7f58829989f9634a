import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { conversationTools } from '../../src/conversation/tools.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import type { BuildableKind, LlmEvent, ProviderRow } from '../../src/providers/types.js';
import { captureLog } from '../fakes/openai-rows.js';

const hasEspeak = spawnSync('espeak-ng', ['--version']).error === undefined;
if (!hasEspeak)
  console.warn('espeak-ng is not installed (apt-get install espeak-ng): its registry test is skipped');

function row(kind: BuildableKind, name: string, config: Record<string, unknown> = {}): ProviderRow {
  return {
    provider_uuid: randomUUID(),
    domain_uuid: '00000000-0000-4000-8000-000000000001',
    provider_type: kind,
    provider_name: name,
    config,
    secrets: null,
    is_default: false,
    priority: 100,
  };
}

function registry() {
  const { log, lines } = captureLog();
  return { reg: createProviderRegistry({ log, retry: { maxRetries: 0 } }), lines };
}

const signal = (): AbortSignal => new AbortController().signal;

describe('provider registry with local providers', () => {
  it('builds the local responder from a row, with no key, and it answers through the wrappers', async () => {
    const { reg } = registry();
    const llm = reg.build(
      [row('llm', 'local', { knowledge: 'P: Qual o horário?\nR: Das 8h às 18h.', language: 'pt-BR' })],
      'llm',
    );
    expect(llm.info).toMatchObject({ vendor: 'local', kind: 'llm', model: 'bm25' });
    const events: LlmEvent[] = [];
    const req = {
      system: '',
      messages: [{ role: 'user' as const, content: 'qual o horario?' }],
      tools: conversationTools(true),
    };
    for await (const ev of llm.stream(req, signal())) events.push(ev);
    const text = events.flatMap((e) => (e.type === 'text' ? [e.delta] : [])).join('');
    expect(text).toBe('Das 8h às 18h. Posso ajudar em algo mais?');
  });

  it('builds local-hash embeddings with their dimensions', async () => {
    const { reg } = registry();
    const emb = reg.build([row('embeddings', 'local-hash', { dimensions: 64 })], 'embeddings');
    expect(emb.info).toMatchObject({ vendor: 'local-hash', model: 'local-hash-v1' });
    const [v] = await emb.embed(['horário de atendimento'], signal());
    expect(v).toHaveLength(64);
  });

  it.skipIf(!hasEspeak)('builds espeak TTS', async () => {
    const { reg } = registry();
    const tts = reg.build([row('tts', 'espeak', { language: 'pt-BR', rate: 160 })], 'tts');
    let samples = 0;
    for await (const c of tts.synthesize('Olá', {}, signal())) samples += c.samples.length;
    expect(samples).toBeGreaterThan(0);
  });

  it('builds pocketsphinx STT', () => {
    const { reg } = registry();
    const stt = reg.build([row('stt', 'pocketsphinx')], 'stt');
    expect(stt.info).toMatchObject({ vendor: 'pocketsphinx', kind: 'stt', model: 'en-us' });
  });

  it('skips local rows that cannot work, saying why', () => {
    const { reg, lines } = registry();
    const rows = [
      row('llm', 'espeak'),
      row('tts', 'espeak', { rate: 5 }),
      row('stt', 'pocketsphinx', { language: 'pt-BR' }),
      row('llm', 'local', { knowledge: 42 }),
    ];
    expect(() => reg.build(rows.slice(0, 1), 'llm')).toThrow(InvalidInputError);
    expect(() => reg.build(rows.slice(1, 2), 'tts')).toThrow(InvalidInputError);
    expect(() => reg.build(rows.slice(2, 3), 'stt')).toThrow(InvalidInputError);
    expect(() => reg.build(rows.slice(3), 'llm')).toThrow(InvalidInputError);
    const reasons = lines.filter((l) => l['msg'] === 'provider row skipped').map((l) => l['reason']);
    expect(reasons).toEqual([
      `provider ${rows[0]?.provider_uuid} (espeak llm): 'espeak' provides tts only`,
      `provider ${rows[1]?.provider_uuid} (espeak tts): config.rate must be 80 to 450 words per minute`,
      `provider ${rows[2]?.provider_uuid} (pocketsphinx stt): the stock pocketsphinx model is US English; ` +
        'set config.hmm, lm and dict for pt-BR',
      `provider ${rows[3]?.provider_uuid} (local llm): config.knowledge must be a string`,
    ]);
  });

  it('falls back from an OpenAI row to the local responder', async () => {
    const { reg } = registry();
    const openai = row('llm', 'ollama', { base_url: 'http://127.0.0.1:1/v1', model: 'none' });
    const local = row('llm', 'local', { knowledge: 'Q: Opening hours?\nA: Nine to five.', language: 'en' });
    const llm = reg.build([{ ...openai, is_default: true }, local], 'llm');
    const events: LlmEvent[] = [];
    const req = { system: '', messages: [{ role: 'user' as const, content: 'opening hours?' }] };
    for await (const ev of llm.stream(req, signal())) events.push(ev);
    expect(events.flatMap((e) => (e.type === 'text' ? [e.delta] : [])).join('')).toContain('Nine to five.');
  });
});
