import type postgres from 'postgres';
import { InvalidInputError } from '../../core/errors.js';
import type { Db } from './types.js';

/** Runs `fn` in a transaction: a new one on a pool, a savepoint inside an existing transaction. */
export async function inTransaction<T>(db: Db, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  const run = 'begin' in db ? db.begin(fn) : db.savepoint(fn);
  return (await run) as T;
}

/**
 * The keys of `obj` that are in `allowed` and defined, for the sql(obj, ...columns) helpers: a caller's
 * object (parsed CLI JSON, say) can never name a column we did not list, such as domain_uuid.
 */
export function columnsOf<T extends object>(
  obj: T,
  allowed: readonly (keyof T & string)[],
): (keyof T & string)[] {
  return allowed.filter((k) => obj[k] !== undefined);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` looks like a uuid; lookups treat anything else as "not found" rather than failing. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/**
 * Foreign keys do not carry the domain, so a row of domain A could point at a secretary of domain B; writes
 * check it here. A null or absent reference is fine.
 */
export async function assertSecretaryInDomain(
  db: Db,
  domainUuid: string,
  secretaryUuid: string | null | undefined,
): Promise<void> {
  if (secretaryUuid === null || secretaryUuid === undefined) return;
  const rows = await db`
    SELECT 1 FROM v_voice_secretaries WHERE domain_uuid = ${domainUuid} AND secretary_uuid = ${secretaryUuid}`;
  if (rows.length === 0)
    throw new InvalidInputError(`secretary ${secretaryUuid} is not in domain ${domainUuid}`);
}

/** What the sql(values, columns) helper renders: `("a", "b") values ($1, $2)` in INSERT, `"a" = $1, …` in SET. */
export type ColumnsHelper = postgres.Helper<Record<string, unknown>, string[]>;

/**
 * postgres.js' sql(object, columns) helper, typed for our dynamically chosen (but always whitelisted) column
 * lists: its own overloads only accept column names it can prove from literal types.
 */
export function valuesOf(db: Db, values: Record<string, unknown>, columns: readonly string[]): ColumnsHelper {
  const helper = db as unknown as (values: Record<string, unknown>, columns: string[]) => ColumnsHelper;
  return helper(values, [...columns]);
}

/** The row an INSERT … RETURNING gave back (it always gives one; anything else is a bug). */
export function firstRow<T>(rows: readonly T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  return row;
}

/** The listed properties of `obj` as a plain record, plus `extra` (which wins). */
export function pick<T extends object>(
  obj: T,
  columns: readonly (keyof T & string)[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columns) out[c] = obj[c];
  return Object.assign(out, extra);
}
