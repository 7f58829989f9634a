import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';

export type Sql = postgres.Sql;

/** A client on the shared, migrated test database. Close it in afterAll. */
export function testSql(options: postgres.Options<Record<string, postgres.PostgresType>> = {}): Sql {
  return postgres(inject('databaseUrl'), { max: 5, onnotice: () => undefined, ...options });
}

export interface TestDomain {
  domain_uuid: string;
  domain_name: string;
}

/** Inserts a fresh FusionPBX-shaped domain row, so tests never see each other's data. */
export async function createDomain(sql: Sql, name?: string): Promise<TestDomain> {
  const domain_uuid = randomUUID();
  const domain_name = name ?? `t-${domain_uuid.slice(0, 8)}.example.com`;
  await sql`
    INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled, insert_date)
    VALUES (${domain_uuid}, ${domain_name}, true, now())`;
  return { domain_uuid, domain_name };
}

/** Creates a new empty database on the test server (for migration tests) and returns its URL. */
export async function createScratchDatabase(prefix: string): Promise<string> {
  const adminUrl = inject('adminUrl');
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A new database with FusionPBX's stand-in and our migrations; `before` runs first (to create a table in
 * another shape than the stand-in's). Drop it with dropScratch.
 */
export async function migratedScratch(prefix: string, before?: (sql: Sql) => Promise<unknown>) {
  const url = await createScratchDatabase(prefix);
  const sql = postgres(url, { max: 2, onnotice: () => undefined });
  if (before !== undefined) await before(sql);
  await ensureFusionPbxStandIn(sql);
  await migrate(sql);
  return { url, sql };
}

export async function dropScratch(url: string, sql: Sql): Promise<void> {
  await sql.end({ timeout: 5 });
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  try {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
