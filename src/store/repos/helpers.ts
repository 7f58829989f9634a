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
export function columnsOf<T extends object>(obj: T, allowed: readonly (keyof T & string)[]): (keyof T & string)[] {
  return allowed.filter((k) => obj[k] !== undefined);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Rejects a malformed uuid before Postgres does, with a message naming the argument. */
export function assertUuid(value: string, what: string): void {
  if (!UUID_RE.test(value)) throw new InvalidInputError(`${what} is not a uuid: ${JSON.stringify(value)}`);
}

/** True when `value` looks like a uuid; lookups treat anything else as "not found" rather than failing. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
