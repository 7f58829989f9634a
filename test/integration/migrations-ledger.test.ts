import { appendFile, copyFile, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { MigrationError } from '../../src/core/errors.js';
import { migrate, migrationStatus } from '../../src/store/migrations.js';
import { createScratchDatabase, type Sql } from '../helpers/db.js';

const sqlDir = fileURLToPath(new URL('../../sql/', import.meta.url));
const silent = (): void => undefined;
const clients: Sql[] = [];
const databases: string[] = [];
const dirs: string[] = [];
/** The versions the repository ships, in order: the tests' own files come after them (900 and up). */
const shipped = (await readdir(sqlDir))
  .map((f) => /^(\d+)_.+\.sql$/.exec(f)?.[1])
  .filter((v): v is string => v !== undefined)
  .map(Number)
  .sort((a, b) => a - b);

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
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

let dir: string;
let sql: Sql;

/** Each test: a copy of sql/ in a temp folder and a fresh FusionPBX-like database migrated from it. */
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-migrations-'));
  dirs.push(dir);
  for (const f of await readdir(sqlDir)) {
    if (/^\d+_.+\.sql$/.test(f)) await copyFile(path.join(sqlDir, f), path.join(dir, f));
  }
  const url = await createScratchDatabase('mig_ledger');
  databases.push(url);
  sql = postgres(url, { max: 2, onnotice: silent });
  clients.push(sql);
  await sql.unsafe(await readFile(path.join(sqlDir, 'fusionpbx-standin.sql'), 'utf8'));
  const first = await migrate(sql, { dir });
  expect(first.applied.map((a) => a.version)).toEqual(shipped);
});

async function ledgerRows(): Promise<{ version: number; checksum: string }[]> {
  return [
    ...(await sql<{ version: number; checksum: string }[]>`
    SELECT version, checksum FROM v_voice_schema_migrations ORDER BY version`),
  ];
}

async function tableExists(name: string): Promise<boolean> {
  const [row] = await sql<{ exists: boolean }[]>`SELECT to_regclass(${name}) IS NOT NULL AS exists`;
  return row?.exists ?? false;
}

describe('an applied migration edited on disk', () => {
  it('is reported with E_MIGRATION_CHECKSUM listing the versions, and nothing else is applied', async () => {
    const ledgerBefore = await ledgerRows();
    await appendFile(path.join(dir, '003_conversations.sql'), '\n-- edited after release\n');
    await appendFile(
      path.join(dir, '005_transfer_rules.sql'),
      '\nCREATE INDEX IF NOT EXISTS x ON v_voice_transfer_rules (department);\n',
    );
    await writeFile(path.join(dir, '900_extra.sql'), 'CREATE TABLE v_voice_extra (id integer);\n');

    const err = await migrate(sql, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: 'E_MIGRATION_CHECKSUM' });
    const message = (err as Error).message;
    expect(message).toContain('003_conversations.sql (version 3)');
    expect(message).toContain('005_transfer_rules.sql (version 5)');
    expect(message).not.toContain('version 4');

    // Not re-run, and the pending 900 was not applied either.
    expect(await tableExists('v_voice_extra')).toBe(false);
    const [idx] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'x'`;
    expect(idx?.n).toBe(0);
    expect(await ledgerRows()).toEqual(ledgerBefore);

    const status = await migrationStatus(sql, { dir });
    expect(status.map((s) => [s.version, s.state])).toEqual([
      ...shipped.map((v) => [v, v === 3 || v === 5 ? 'changed' : 'applied']),
      [900, 'pending'],
    ]);
    expect(status.find((s) => s.version === 3)?.appliedAt).toBeInstanceOf(Date);
    expect(status.find((s) => s.version === 900)?.appliedAt).toBeUndefined();
  });
});

describe('a ledger entry whose file is gone', () => {
  it('is a warning, not a failure; new files are still applied', async () => {
    await unlink(path.join(dir, '006_messages.sql'));
    await writeFile(path.join(dir, '900_extra.sql'), 'CREATE TABLE v_voice_extra (id integer);\n');

    const status = await migrationStatus(sql, { dir });
    expect(status.find((s) => s.version === 6)).toMatchObject({ name: 'messages', state: 'missing_file' });

    const logged: { msg: string; fields: object | undefined }[] = [];
    const result = await migrate(sql, { dir, log: (msg, fields) => logged.push({ msg, fields }) });
    expect(result.applied.map((a) => [a.version, a.name])).toEqual([[900, 'extra']]);
    expect(result.alreadyApplied).toBe(shipped.length - 1);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/migration 6 \(messages\).*file is missing/);
    expect(logged).toContainEqual({
      msg: 'migration file missing',
      fields: { version: 6, name: 'messages' },
    });
    expect(await tableExists('v_voice_extra')).toBe(true);
  });
});

describe('a migration that fails', () => {
  it('rolls back that file alone, reports it, releases the lock, and applies once fixed', async () => {
    const bad = path.join(dir, '900_broken.sql');
    await writeFile(bad, 'CREATE TABLE v_voice_half (id integer);\nSELECT 1 / 0;\n');
    await writeFile(path.join(dir, '901_after.sql'), 'CREATE TABLE v_voice_after (id integer);\n');

    const err = await migrate(sql, { dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_MIGRATION' });
    expect((err as Error).message).toContain('900_broken.sql failed: division by zero');
    expect(await tableExists('v_voice_half')).toBe(false);
    expect(await tableExists('v_voice_after')).toBe(false);
    expect((await ledgerRows()).map((r) => r.version)).toEqual(shipped);

    await writeFile(bad, 'CREATE TABLE v_voice_half (id integer);\n');
    const result = await migrate(sql, { dir });
    expect(result.applied.map((a) => a.version)).toEqual([900, 901]);
    expect(await tableExists('v_voice_half')).toBe(true);
  });

  it('two files with one version are refused before touching the database', async () => {
    await writeFile(path.join(dir, '003_other.sql'), 'CREATE TABLE v_voice_other (id integer);\n');
    await expect(migrate(sql, { dir })).rejects.toMatchObject({
      code: 'E_MIGRATION',
      message: expect.stringContaining('share version 3') as unknown,
    });
    expect(await tableExists('v_voice_other')).toBe(false);
  });
});
