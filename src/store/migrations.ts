/**
 * Schema migrations: the numbered files in sql/ (`NNN_name.sql`), applied in order, each in its own
 * transaction, under a session-level advisory lock, recorded with a sha256 checksum in
 * v_voice_schema_migrations. Several daemons may migrate at once; exactly one applies each file.
 * A file must not contain transaction control (BEGIN/COMMIT) nor statements that refuse to run in a
 * transaction (CREATE INDEX CONCURRENTLY): the runner wraps it, with its ledger row, in one transaction.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type postgres from 'postgres';
import { MigrationError } from '../core/errors.js';

/** Key of the session-level advisory lock held while migrating: the ASCII bytes of 'voice_ai' as a bigint. */
export const MIGRATION_LOCK_KEY = '8534155694513807721';

const FILE_PATTERN = /^(\d+)_(.+)\.sql$/;

type Log = (msg: string, fields?: object) => void;

export interface MigrateOptions {
  /** Folder holding the `NNN_name.sql` files; defaults to the repository's sql/. */
  dir?: string | undefined;
  log?: Log | undefined;
}

export interface MigrateResult {
  applied: { version: number; name: string; ms: number }[];
  /** Migrations found already applied (file and ledger checksum agree). */
  alreadyApplied: number;
  /** Non-fatal findings, e.g. a ledger entry whose file is gone. */
  warnings: string[];
}

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing_file';

export interface MigrationStatusEntry {
  version: number;
  name: string;
  state: MigrationState;
  appliedAt?: Date;
}

interface MigrationFile {
  version: number;
  name: string;
  fileName: string;
  checksum: string;
  text: string;
}

interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

interface Compared {
  version: number;
  name: string;
  state: MigrationState;
  file: MigrationFile | undefined;
  ledger: LedgerRow | undefined;
}

const noop = (): void => undefined;

/**
 * Applies every migration not yet in the ledger. Throws MigrationError: 'E_SCHEMA_PREREQ' when the database
 * is not FusionPBX's (or lacks pgcrypto), 'E_MIGRATION_CHECKSUM' when an applied file changed (nothing is
 * applied then), 'E_MIGRATION' when a file fails (that file is rolled back; earlier ones stay).
 */
export async function migrate(sql: postgres.Sql, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const log = opts.log ?? noop;
  const files = await loadMigrationFiles(opts.dir);
  await checkPrerequisites(sql);

  // The lock and the transactions share one reserved connection: a session lock belongs to its connection,
  // and with a pool of one (the test setup, a CLI run) a second connection would never come.
  const conn = await sql.reserve();
  try {
    await acquireLock(conn, log);
    try {
      return await migrateLocked(conn, files, log);
    } finally {
      await releaseLock(conn, log);
    }
  } finally {
    conn.release();
  }
}

/** Compares the files with the ledger, without taking the lock or writing anything. */
export async function migrationStatus(
  sql: postgres.Sql,
  opts: Pick<MigrateOptions, 'dir'> = {},
): Promise<MigrationStatusEntry[]> {
  const files = await loadMigrationFiles(opts.dir);
  const [row] = await sql<{ exists: boolean }[]>`
    SELECT to_regclass('v_voice_schema_migrations') IS NOT NULL AS exists`;
  const ledger = row?.exists ? await readLedger(sql) : [];
  return compare(files, ledger).map(({ version, name, state, ledger: l }) =>
    l === undefined ? { version, name, state } : { version, name, state, appliedAt: l.applied_at },
  );
}

async function migrateLocked(
  conn: postgres.ReservedSql,
  files: MigrationFile[],
  log: Log,
): Promise<MigrateResult> {
  await conn`
    CREATE TABLE IF NOT EXISTS v_voice_schema_migrations (
      version      integer PRIMARY KEY,
      name         text NOT NULL,
      checksum     text NOT NULL,
      applied_at   timestamptz NOT NULL DEFAULT now(),
      execution_ms integer NOT NULL
    )`;
  // Read only now, under the lock: a daemon that waited sees what the other one applied.
  const entries = compare(files, await readLedger(conn));

  const changed = entries.filter((e) => e.state === 'changed');
  if (changed.length > 0) {
    const list = changed.map((e) => `${e.file?.fileName ?? e.version} (version ${e.version})`).join(', ');
    throw new MigrationError(
      'E_MIGRATION_CHECKSUM',
      `applied migrations were edited after being applied: ${list}; ` +
        'restore the original files and put changes in a new migration (nothing was applied)',
    );
  }

  const warnings: string[] = [];
  for (const e of entries) {
    if (e.state !== 'missing_file') continue;
    warnings.push(`migration ${e.version} (${e.name}) is in the ledger but its file is missing`);
    log('migration file missing', { version: e.version, name: e.name });
  }

  const applied: MigrateResult['applied'] = [];
  for (const e of entries) {
    if (e.state !== 'pending' || e.file === undefined) continue;
    const ms = await applyOne(conn, e.file);
    applied.push({ version: e.version, name: e.name, ms });
    log('migration applied', { version: e.version, name: e.name, ms });
  }
  const alreadyApplied = entries.filter((e) => e.state === 'applied').length;
  log('migrations done', { applied: applied.length, alreadyApplied, warnings: warnings.length });
  return { applied, alreadyApplied, warnings };
}

/** Runs one file and its ledger row in one transaction; returns the time the file took. */
async function applyOne(conn: postgres.ReservedSql, file: MigrationFile): Promise<number> {
  // ReservedSql has no begin() at runtime (postgres.js 3.4), so the transaction is spelled out.
  await conn`BEGIN`;
  try {
    const started = performance.now();
    await conn.unsafe(file.text);
    const ms = Math.round(performance.now() - started);
    await conn`
      INSERT INTO v_voice_schema_migrations (version, name, checksum, applied_at, execution_ms)
      VALUES (${file.version}, ${file.name}, ${file.checksum}, now(), ${ms})`;
    await conn`COMMIT`;
    return ms;
  } catch (err) {
    await conn`ROLLBACK`.catch(noop);
    throw new MigrationError('E_MIGRATION', `migration ${file.fileName} failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

async function acquireLock(conn: postgres.ReservedSql, log: Log): Promise<void> {
  try {
    const [row] = await conn<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}::bigint) AS locked`;
    if (row?.locked) return;
    log('waiting for migration lock', { key: MIGRATION_LOCK_KEY });
    await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
  } catch (err) {
    throw new MigrationError('E_MIGRATION', `could not take the migration lock: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

async function releaseLock(conn: postgres.ReservedSql, log: Log): Promise<void> {
  try {
    await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
  } catch (err) {
    // The connection is most likely gone, and the lock with its session; the migration's own outcome matters.
    log('migration lock release failed', { err });
  }
}

/** Fails with every missing prerequisite at once, before anything is written. */
async function checkPrerequisites(sql: postgres.Sql): Promise<void> {
  const [row] = await sql<
    {
      has_domains: boolean;
      has_domain_uuid: boolean;
      pgcrypto_installed: boolean;
      pgcrypto_available: boolean;
    }[]
  >`
    SELECT to_regclass('v_domains') IS NOT NULL AS has_domains,
           EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                   WHERE attrelid = to_regclass('v_domains') AND attname = 'domain_uuid'
                     AND NOT attisdropped) AS has_domain_uuid,
           EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgcrypto') AS pgcrypto_installed,
           EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pgcrypto') AS pgcrypto_available`;
  const problems: string[] = [];
  if (!row?.has_domains) {
    problems.push(
      "table v_domains not found: voice-ai installs into FusionPBX's database; point DATABASE_URL at it",
    );
  } else if (!row.has_domain_uuid) {
    problems.push('table v_domains has no domain_uuid column: is this a FusionPBX database?');
  }
  if (row && !row.pgcrypto_installed && !row.pgcrypto_available) {
    problems.push(
      'extension pgcrypto is neither installed nor available on the server: ' +
        "install PostgreSQL's contrib package (e.g. postgresql-contrib)",
    );
  }
  if (problems.length === 1) throw new MigrationError('E_SCHEMA_PREREQ', problems[0] ?? '');
  if (problems.length > 1) {
    throw new MigrationError(
      'E_SCHEMA_PREREQ',
      `schema prerequisites missing:\n  - ${problems.join('\n  - ')}`,
    );
  }
}

async function readLedger(sql: postgres.Sql | postgres.ReservedSql): Promise<LedgerRow[]> {
  return sql<LedgerRow[]>`
    SELECT version, name, checksum, applied_at FROM v_voice_schema_migrations ORDER BY version`;
}

function compare(files: MigrationFile[], ledger: LedgerRow[]): Compared[] {
  const byVersion = new Map(ledger.map((l) => [l.version, l]));
  const out: Compared[] = files.map((file) => {
    const l = byVersion.get(file.version);
    byVersion.delete(file.version);
    const state: MigrationState =
      l === undefined ? 'pending' : l.checksum === file.checksum ? 'applied' : 'changed';
    return { version: file.version, name: file.name, state, file, ledger: l };
  });
  for (const l of byVersion.values()) {
    out.push({ version: l.version, name: l.name, state: 'missing_file', file: undefined, ledger: l });
  }
  return out.sort((a, b) => a.version - b.version);
}

/** Reads and checksums the migration files, sorted by version; other files in the folder are ignored. */
async function loadMigrationFiles(dir: string | undefined): Promise<MigrationFile[]> {
  const folder = dir === undefined ? await defaultSqlDir() : path.resolve(dir);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new MigrationError('E_MIGRATION', `cannot read migration folder ${folder}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const files: MigrationFile[] = [];
  for (const fileName of names) {
    const m = FILE_PATTERN.exec(fileName);
    if (!m?.[1] || !m[2]) continue;
    const bytes = await readFile(path.join(folder, fileName));
    files.push({
      version: Number.parseInt(m[1], 10),
      name: m[2],
      fileName,
      checksum: createHash('sha256').update(bytes).digest('hex'),
      text: bytes.toString('utf8'),
    });
  }
  files.sort((a, b) => a.version - b.version || a.fileName.localeCompare(b.fileName));
  for (let i = 1; i < files.length; i++) {
    const [prev, cur] = [files[i - 1], files[i]];
    if (prev && cur && prev.version === cur.version) {
      throw new MigrationError(
        'E_MIGRATION',
        `migration files ${prev.fileName} and ${cur.fileName} share version ${cur.version}`,
      );
    }
  }
  return files;
}

/** sql/ at the repository root, seen from src/store/ (tsx) or dist/src/store/ (compiled). */
export async function defaultSqlDir(): Promise<string> {
  const candidates = ['../../sql/', '../../../sql/'].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  for (const candidate of candidates) {
    const names = await readdir(candidate).catch(() => [] as string[]);
    if (names.some((n) => FILE_PATTERN.test(n))) return candidate;
  }
  throw new MigrationError('E_MIGRATION', `migration folder not found; looked in ${candidates.join(', ')}`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
