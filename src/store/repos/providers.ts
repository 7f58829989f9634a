import { InvalidInputError } from '../../core/errors.js';
import { decryptSecrets, encryptedSecrets, guard, requireKey, validateSecrets } from '../secrets.js';
import { firstRow, inTransaction } from './helpers.js';
import {
  PROVIDER_TYPES,
  type Db,
  type JsonObject,
  type ProviderRow,
  type ProviderSecrets,
  type ProviderType,
  type ProviderWithSecrets,
} from './types.js';

export interface ProviderInput {
  provider_type: ProviderType;
  provider_name: string;
  config?: JsonObject;
  /** Encrypted with the key given to `create`. */
  secrets?: ProviderSecrets | null;
  /** Setting it clears the previous default of this (domain, type), in the same transaction. */
  is_default?: boolean;
  is_enabled?: boolean;
  priority?: number;
}

export interface ProviderPatch {
  config?: JsonObject;
  /** Replaces all secrets (encrypted with the key given to `update`); null removes them. */
  secrets?: ProviderSecrets | null;
  is_default?: boolean;
  is_enabled?: boolean;
  priority?: number;
}

export interface ProviderListFilter {
  type?: ProviderType;
  enabledOnly?: boolean;
}

export interface ProvidersRepo {
  /** The domain's providers, without secrets (only `has_secrets`). */
  list(domainUuid: string, filter?: ProviderListFilter): Promise<ProviderRow[]>;
  findByUuid(domainUuid: string, providerUuid: string): Promise<ProviderRow | undefined>;
  /** The enabled providers of one type in the order to try them: default first, then priority, then age. */
  listEnabledForType(domainUuid: string, type: ProviderType): Promise<ProviderRow[]>;
  /**
   * The row with its secrets decrypted. SecretKeyError naming the row when `key` does not open them, or when
   * the key is empty and the row has secrets (a row without secrets needs no key).
   */
  getWithSecrets(
    domainUuid: string,
    providerUuid: string,
    key: string,
  ): Promise<ProviderWithSecrets | undefined>;
  create(domainUuid: string, input: ProviderInput, key?: string): Promise<ProviderRow>;
  /** The updated row, or undefined when the domain has no such provider. */
  update(
    domainUuid: string,
    providerUuid: string,
    patch: ProviderPatch,
    key?: string,
  ): Promise<ProviderRow | undefined>;
  /** True when a row was deleted. */
  remove(domainUuid: string, providerUuid: string): Promise<boolean>;
}

/** Domain-scoped access to v_voice_ai_providers; `sql` may be the pool or a transaction. */
export function createProvidersRepo(sql: Db): ProvidersRepo {
  const columns = (db: Db) => db`
    provider_uuid, domain_uuid, provider_type, provider_name, config, secrets IS NOT NULL AS has_secrets,
    is_default, is_enabled, priority, created_at, updated_at`;

  const clearDefault = (db: Db, domainUuid: string, type: ProviderType) => db`
    UPDATE v_voice_ai_providers SET is_default = false, updated_at = now()
    WHERE domain_uuid = ${domainUuid} AND provider_type = ${type} AND is_default`;

  const findByUuid = async (domainUuid: string, providerUuid: string): Promise<ProviderRow | undefined> => {
    const rows = await sql<ProviderRow[]>`
      SELECT ${columns(sql)} FROM v_voice_ai_providers
      WHERE domain_uuid = ${domainUuid} AND provider_uuid = ${providerUuid}`;
    return rows[0];
  };

  return {
    async list(domainUuid, filter = {}) {
      const type = filter.type ?? null;
      const enabledOnly = filter.enabledOnly ?? false;
      return sql<ProviderRow[]>`
        SELECT ${columns(sql)} FROM v_voice_ai_providers
        WHERE domain_uuid = ${domainUuid}
          AND (${type}::text IS NULL OR provider_type = ${type}::text)
          AND (NOT ${enabledOnly}::boolean OR is_enabled)
        ORDER BY provider_type, is_default DESC, priority, created_at, provider_uuid`;
    },

    findByUuid,

    async listEnabledForType(domainUuid, type) {
      return sql<ProviderRow[]>`
        SELECT ${columns(sql)} FROM v_voice_ai_providers
        WHERE domain_uuid = ${domainUuid} AND provider_type = ${type} AND is_enabled
        ORDER BY is_default DESC, priority ASC, created_at ASC, provider_uuid`;
    },

    async getWithSecrets(domainUuid, providerUuid, key) {
      // The ciphertext comes back and is opened here: the key never travels to the database.
      const rows = await guard(
        () => sql<(ProviderRow & { secrets: Buffer | null })[]>`
          SELECT ${columns(sql)}, secrets FROM v_voice_ai_providers
          WHERE domain_uuid = ${domainUuid} AND provider_uuid = ${providerUuid}`,
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const { secrets, ...rest } = row;
      return { ...rest, secrets: decryptSecrets(secrets, key, row) };
    },

    async create(domainUuid, input, key) {
      checkInput(input);
      const secrets = input.secrets ?? null;
      if (secrets !== null) {
        validateSecrets(secrets);
        requireKey(key, 'encrypt provider secrets');
      }
      return guard(() =>
        inTransaction(sql, async (tx) => {
          if (input.is_default === true) await clearDefault(tx, domainUuid, input.provider_type);
          const rows = await tx<ProviderRow[]>`
            INSERT INTO v_voice_ai_providers
              (domain_uuid, provider_type, provider_name, config, secrets, is_default, is_enabled, priority)
            VALUES (
              ${domainUuid}, ${input.provider_type}, ${input.provider_name}, ${tx.json(input.config ?? {})},
              ${secrets === null ? null : encryptedSecrets(tx, secrets, key ?? '')},
              ${input.is_default ?? false}, ${input.is_enabled ?? true}, ${input.priority ?? 100})
            RETURNING ${columns(tx)}`;
          return firstRow(rows);
        }),
      );
    },

    async update(domainUuid, providerUuid, patch, key) {
      if (patch.config !== undefined) checkConfig(patch.config);
      if (patch.secrets !== undefined && patch.secrets !== null) {
        validateSecrets(patch.secrets);
        requireKey(key, 'encrypt provider secrets');
      }
      return guard(() =>
        inTransaction(sql, async (tx) => {
          if (patch.is_default === true) {
            // The type comes from the row itself, looked up within the domain.
            await tx`
              UPDATE v_voice_ai_providers o SET is_default = false, updated_at = now()
              FROM v_voice_ai_providers t
              WHERE t.domain_uuid = ${domainUuid} AND t.provider_uuid = ${providerUuid}
                AND o.domain_uuid = t.domain_uuid AND o.provider_type = t.provider_type
                AND o.provider_uuid <> t.provider_uuid AND o.is_default`;
          }
          const secrets =
            patch.secrets === undefined
              ? tx`secrets`
              : patch.secrets === null
                ? tx`NULL`
                : encryptedSecrets(tx, patch.secrets, key ?? '');
          const rows = await tx<ProviderRow[]>`
            UPDATE v_voice_ai_providers SET
              config = ${patch.config === undefined ? tx`config` : tx`${tx.json(patch.config)}`},
              secrets = ${secrets},
              is_default = ${patch.is_default ?? tx`is_default`},
              is_enabled = ${patch.is_enabled ?? tx`is_enabled`},
              priority = ${patch.priority ?? tx`priority`},
              updated_at = now()
            WHERE domain_uuid = ${domainUuid} AND provider_uuid = ${providerUuid}
            RETURNING ${columns(tx)}`;
          return rows[0];
        }),
      );
    },

    async remove(domainUuid, providerUuid) {
      const res = await sql`
        DELETE FROM v_voice_ai_providers WHERE domain_uuid = ${domainUuid} AND provider_uuid = ${providerUuid}`;
      return res.count > 0;
    },
  };
}

function checkInput(input: ProviderInput): void {
  if (!(PROVIDER_TYPES as readonly string[]).includes(input.provider_type)) {
    throw new InvalidInputError(`unknown provider type ${JSON.stringify(input.provider_type)}`);
  }
  if (!/^[a-z0-9_.-]{1,64}$/.test(input.provider_name)) {
    throw new InvalidInputError(
      `provider name must match [a-z0-9_.-]{1,64}: ${JSON.stringify(input.provider_name)}`,
    );
  }
  if (input.config !== undefined) checkConfig(input.config);
}

function checkConfig(config: unknown): void {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidInputError('provider config must be a JSON object');
  }
}
