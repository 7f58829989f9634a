/**
 * A tenant for end-to-end tests: a fresh domain, OpenAI-compatible provider rows (secrets encrypted with the
 * daemon's key) and a secretary 'Ana'. Shared by the in-process call harness and the child-process daemons.
 */
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createSecretariesRepo, type SecretaryInput } from '../../src/store/repos/secretaries.js';
import { createDomain, type Sql, type TestDomain } from './db.js';

/** Where a provider row points and its key; vendor `openai` and the kind's usual model unless given. */
export interface ProviderKey {
  baseUrl: string;
  apiKey: string;
  name?: string;
  model?: string;
}

export interface TenantOptions {
  /** STT and TTS (and the LLM unless `llm` is given). */
  provider: ProviderKey;
  /** LLM rows in the order they are to be tried: the first is the secretary's own and the default. */
  llm?: readonly ProviderKey[];
  /** Default 8000. */
  extension?: string;
  secretary?: Partial<SecretaryInput>;
  /** Encrypts the rows' secrets: the key of the daemon that will read them. */
  encryptionKey: string;
}

export interface Tenant extends TestDomain {
  secretaryUuid: string;
  extension: string;
  /** Provider uuids: the secretary's own of each kind. */
  providers: { stt: string; llm: string; tts: string };
}

const MODELS = { stt: 'whisper-1', llm: 'gpt-4o-mini', tts: 'tts-1' } as const;

export async function createTenant(sql: Sql, opts: TenantOptions): Promise<Tenant> {
  const domain = await createDomain(sql);
  const providers = createProvidersRepo(sql);
  const mk = (type: 'stt' | 'llm' | 'tts', p: ProviderKey, priority = 100) =>
    providers.create(
      domain.domain_uuid,
      {
        provider_type: type,
        provider_name: p.name ?? 'openai',
        config: { base_url: p.baseUrl, model: p.model ?? MODELS[type] },
        secrets: { api_key: p.apiKey },
        is_default: priority === 100,
        priority,
      },
      opts.encryptionKey,
    );
  const stt = await mk('stt', opts.provider);
  const tts = await mk('tts', opts.provider);
  const llms = [];
  for (const [i, p] of (opts.llm ?? [opts.provider]).entries()) llms.push(await mk('llm', p, 100 + 100 * i));
  const llm = llms[0];
  if (llm === undefined) throw new Error('createTenant: `llm` is empty');
  const extension = opts.extension ?? '8000';
  const sec = await createSecretariesRepo(sql).create(domain.domain_uuid, {
    name: 'Ana',
    extension,
    greeting: 'Olá, aqui é a Ana.',
    farewell: 'Até logo!',
    language: 'pt-BR',
    stt_provider_uuid: stt.provider_uuid,
    llm_provider_uuid: llm.provider_uuid,
    tts_provider_uuid: tts.provider_uuid,
    silence_seconds: 1,
    record_max_seconds: 10,
    ...opts.secretary,
  });
  return {
    ...domain,
    secretaryUuid: sec.secretary_uuid,
    extension,
    providers: { stt: stt.provider_uuid, llm: llm.provider_uuid, tts: tts.provider_uuid },
  };
}
