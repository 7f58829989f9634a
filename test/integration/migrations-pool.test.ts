import { afterEach, describe, expect, inject, it } from 'vitest';
import type postgres from 'postgres';
import { createPool, type Sql } from '../../src/store/db.js';

const pools: Sql[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end({ timeout: 5 })));
});

function pool(opts: Omit<Parameters<typeof createPool>[0], 'url'> = {}): Sql {
  const sql = createPool({ url: inject('databaseUrl'), max: 1, ...opts });
  pools.push(sql);
  return sql;
}

describe('createPool (the pool migrations and repositories run on)', () => {
  it('sets application_name and a 30 s statement_timeout by default, and keeps snake_case columns', async () => {
    const sql = pool();
    const [row] = await sql<{ application_name: string; statement_timeout: string; some_column: number }[]>`
      SELECT current_setting('application_name') AS application_name,
             current_setting('statement_timeout') AS statement_timeout,
             1 AS some_column`;
    expect(row).toEqual({ application_name: 'voice-ai', statement_timeout: '30s', some_column: 1 });
  });

  it('honours a custom application name and statement timeout, which the server enforces', async () => {
    const sql = pool({ applicationName: 'voice-ai-test', statementTimeoutMs: 50 });
    const [row] = await sql<{ name: string }[]>`SELECT current_setting('application_name') AS name`;
    expect(row?.name).toBe('voice-ai-test');
    await expect(sql`SELECT pg_sleep(5)`).rejects.toMatchObject({ code: '57014' });
  });

  it('routes server notices to onNotice', async () => {
    const notices: postgres.Notice[] = [];
    const sql = pool({ onNotice: (n) => notices.push(n) });
    await sql`DO $$ BEGIN RAISE NOTICE 'hello from the server'; END $$`;
    expect(notices.map((n) => n.message)).toEqual(['hello from the server']);
  });
});
