import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type postgres from 'postgres';
import { defaultSqlDir } from './migrations.js';

/**
 * Creates the minimal FusionPBX `v_domains`/`v_dialplans` stand-in (sql/fusionpbx-standin.sql, not a
 * migration) unless the database already has FusionPBX's own `v_domains`. For tests, the demo and benchmarks.
 * Returns true when it created it.
 */
export async function ensureFusionPbxStandIn(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql<
    { exists: boolean }[]
  >`SELECT to_regclass('public.v_domains') IS NOT NULL AS exists`;
  if (row?.exists) return false;
  await sql.unsafe(await readFile(path.join(await defaultSqlDir(), 'fusionpbx-standin.sql'), 'utf8'));
  return true;
}
