import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { delay } from '../../src/core/abort.js';
import { createDomain, testSql } from '../helpers/db.js';

const sql = testSql();
afterAll(async () => {
  await sql.end({ timeout: 5 });
});

describe('007 v_voice_seed_default_providers', () => {
  it('seeds four default providers once, with no secrets', async () => {
    const d = await createDomain(sql);
    const [first] = await sql<{ n: number }[]>`SELECT v_voice_seed_default_providers(${d.domain_uuid}) AS n`;
    const [second] = await sql<{ n: number }[]>`SELECT v_voice_seed_default_providers(${d.domain_uuid}) AS n`;
    expect(first?.n).toBe(4);
    expect(second?.n).toBe(0);

    const rows = await sql<
      {
        provider_type: string;
        provider_name: string;
        is_default: boolean;
        secrets: Buffer | null;
        config: object;
      }[]
    >`
      SELECT provider_type, provider_name, is_default, secrets, config
      FROM v_voice_ai_providers WHERE domain_uuid = ${d.domain_uuid} ORDER BY provider_type`;
    expect(rows.map((r) => r.provider_type)).toEqual(['embeddings', 'llm', 'stt', 'tts']);
    for (const r of rows) {
      expect(r).toMatchObject({ provider_name: 'openai', is_default: true, secrets: null });
      expect(JSON.stringify(r.config)).not.toMatch(/key|token|secret|password|sk-/i);
    }
  });

  it('leaves a type alone when the domain already has a default for it', async () => {
    const d = await createDomain(sql);
    await sql`
      INSERT INTO v_voice_ai_providers (domain_uuid, provider_type, provider_name, is_default)
      VALUES (${d.domain_uuid}, 'llm', 'anthropic', true)`;
    const [seeded] = await sql<{ n: number }[]>`SELECT v_voice_seed_default_providers(${d.domain_uuid}) AS n`;
    expect(seeded?.n).toBe(3);
    const llm = await sql<{ provider_name: string }[]>`
      SELECT provider_name FROM v_voice_ai_providers WHERE domain_uuid = ${d.domain_uuid} AND provider_type = 'llm'`;
    expect(llm.map((r) => r.provider_name)).toEqual(['anthropic']);
  });

  it('refuses a domain that is not in v_domains', async () => {
    await expect(sql`SELECT v_voice_seed_default_providers(${randomUUID()})`).rejects.toThrow(
      /does not exist in v_domains/,
    );
  });

  it('two daemons seeding one domain at once: both succeed, four rows', async () => {
    const d = await createDomain(sql);
    const other = testSql({ max: 1 });
    try {
      let otherPid = 0;
      let second: Promise<{ n: number }[]> | undefined;
      const first = await sql.begin(async (tx) => {
        const [row] = await tx<{ n: number }[]>`SELECT v_voice_seed_default_providers(${d.domain_uuid}) AS n`;
        const [pid] = await other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        otherPid = pid?.pid ?? 0;
        // The second seed cannot see the uncommitted rows and must wait on the unique index.
        second = other<
          { n: number }[]
        >`SELECT v_voice_seed_default_providers(${d.domain_uuid}) AS n`.execute();
        for (;;) {
          const [w] = await tx<{ waiting: boolean }[]>`
            SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = ${otherPid}`;
          if (w?.waiting) break;
          await delay(10);
        }
        return row?.n;
      });
      expect(first).toBe(4);
      const [row] = await (second ?? Promise.reject(new Error('second seed never started')));
      expect(row?.n).toBe(0);
      const [count] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM v_voice_ai_providers WHERE domain_uuid = ${d.domain_uuid}`;
      expect(count?.n).toBe(4);
    } finally {
      await other.end({ timeout: 5 });
    }
  });
});

describe('unique indexes', () => {
  it('one default provider per (domain, type); non-defaults and other domains are free', async () => {
    const d = await createDomain(sql);
    const e = await createDomain(sql);
    const insert = (domain: string, isDefault: boolean) => sql`
      INSERT INTO v_voice_ai_providers (domain_uuid, provider_type, provider_name, is_default)
      VALUES (${domain}, 'tts', 'openai', ${isDefault})`;
    await insert(d.domain_uuid, true);
    await expect(insert(d.domain_uuid, true)).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'v_voice_ai_providers_one_default',
    });
    await insert(d.domain_uuid, false);
    await insert(d.domain_uuid, false);
    await insert(e.domain_uuid, true);
    const [n] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM v_voice_ai_providers WHERE domain_uuid = ${d.domain_uuid}`;
    expect(n?.n).toBe(3);
  });

  it('one enabled secretary per (domain, extension); a disabled one may share it', async () => {
    const d = await createDomain(sql);
    const insert = (extension: string, enabled: boolean) => sql<{ secretary_uuid: string }[]>`
      INSERT INTO v_voice_secretaries (domain_uuid, name, extension, is_enabled)
      VALUES (${d.domain_uuid}, 'Reception', ${extension}, ${enabled})
      RETURNING secretary_uuid`;
    await insert('8000', true);
    await expect(insert('8000', true)).rejects.toMatchObject({
      code: '23505',
      constraint_name: 'v_voice_secretaries_enabled_extension_uq',
    });
    const [disabled] = await insert('8000', false);
    await insert('8001', true);
    // Enabling the disabled twin collides too.
    await expect(
      sql`UPDATE v_voice_secretaries SET is_enabled = true
          WHERE secretary_uuid = ${disabled?.secretary_uuid ?? ''}`,
    ).rejects.toMatchObject({ code: '23505' });
    // Another domain may use the same extension.
    const e = await createDomain(sql);
    await sql`
      INSERT INTO v_voice_secretaries (domain_uuid, name, extension)
      VALUES (${e.domain_uuid}, 'Reception', '8000')`;
  });
});

describe('008 change notifications', () => {
  /** Collects voice_ai_changes payloads mentioning `needle`, until a sentinel we send says all have arrived. */
  async function captureChanges(needle: string, action: () => Promise<unknown>): Promise<string[]> {
    const got: string[] = [];
    const sentinel = `sentinel:${randomUUID()}`;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const listener = await sql.listen('voice_ai_changes', (payload) => {
      if (payload === sentinel) done();
      else if (payload.includes(needle)) got.push(payload);
    });
    try {
      await action();
      // Notifications of one session arrive in commit order, so the sentinel comes after the action's.
      await sql`SELECT pg_notify('voice_ai_changes', ${sentinel})`;
      await finished;
    } finally {
      await listener.unlisten();
    }
    return got;
  }

  it("an UPDATE of a secretary notifies '<table>:<domain_uuid>:<uuid>'", async () => {
    const d = await createDomain(sql);
    const [s] = await sql<{ secretary_uuid: string }[]>`
      INSERT INTO v_voice_secretaries (domain_uuid, name, extension)
      VALUES (${d.domain_uuid}, 'Reception', '8100') RETURNING secretary_uuid`;
    const uuid = s?.secretary_uuid ?? '';
    const got = await captureChanges(
      uuid,
      () => sql`UPDATE v_voice_secretaries SET greeting = 'Hello' WHERE secretary_uuid = ${uuid}`,
    );
    expect(got).toEqual([`v_voice_secretaries:${d.domain_uuid}:${uuid}`]);
  });

  it('providers notify too, and a row moved to another domain notifies both domains', async () => {
    const d = await createDomain(sql);
    const e = await createDomain(sql);
    const [p] = await sql<{ provider_uuid: string }[]>`
      INSERT INTO v_voice_ai_providers (domain_uuid, provider_type, provider_name)
      VALUES (${d.domain_uuid}, 'llm', 'openai') RETURNING provider_uuid`;
    const uuid = p?.provider_uuid ?? '';
    const updated = await captureChanges(
      uuid,
      () => sql`UPDATE v_voice_ai_providers SET domain_uuid = ${e.domain_uuid} WHERE provider_uuid = ${uuid}`,
    );
    expect(updated).toEqual([
      `v_voice_ai_providers:${e.domain_uuid}:${uuid}`,
      `v_voice_ai_providers:${d.domain_uuid}:${uuid}`,
    ]);
    const deleted = await captureChanges(
      uuid,
      () => sql`DELETE FROM v_voice_ai_providers WHERE provider_uuid = ${uuid}`,
    );
    expect(deleted).toEqual([`v_voice_ai_providers:${e.domain_uuid}:${uuid}`]);
  });
});
