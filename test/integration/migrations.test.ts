import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { delay } from '../../src/core/abort.js';
import { MigrationError } from '../../src/core/errors.js';
import {
  MIGRATION_LOCK_KEY,
  migrate,
  migrationStatus,
  type MigrateResult,
} from '../../src/store/migrations.js';
import { createScratchDatabase, type Sql } from '../helpers/db.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const sqlDir = fileURLToPath(new URL('../../sql/', import.meta.url));
const childScript = fileURLToPath(new URL('./migrate-child.ts', import.meta.url));
const silent = (): void => undefined;

const clients: Sql[] = [];
const databases: string[] = [];

/** A client on a new empty database (dropped after the file), optionally with FusionPBX's v_domains. */
async function scratch(
  prefix: string,
  opts: { standin: boolean; max?: number },
): Promise<{ url: string; sql: Sql }> {
  const url = await createScratchDatabase(prefix);
  databases.push(url);
  const sql = client(url, opts.max ?? 2);
  if (opts.standin) await sql.unsafe(await readFile(`${sqlDir}fusionpbx-standin.sql`, 'utf8'));
  return { url, sql };
}

function client(url: string, max: number): Sql {
  const sql = postgres(url, { max, onnotice: silent });
  clients.push(sql);
  return sql;
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: silent });
  try {
    for (const url of databases) {
      const name = decodeURIComponent(new URL(url).pathname.slice(1));
      await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
});

/** The migration files as the ledger should record them, computed independently of the runner. */
async function expectedLedger(): Promise<{ version: number; name: string; checksum: string }[]> {
  const out: { version: number; name: string; checksum: string }[] = [];
  for (const file of (await readdir(sqlDir)).sort()) {
    const m = /^(\d+)_(.+)\.sql$/.exec(file);
    if (!m?.[1] || !m[2]) continue;
    const checksum = createHash('sha256')
      .update(await readFile(sqlDir + file))
      .digest('hex');
    out.push({ version: Number(m[1]), name: m[2], checksum });
  }
  return out;
}

/** Columns, indexes, constraints, triggers and functions of our v_voice_ objects, for equality checks. */
async function schemaDump(sql: Sql): Promise<Record<string, unknown[]>> {
  const like = 'v\\_voice\\_%';
  const columns = await sql`
    SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, column_default
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name LIKE ${like}
    ORDER BY table_name, ordinal_position`;
  const indexes = await sql`
    SELECT tablename, indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename LIKE ${like}
    ORDER BY tablename, indexname`;
  const constraints = await sql`
    SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS def
    FROM pg_constraint WHERE conrelid::regclass::text LIKE ${like}
    ORDER BY 1, 2`;
  const triggers = await sql`
    SELECT tgrelid::regclass::text AS table_name, tgname, pg_get_triggerdef(oid) AS def
    FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE ${like}
    ORDER BY 1, 2`;
  const functions = await sql`
    SELECT proname, pg_get_functiondef(oid) AS def FROM pg_proc WHERE proname LIKE ${like} ORDER BY 1`;
  return {
    columns: [...columns],
    indexes: [...indexes],
    constraints: [...constraints],
    triggers: [...triggers],
    functions: [...functions],
  };
}

async function ledger(sql: Sql): Promise<{ version: number; name: string; checksum: string }[]> {
  const rows = await sql<{ version: number; name: string; checksum: string }[]>`
    SELECT version, name, checksum FROM v_voice_schema_migrations ORDER BY version`;
  return [...rows];
}

async function tableExists(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql<{ exists: boolean }[]>`SELECT to_regclass(${name}) IS NOT NULL AS exists`;
  return row?.exists ?? false;
}

/** Resolves once `n` sessions of this database wait for the migration lock; `check` can abort the wait. */
async function waitForLockWaiters(sql: Sql, n: number, check: () => void = silent): Promise<void> {
  const key = BigInt(MIGRATION_LOCK_KEY);
  const classid = String(key >> 32n);
  const objid = String(key & 0xffffffffn);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await sql<{ waiting: number }[]>`
      SELECT count(*)::int AS waiting FROM pg_locks
      WHERE locktype = 'advisory' AND NOT granted AND classid = ${classid}::oid AND objid = ${objid}::oid
        AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    if ((row?.waiting ?? 0) >= n) return;
    check();
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${n} sessions to wait for the migration lock`);
    await delay(20);
  }
}

/** Holds the migration lock from another session until `release` is called. */
async function holdMigrationLock(sql: Sql): Promise<{ release: () => Promise<void> }> {
  const conn = await sql.reserve();
  await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
      } finally {
        conn.release();
      }
    },
  };
}

interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(url: string): { exited: () => boolean; done: Promise<ChildRun>; kill: () => void } {
  const child = spawn('npx', ['tsx', childScript, url], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<ChildRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      exited = true;
      resolve({ code, stdout, stderr });
    });
  });
  return {
    exited: () => exited,
    done,
    kill: () => {
      if (!exited) child.kill('SIGTERM');
    },
  };
}

function expectExactlyOnce(results: MigrateResult[], versions: readonly number[]): void {
  const total = versions.length;
  const appliedVersions = results.flatMap((r) => r.applied.map((a) => a.version));
  expect(appliedVersions.sort((a, b) => a - b)).toEqual([...versions].sort((a, b) => a - b));
  // The waiter found everything applied by the other one.
  expect(results.map((r) => r.applied.length).sort()).toEqual([0, total]);
  expect(results.map((r) => r.alreadyApplied).sort()).toEqual([0, total]);
}

describe('migrate on a fresh FusionPBX database', () => {
  it('applies every file once, in order; a second run applies nothing and leaves the schema as it was', async () => {
    // A pool of one: the runner must not need a second connection while it holds the lock.
    const { sql } = await scratch('mig_twice', { standin: true, max: 1 });
    const expected = await expectedLedger();
    expect(expected.length).toBeGreaterThanOrEqual(8);

    const before = await migrationStatus(sql);
    expect(before.map((s) => [s.version, s.name, s.state])).toEqual(
      expected.map((e) => [e.version, e.name, 'pending']),
    );
    expect(await tableExists(sql, 'v_voice_schema_migrations')).toBe(false);

    const logged: string[] = [];
    const first = await migrate(sql, { log: (msg) => logged.push(msg) });
    expect(first.applied.map((a) => [a.version, a.name])).toEqual(expected.map((e) => [e.version, e.name]));
    expect(first.applied.every((a) => Number.isInteger(a.ms) && a.ms >= 0)).toBe(true);
    expect(first).toMatchObject({ alreadyApplied: 0, warnings: [] });
    expect(logged.filter((m) => m === 'migration applied')).toHaveLength(expected.length);
    expect(await ledger(sql)).toEqual(expected);
    const schema = await schemaDump(sql);
    expect(schema.columns?.length).toBeGreaterThan(50);

    const second = await migrate(sql);
    expect(second).toEqual({ applied: [], alreadyApplied: expected.length, warnings: [] });
    expect(await ledger(sql)).toEqual(expected);
    expect(await schemaDump(sql)).toEqual(schema);

    const after = await migrationStatus(sql);
    expect(after.map((s) => [s.version, s.state])).toEqual(expected.map((e) => [e.version, 'applied']));
    expect(after.every((s) => s.appliedAt instanceof Date)).toBe(true);
  });

  it('records execution time and leaves the advisory lock free afterwards', async () => {
    const { sql } = await scratch('mig_lock', { standin: true });
    await migrate(sql);
    const rows = await sql<{ execution_ms: number; applied_at: Date }[]>`
      SELECT execution_ms, applied_at FROM v_voice_schema_migrations`;
    expect(rows.every((r) => r.execution_ms >= 0 && r.applied_at instanceof Date)).toBe(true);
    const [row] = await sql<{ free: boolean }[]>`
      SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}::bigint) AS free`;
    expect(row?.free).toBe(true);
    await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
  });
});

describe('migrate run concurrently', () => {
  it('two clients at once: one applies everything, the other waits and applies nothing', async () => {
    const { url, sql: observer } = await scratch('mig_conc', { standin: true, max: 2 });
    const { sql: reference } = await scratch('mig_ref', { standin: true });
    await migrate(reference);
    const expected = await expectedLedger();

    const a = client(url, 2);
    const b = client(url, 2);
    const lock = await holdMigrationLock(observer);
    let running: Promise<PromiseSettledResult<MigrateResult>[]>;
    try {
      running = Promise.allSettled([migrate(a), migrate(b)]);
      await waitForLockWaiters(observer, 2);
    } finally {
      await lock.release();
    }
    const settled = await running;
    const results = settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
    expectExactlyOnce(
      results,
      expected.map((e) => e.version),
    );
    expect(await ledger(observer)).toEqual(expected);
    expect(await schemaDump(observer)).toEqual(await schemaDump(reference));
  });

  it(
    'two OS processes at once: the ledger is consistent and the schema is the same',
    { timeout: 90_000 },
    async () => {
      const { url, sql: observer } = await scratch('mig_proc', { standin: true, max: 2 });
      const { sql: reference } = await scratch('mig_ref', { standin: true });
      await migrate(reference);
      const expected = await expectedLedger();

      const lock = await holdMigrationLock(observer);
      const children = [runChild(url), runChild(url)];
      try {
        await waitForLockWaiters(observer, 2, () => {
          if (children.some((c) => c.exited()))
            throw new Error('a migrate child exited before waiting for the lock');
        });
      } catch (err) {
        children.forEach((c) => c.kill());
        const runs = await Promise.all(children.map((c) => c.done));
        throw new Error(`${String(err)}\n${runs.map((r) => r.stderr).join('\n')}`);
      } finally {
        await lock.release();
      }
      const runs = await Promise.all(children.map((c) => c.done));
      for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0 });
      const results = runs.map((r) => JSON.parse(r.stdout.trim()) as MigrateResult);
      expectExactlyOnce(
        results,
        expected.map((e) => e.version),
      );
      expect(await ledger(observer)).toEqual(expected);
      expect(await schemaDump(observer)).toEqual(await schemaDump(reference));
    },
  );
});

describe('migrate prerequisites', () => {
  it('refuses a database without v_domains, naming it, and writes nothing', async () => {
    const { sql } = await scratch('mig_nodom', { standin: false });
    const err = await migrate(sql).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: 'E_SCHEMA_PREREQ' });
    expect((err as Error).message).toContain(
      "table v_domains not found: voice-ai installs into FusionPBX's database; point DATABASE_URL at it",
    );
    expect(await tableExists(sql, 'v_voice_schema_migrations')).toBe(false);
    expect(await tableExists(sql, 'v_voice_ai_providers')).toBe(false);
    const [ext] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pgcrypto'`;
    expect(ext?.n).toBe(0);
  });

  it('refuses a v_domains that is not FusionPBX-shaped (no domain_uuid)', async () => {
    const { sql } = await scratch('mig_baddom', { standin: false });
    await sql`CREATE TABLE v_domains (id integer PRIMARY KEY, domain_name text)`;
    await expect(migrate(sql)).rejects.toMatchObject({
      code: 'E_SCHEMA_PREREQ',
      message: expect.stringContaining('v_domains has no domain_uuid column') as unknown,
    });
    expect(await tableExists(sql, 'v_voice_schema_migrations')).toBe(false);
  });
});

describe('migrate on a database with FusionPBX data', () => {
  it("leaves FusionPBX's tables, rows and columns exactly as they were", async () => {
    const { sql } = await scratch('mig_fpbx', { standin: true });
    await sql`
      CREATE TABLE v_extensions (
        extension_uuid           uuid PRIMARY KEY,
        domain_uuid              uuid REFERENCES v_domains (domain_uuid),
        extension                text,
        number_alias             text,
        effective_caller_id_name text,
        enabled                  text,
        description              text,
        insert_date              timestamptz
      )`;
    const domains = [randomUUID(), randomUUID()];
    for (const [i, d] of domains.entries()) {
      await sql`
        INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled, domain_description, insert_date)
        VALUES (${d}, ${`pbx${i}.example.com`}, ${i === 0}, ${'tenant ' + i}, now())`;
    }
    for (const [i, ext] of ['100', '101', '200'].entries()) {
      await sql`
        INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, effective_caller_id_name, enabled,
                                  insert_date)
        VALUES (${randomUUID()}, ${domains[i === 2 ? 1 : 0] ?? null}, ${ext}, ${'Reception ' + ext}, 'true', now())`;
    }
    const snapshot = async (): Promise<unknown> => ({
      domains: [...(await sql`SELECT to_jsonb(d) AS r FROM v_domains d ORDER BY domain_uuid`)],
      extensions: [...(await sql`SELECT to_jsonb(e) AS r FROM v_extensions e ORDER BY extension_uuid`)],
      counts: [
        ...(await sql`
          SELECT (SELECT count(*) FROM v_domains)::int AS domains,
                 (SELECT count(*) FROM v_extensions)::int AS extensions`),
      ],
      columns: [
        ...(await sql`
          SELECT table_name, column_name, data_type, is_nullable, column_default
          FROM information_schema.columns WHERE table_name IN ('v_domains', 'v_extensions')
          ORDER BY table_name, ordinal_position`),
      ],
      userTriggers: [
        ...(await sql`
          SELECT tgname FROM pg_trigger
          WHERE NOT tgisinternal AND tgrelid IN ('v_domains'::regclass, 'v_extensions'::regclass)`),
      ],
    });
    const before = await snapshot();
    expect(before).toMatchObject({ counts: [{ domains: 2, extensions: 3 }] });

    const result = await migrate(sql);
    expect(result.applied.length).toBeGreaterThanOrEqual(8);
    expect(await snapshot()).toEqual(before);
  });
});
