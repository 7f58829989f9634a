import { randomUUID } from 'node:crypto';
import type { Sql } from '../store/db.js';
import { createRepos } from '../store/repos/index.js';
import type { JsonObject } from '../store/repos/types.js';

export const DEMO_DOMAIN = 'demo.voice-ai.local';
export const DEMO_EXTENSION = '8000';
export const DEMO_OPERATOR = '1000';

/** What the offline secretary knows: FAQ pairs the `local` retrieval responder answers from. */
export const DEMO_KNOWLEDGE = `
P: Qual o horário de funcionamento da clínica? Que horas abre e fecha?
R: A clínica funciona de segunda a sexta, das oito às dezoito horas, e aos sábados das oito ao meio-dia.

P: Vocês aceitam convênio? Quais planos de saúde?
R: Aceitamos os convênios Unimed, Bradesco Saúde e SulAmérica. Consultas particulares custam duzentos reais.

P: Onde fica a clínica? Qual o endereço?
R: Ficamos na Rua das Flores, número cento e vinte e três, no centro de Campinas, ao lado da praça.

P: Como marcar uma consulta? Agendamento.
R: Para marcar uma consulta, informe seu nome e o melhor dia; um atendente confirma o horário por telefone.
`.trim();

/** The caller's lines in the scripted demo conversation. */
export const DEMO_SCRIPT = [
  'Bom dia! Qual o horário de funcionamento da clínica?',
  'Vocês aceitam convênio Unimed?',
  'E onde fica a clínica?',
  'Quero falar com um atendente, por favor.',
];

/**
 * Creates (or refreshes) the demo tenant: a domain in v_domains, an offline LLM (`local`, over
 * DEMO_KNOWLEDGE), espeak-ng TTS when `withSpeech`, and secretary Ana on extension 8000. Idempotent.
 */
export async function seedDemo(sql: Sql, withSpeech: boolean): Promise<{ domainUuid: string }> {
  return sql.begin(async (tx) => {
    const repos = createRepos(tx);
    let domain = await repos.domains.findByName(DEMO_DOMAIN);
    if (!domain) {
      const uuid = randomUUID();
      await tx`
        INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled, domain_description, insert_date)
        VALUES (${uuid}, ${DEMO_DOMAIN}, true, 'voice-ai offline demo', now())`;
      domain = { domain_uuid: uuid, domain_name: DEMO_DOMAIN, domain_enabled: true };
    }
    const d = domain.domain_uuid;
    const upsert = async (type: 'llm' | 'tts', name: string, config: JsonObject): Promise<string> => {
      const existing = (await repos.providers.list(d, { type })).find((p) => p.provider_name === name);
      if (existing) {
        await repos.providers.update(d, existing.provider_uuid, {
          config,
          is_enabled: true,
          is_default: true,
        });
        return existing.provider_uuid;
      }
      const created = await repos.providers.create(d, {
        provider_type: type,
        provider_name: name,
        config,
        is_default: true,
      });
      return created.provider_uuid;
    };
    const llm = await upsert('llm', 'local', { knowledge: DEMO_KNOWLEDGE, language: 'pt-BR' });
    const tts = withSpeech ? await upsert('tts', 'espeak', { language: 'pt-BR' }) : null;
    const settings = {
      name: 'Ana',
      greeting: 'Clínica Bem Estar, aqui é a Ana, assistente virtual. Como posso ajudar?',
      farewell: 'Obrigada pela ligação. Até logo!',
      system_prompt: 'Você é Ana, secretária virtual da Clínica Bem Estar. Seja breve e cordial.',
      language: 'pt-BR',
      llm_provider_uuid: llm,
      tts_provider_uuid: tts,
      transfer_extension: DEMO_OPERATOR,
      is_enabled: true,
    };
    const existing = await repos.secretaries.findByExtension(d, DEMO_EXTENSION);
    if (existing) await repos.secretaries.update(d, existing.secretary_uuid, settings);
    else await repos.secretaries.create(d, { ...settings, extension: DEMO_EXTENSION });
    return { domainUuid: d };
  });
}
