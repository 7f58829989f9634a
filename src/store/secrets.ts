import type postgres from 'postgres';
import { InvalidInputError, SecretKeyError } from '../core/errors.js';
import { inTransaction } from './repos/helpers.js';
import type { Db, ProviderSecrets } from './repos/types.js';

/**
 * Provider secrets are encrypted by pgcrypto in the database: the JSON travels in a bind parameter and so does
 * the key, never a GUC, a literal or set_config (those end up in pg_stat_activity, logs and settings views).
 *
 * Every query here that carries the key or plaintext goes through `guard`, because postgres.js attaches the
 * query's parameters to its errors (`err.parameters`, `err.args`; enumerable under `debug`) and they are not
 * configurable, so they cannot be stripped: we rethrow a fresh error that never had them.
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

/**
 * True for pgcrypto's decrypt failures: "Wrong key or corrupt data" and its siblings ("Corrupt data", "Not text
 * data"), all raised as SQLSTATE 39000 (external_routine_invocation_exception).
 */
export function isDecryptFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as PgErrorLike;
  return e.code === '39000' || /wrong key or corrupt data/i.test(str(e.message) ?? '');
}

/** Runs a query that carries the key or plaintext secrets; its errors come out scrubbed. */
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

/** SQL fragment that encrypts `secrets` with `key`, both bind parameters. */
export function encryptedSecrets(
  db: Db,
  secrets: ProviderSecrets,
  key: string,
): postgres.PendingQuery<postgres.Row[]> {
  const json = JSON.stringify(validateSecrets(secrets));
  return db`pgp_sym_encrypt(${json}::text, ${requireKey(key, 'encrypt provider secrets')}::text)`;
}

/** SQL fragment decrypting the `secrets` column with `key` to text (NULL stays NULL). */
export function decryptedSecrets(db: Db, key: string): postgres.PendingQuery<postgres.Row[]> {
  return db`pgp_sym_decrypt(secrets, ${requireKey(key, 'decrypt provider secrets')}::text)`;
}

/**
 * True when `key` opens `ciphertext` (a pgp_sym_encrypt value) to a JSON object of strings; false for a
 * wrong key or corrupt data. Other database errors propagate, scrubbed.
 */
export async function opensWithKey(sql: Db, ciphertext: Buffer, key: string): Promise<boolean> {
  let text: string;
  try {
    const [row] = await sql<{ t: string }[]>`SELECT pgp_sym_decrypt(${ciphertext}::bytea, ${key}::text) AS t`;
    text = row?.t ?? '';
  } catch (err) {
    if (isDecryptFailure(err)) return false;
    throw scrubDbError(err);
  }
  try {
    validateSecrets(JSON.parse(text));
    return true;
  } catch {
    return false;
  }
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

/** The SecretKeyError for a row that could not be decrypted. */
export function wrongKeyError(row: ProviderIdentity): SecretKeyError {
  return new SecretKeyError(
    `cannot decrypt the secrets of provider ${row.provider_uuid} (${row.provider_type} "${row.provider_name}"): ` +
      'wrong key or corrupt data',
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
 * names that row.
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
  try {
    return await inTransaction(sql, async (tx) => {
      const res = await tx`
        UPDATE v_voice_ai_providers
        SET secrets = pgp_sym_encrypt(pgp_sym_decrypt(secrets, ${from}::text), ${to}::text), updated_at = now()
        WHERE secrets IS NOT NULL`;
      return res.count;
    });
  } catch (err) {
    if (!isDecryptFailure(err)) throw scrubDbError(err);
    throw (
      (await findUndecryptable(sql, from)) ?? new SecretKeyError('cannot decrypt provider secrets: wrong key')
    );
  }
}

/** After a failed rotation (rolled back), finds the first row the old key does not open, to name it. */
async function findUndecryptable(sql: Db, key: string): Promise<SecretKeyError | undefined> {
  const rows = await guard(
    () => sql<ProviderIdentity[]>`
      SELECT provider_uuid, provider_name, provider_type FROM v_voice_ai_providers
      WHERE secrets IS NOT NULL ORDER BY domain_uuid, provider_uuid`,
  );
  for (const row of rows) {
    try {
      // Its own (sub)transaction, so a failure here cannot poison a caller's transaction.
      await inTransaction(
        sql,
        (tx) => tx`
        SELECT pgp_sym_decrypt(secrets, ${key}::text) FROM v_voice_ai_providers
        WHERE provider_uuid = ${row.provider_uuid}`,
      );
    } catch (err) {
      if (isDecryptFailure(err)) return wrongKeyError(row);
      throw scrubDbError(err);
    }
  }
  return undefined;
}
