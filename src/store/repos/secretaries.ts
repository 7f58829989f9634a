import { InvalidInputError } from '../../core/errors.js';
import { columnsOf, firstRow, inTransaction, pick, valuesOf } from './helpers.js';
import type { Db, ProviderType, SecretaryRow, SecretaryWithProviders } from './types.js';

type Settable = Omit<SecretaryRow, 'secretary_uuid' | 'domain_uuid' | 'created_at' | 'updated_at'>;

export type SecretaryInput = Pick<Settable, 'name' | 'extension'> & Partial<Settable>;
export type SecretaryPatch = Partial<Settable>;

const SETTABLE: readonly (keyof Settable)[] = [
  'name',
  'extension',
  'processing_mode',
  'system_prompt',
  'greeting',
  'farewell',
  'language',
  'voice',
  'stt_provider_uuid',
  'tts_provider_uuid',
  'llm_provider_uuid',
  'realtime_provider_uuid',
  'embeddings_provider_uuid',
  'is_enabled',
  'max_turns',
  'max_silent_turns',
  'record_max_seconds',
  'silence_threshold',
  'silence_seconds',
  'idle_timeout_seconds',
  'max_call_seconds',
  'transfer_extension',
  'timezone',
  'media',
];

const PROVIDER_SLOTS: readonly [keyof Settable, ProviderType][] = [
  ['stt_provider_uuid', 'stt'],
  ['tts_provider_uuid', 'tts'],
  ['llm_provider_uuid', 'llm'],
  ['realtime_provider_uuid', 'realtime'],
  ['embeddings_provider_uuid', 'embeddings'],
];

export interface SecretariesRepo {
  list(domainUuid: string): Promise<SecretaryRow[]>;
  /** Enabled or not. */
  findByUuid(domainUuid: string, secretaryUuid: string): Promise<SecretaryRow | undefined>;
  /** The enabled secretary answering `extension` in the domain, with its providers' names. */
  findByExtension(domainUuid: string, extension: string): Promise<SecretaryWithProviders | undefined>;
  /** The secretary if it is enabled, with its providers' names. */
  findEnabledByUuid(domainUuid: string, secretaryUuid: string): Promise<SecretaryWithProviders | undefined>;
  /** InvalidInputError when a provider reference is not a provider of that type in the same domain. */
  create(domainUuid: string, input: SecretaryInput): Promise<SecretaryRow>;
  /** The updated row, or undefined when the domain has no such secretary. */
  update(domainUuid: string, secretaryUuid: string, patch: SecretaryPatch): Promise<SecretaryRow | undefined>;
  remove(domainUuid: string, secretaryUuid: string): Promise<boolean>;
}

/** Domain-scoped access to v_voice_secretaries; `sql` may be the pool or a transaction. */
export function createSecretariesRepo(sql: Db): SecretariesRepo {
  // Each provider join carries the domain: a reference to another tenant's provider yields no name.
  const withProviders = (db: Db) => db`
    SELECT s.*,
      stt.provider_name AS stt_provider_name,
      tts.provider_name AS tts_provider_name,
      llm.provider_name AS llm_provider_name,
      rt.provider_name AS realtime_provider_name,
      emb.provider_name AS embeddings_provider_name
    FROM v_voice_secretaries s
    LEFT JOIN v_voice_ai_providers stt
      ON stt.provider_uuid = s.stt_provider_uuid AND stt.domain_uuid = s.domain_uuid
    LEFT JOIN v_voice_ai_providers tts
      ON tts.provider_uuid = s.tts_provider_uuid AND tts.domain_uuid = s.domain_uuid
    LEFT JOIN v_voice_ai_providers llm
      ON llm.provider_uuid = s.llm_provider_uuid AND llm.domain_uuid = s.domain_uuid
    LEFT JOIN v_voice_ai_providers rt
      ON rt.provider_uuid = s.realtime_provider_uuid AND rt.domain_uuid = s.domain_uuid
    LEFT JOIN v_voice_ai_providers emb
      ON emb.provider_uuid = s.embeddings_provider_uuid AND emb.domain_uuid = s.domain_uuid`;

  return {
    async list(domainUuid) {
      return sql<SecretaryRow[]>`
        SELECT * FROM v_voice_secretaries WHERE domain_uuid = ${domainUuid}
        ORDER BY extension, name, secretary_uuid`;
    },

    findByUuid: (domainUuid, secretaryUuid) => findByUuid(sql, domainUuid, secretaryUuid),

    async findByExtension(domainUuid, extension) {
      const rows = await sql<SecretaryWithProviders[]>`
        ${withProviders(sql)}
        WHERE s.domain_uuid = ${domainUuid} AND s.extension = ${extension} AND s.is_enabled`;
      return rows[0];
    },

    async findEnabledByUuid(domainUuid, secretaryUuid) {
      const rows = await sql<SecretaryWithProviders[]>`
        ${withProviders(sql)}
        WHERE s.domain_uuid = ${domainUuid} AND s.secretary_uuid = ${secretaryUuid} AND s.is_enabled`;
      return rows[0];
    },

    async create(domainUuid, input) {
      const cols = columnsOf(input, SETTABLE);
      return inTransaction(sql, async (tx) => {
        await checkProviderRefs(tx, domainUuid, input);
        const rows = await tx<SecretaryRow[]>`
          INSERT INTO v_voice_secretaries
          ${valuesOf(tx, pick(input, cols, { domain_uuid: domainUuid }), [...cols, 'domain_uuid'])}
          RETURNING *`;
        return firstRow(rows);
      });
    },

    async update(domainUuid, secretaryUuid, patch) {
      const cols = columnsOf(patch, SETTABLE);
      return inTransaction(sql, async (tx) => {
        await checkProviderRefs(tx, domainUuid, patch);
        if (cols.length === 0) return findByUuid(tx, domainUuid, secretaryUuid);
        // The helper must sit right after SET in this template: postgres.js picks its form from the SQL before it.
        const rows = await tx<SecretaryRow[]>`
          UPDATE v_voice_secretaries SET ${valuesOf(tx, pick(patch, cols), cols)}, updated_at = now()
          WHERE domain_uuid = ${domainUuid} AND secretary_uuid = ${secretaryUuid}
          RETURNING *`;
        return rows[0];
      });
    },

    async remove(domainUuid, secretaryUuid) {
      const res = await sql`
        DELETE FROM v_voice_secretaries WHERE domain_uuid = ${domainUuid} AND secretary_uuid = ${secretaryUuid}`;
      return res.count > 0;
    },
  };
}

async function findByUuid(
  db: Db,
  domainUuid: string,
  secretaryUuid: string,
): Promise<SecretaryRow | undefined> {
  const rows = await db<SecretaryRow[]>`
    SELECT * FROM v_voice_secretaries WHERE domain_uuid = ${domainUuid} AND secretary_uuid = ${secretaryUuid}`;
  return rows[0];
}

/** Every provider a secretary points at must be a provider of the slot's type in the secretary's domain. */
async function checkProviderRefs(db: Db, domainUuid: string, values: SecretaryPatch): Promise<void> {
  const wanted = PROVIDER_SLOTS.flatMap(([col, type]) => {
    const uuid = values[col];
    return typeof uuid === 'string' ? [{ col, type, uuid }] : [];
  });
  if (wanted.length === 0) return;
  const found = await db<{ provider_uuid: string; provider_type: ProviderType }[]>`
    SELECT provider_uuid, provider_type FROM v_voice_ai_providers
    WHERE domain_uuid = ${domainUuid} AND provider_uuid IN ${db(wanted.map((w) => w.uuid))}`;
  for (const w of wanted) {
    const hit = found.find((f) => f.provider_uuid === w.uuid);
    if (hit === undefined)
      throw new InvalidInputError(`${w.col}: provider ${w.uuid} is not in domain ${domainUuid}`);
    if (hit.provider_type !== w.type) {
      throw new InvalidInputError(
        `${w.col}: provider ${w.uuid} is a ${hit.provider_type} provider, not ${w.type}`,
      );
    }
  }
}
