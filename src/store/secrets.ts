import type postgres from 'postgres';
import { InvalidInputError, SecretKeyError } from '../core/errors.js';
import { pgpSymDecrypt, pgpSymEncrypt } from './openpgp.js';
import { inTransaction } from './repos/helpers.js';
import type { Db, ProviderSecrets } from './repos/types.js';

/**
 * Provider secrets are encrypted and decrypted here in Node (store/openpgp.ts), in the format of pgcrypto's
 * pgp_sym_encrypt, so `pgp_sym_decrypt(secrets, key)` still opens them in SQL. Statements carry only the
 * ciphertext: a key or plaintext in a bind parameter would reach the server log under log_statement=all and
 * its siblings (issue 9 item 6).
 *
 * Queries that carry ciphertext still go through `guard`, because postgres.js attaches the query's parameters
 * to its errors (`err.parameters`, `err.args`; enumerable under `debug`) and they are not configurable, so
 * they cannot be stripped: we rethrow a fresh error that never had them.
 */

/** A database error with the parameters of the failed query left behind. */
export class DbError extends Error {
  /** SQLSTATE (e.g. '23505') or postgres.js' connection code (e.g. 'CONNECTION_CLOSED'). */
  readonly code: string | undefined;
  readonly constraint_name: string | undefined;
  readonly table_name: string | undefined;
  constructor(message: string, fields: { code?: string; constraint_name?: string; table_name?: string }) {
    super(message);
    this.name = 'DbError';
    this.code = fields.code;
    this.constraint_name = fields.constraint_name;
    this.table_name = fields.table_name;
  }
}

interface PgErrorLike {
  message?: unknown;
  code?: unknown;
  constraint_name?: unknown;
  table_name?: unknown;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A copy of `err` that carries only its message and identifying fields, never query parameters. */
export function scrubDbError(err: unknown): Error {
  if (err instanceof SecretKeyError || err instanceof InvalidInputError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as PgErrorLike;
  const fields: { code?: string; constraint_name?: string; table_name?: string } = {};
  const code = str(e.code);
  const constraint = str(e.constraint_name);
  const table = str(e.table_name);
  if (code !== undefined) fields.code = code;
  if (constraint !== undefined) fields.constraint_name = constraint;
  if (table !== undefined) fields.table_name = table;
  return new DbError(str(e.message) ?? 'database error', fields);
}

/** Runs a query that carries secrets (ciphertext); its errors come out scrubbed of its parameters. */
export async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw scrubDbError(err);
  }
}

/** Throws a clear SecretKeyError when the key is missing, before any query carries it. */
export function requireKey(key: string | undefined, purpose: string): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new SecretKeyError(`no secrets encryption key configured (needed to ${purpose})`);
  }
  return key;
}

/** Validates a secrets object: a flat JSON object of string values. */
export function validateSecrets(secrets: unknown): ProviderSecrets {
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) {
    throw new InvalidInputError('provider secrets must be a JSON object');
  }
  for (const [k, v] of Object.entries(secrets)) {
    if (typeof v !== 'string')
      throw new InvalidInputError(`provider secret ${JSON.stringify(k)} must be a string`);
  }
  return secrets as ProviderSecrets;
}

/** SQL fragment with the ciphertext of `secrets` under `key` (encrypted here: the key stays in Node). */
export function encryptedSecrets(
  db: Db,
  secrets: ProviderSecrets,
  key: string,
): postgres.PendingQuery<postgres.Row[]> {
  return db`${encryptSecrets(secrets, key)}::bytea`;
}

/** The pgp_sym_encrypt-compatible ciphertext of `secrets` under `key`. */
export function encryptSecrets(secrets: ProviderSecrets, key: string): Buffer {
  const json = JSON.stringify(validateSecrets(secrets));
  return pgpSymEncrypt(json, requireKey(key, 'encrypt provider secrets'));
}

/** True when `key` opens `ciphertext` to a JSON object of strings; false for a wrong key or corrupt data. */
export function opensWithKey(ciphertext: Buffer, key: string): boolean {
  try {
    validateSecrets(JSON.parse(pgpSymDecrypt(ciphertext, key)));
    return true;
  } catch {
    return false;
  }
}

/** Decrypts a row's `secrets` column (null stays null); SecretKeyError naming the row otherwise. */
export function decryptSecrets(
  ciphertext: Buffer | null,
  key: string,
  row: ProviderIdentity,
): ProviderSecrets | null {
  if (ciphertext === null) return null;
  if (key.length === 0) throw missingKeyError(row);
  let text: string;
  try {
    text = pgpSymDecrypt(ciphertext, key);
  } catch (err) {
    throw wrongKeyError(row, err);
  }
  return parseSecrets(text, row);
}

/** Identifies a provider row in an error message (never its config, never the key). */
export interface ProviderIdentity {
  provider_uuid: string;
  provider_name: string;
  provider_type: string;
}

/** The SecretKeyError for a row with secrets read without a key configured. */
export function missingKeyError(row: ProviderIdentity): SecretKeyError {
  return new SecretKeyError(
    `no secrets encryption key configured (needed to decrypt the secrets of provider ${row.provider_uuid} ` +
      `(${row.provider_type} "${row.provider_name}"))`,
    row.provider_uuid,
  );
}

/** The SecretKeyError for a row that could not be decrypted (`cause`: openpgp's own, never the key). */
export function wrongKeyError(row: ProviderIdentity, cause?: unknown): SecretKeyError {
  const why = cause instanceof SecretKeyError ? cause.message.replace(/^cannot decrypt: /, '') : '';
  return new SecretKeyError(
    `cannot decrypt the secrets of provider ${row.provider_uuid} (${row.provider_type} "${row.provider_name}"): ` +
      (why === '' ? 'wrong key or corrupt data' : why),
    row.provider_uuid,
  );
}

/** Parses decrypted text back into a secrets object. */
export function parseSecrets(text: string | null, row: ProviderIdentity): ProviderSecrets | null {
  if (text === null) return null;
  try {
    return validateSecrets(JSON.parse(text));
  } catch {
    return throwCorrupt(row);
  }
}

function throwCorrupt(row: ProviderIdentity): never {
  throw new SecretKeyError(
    `the secrets of provider ${row.provider_uuid} (${row.provider_type} "${row.provider_name}") decrypt to ` +
      'something that is not a JSON object of strings',
    row.provider_uuid,
  );
}

/**
 * Re-encrypts the secrets of every provider row from `oldKey` to `newKey` in one transaction, and returns how
 * many rows it re-encrypted. If any row does not decrypt with `oldKey`, nothing changes and the SecretKeyError
 * names that row. Decryption and encryption happen here: the statements carry only ciphertext.
 *
 * This is the one function in the store that is not scoped to a domain, on purpose: the key belongs to the
 * operator's installation, not to a tenant, and every tenant's rows are encrypted with it, so a rotation that
 * skipped a domain would leave that domain unreadable. Run it while daemons using the old key are stopped (or
 * restart them with the new key right after): a provider written with the old key after the rotation commits
 * would not decrypt with the new one.
 */
export async function rotateKey(sql: Db, oldKey: string, newKey: string): Promise<number> {
  const from = requireKey(oldKey, 'rotate the key (old key)');
  const to = requireKey(newKey, 'rotate the key (new key)');
  return guard(() =>
    inTransaction(sql, async (tx) => {
      // FOR UPDATE: a provider written meanwhile waits for us instead of being overwritten with stale bytes.
      const rows = await tx<(ProviderIdentity & { domain_uuid: string; secrets: Buffer })[]>`
        SELECT provider_uuid, domain_uuid, provider_name, provider_type, secrets FROM v_voice_ai_providers
        WHERE secrets IS NOT NULL ORDER BY domain_uuid, provider_uuid FOR UPDATE`;
      // Every row is opened before any is written, so a row the old key does not open changes nothing.
      const next = rows.map((row) => {
        const secrets = decryptSecrets(row.secrets, from, row) ?? {};
        return { row, bytes: pgpSymEncrypt(JSON.stringify(secrets), to) };
      });
      for (const { row, bytes } of next) {
        await tx`
          UPDATE v_voice_ai_providers SET secrets = ${bytes}::bytea, updated_at = now()
          WHERE domain_uuid = ${row.domain_uuid} AND provider_uuid = ${row.provider_uuid}`;
      }
      return next.length;
    }),
  );
}
