import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';

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
