/**
 * The design document (the database playbook) is the schema's spec: its own queries must run verbatim on our
 * tables, on a freshly migrated database, on one that started with the playbook's exact DDL and rows (an
 * installation of the system voice-ai replaces), and on one migrated by the releases before 009.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';
import { createConversationsRepo } from '../../src/store/repos/conversations.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { writeRows } from '../../src/store/rows.js';
import { createDomain, createScratchDatabase, testSql, type Sql } from '../helpers/db.js';
import { conversation } from './write-queue-child-rows.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SQL_DIR = path.join(here, '../../sql');
const PLAYBOOK_DDL = path.join(here, '../fixtures/playbook-schema.sql');

// "Buscar Secretária por Ramal", verbatim.
const SECRETARY_BY_EXTENSION = `SELECT s.*, 
       p_stt.provider_name as stt_provider,
       p_tts.provider_name as tts_provider,
       p_llm.provider_name as llm_provider
FROM v_voice_secretaries s
LEFT JOIN v_voice_ai_providers p_stt ON s.stt_provider_uuid = p_stt.provider_uuid
LEFT JOIN v_voice_ai_providers p_tts ON s.tts_provider_uuid = p_tts.provider_uuid
LEFT JOIN v_voice_ai_providers p_llm ON s.llm_provider_uuid = p_llm.provider_uuid
WHERE s.domain_uuid = $1
  AND s.extension = $2;`;

// "Histórico de Conversas", verbatim.
const HISTORY = `SELECT 
    c.conversation_uuid,
    c.caller_id,
    c.started_at,
    c.ended_at,
    c.resolution,
    s.name as secretary_name,
    COUNT(m.message_uuid) as message_count
FROM v_voice_conversations c
JOIN v_voice_secretaries s ON c.secretary_uuid = s.secretary_uuid
LEFT JOIN v_voice_messages m ON c.conversation_uuid = m.conversation_uuid
WHERE c.domain_uuid = $1
  AND c.started_at >= $2
GROUP BY c.conversation_uuid, s.name
ORDER BY c.started_at DESC;`;

// "Buscar Config de Provider" in its shape here: the secrets have their own column, config stays readable.
const PROVIDER_CONFIG = `SELECT 
    p.provider_uuid,
    p.provider_name,
    p.config,
    pgp_sym_decrypt(p.secrets, current_setting('app.encryption_key'))::json as secrets
FROM v_voice_ai_providers p
WHERE p.domain_uuid = $1
  AND p.provider_type = $2
  AND p.is_enabled = true
ORDER BY p.is_default DESC
LIMIT 1;`;

const KEY = 'playbook-test-key-0123456789abcdef';

interface Seeded {
  domain: string;
  stt: string;
  llm: string;
  secretary: string;
  conversation: string;
}

/** Rows the way the system voice-ai replaces wrote them: through the playbook's columns only. */
async function seedPlaybookRows(sql: Sql, domain: string, duplicates: boolean): Promise<Seeded> {
  const stt = randomUUID();
  const llm = randomUUID();
  const secretary = randomUUID();
  const conv = randomUUID();
  await sql`INSERT INTO v_voice_ai_providers (provider_uuid, domain_uuid, provider_type, provider_name, config,
              is_default, created_at)
            VALUES (${stt}, ${domain}, 'stt', 'openai', '{"model": "whisper-1"}', true, '2025-01-01 08:00'),
                   (${llm}, ${domain}, 'llm', 'openai', '{"model": "gpt-4o-mini"}', true, '2025-01-01 08:00'),
                   (${randomUUID()}, ${domain}, 'llm', 'groq', '{"model": "llama"}', ${duplicates},
                    '2025-02-01 08:00')`;
  await sql`INSERT INTO v_voice_secretaries (secretary_uuid, domain_uuid, name, extension, system_prompt,
              greeting, stt_provider_uuid, llm_provider_uuid, created_at)
            VALUES (${secretary}, ${domain}, 'Recepção', '8000', 'Você é a recepcionista.', 'Olá!', ${stt},
                    ${llm}, '2025-01-02 08:00'),
                   (${randomUUID()}, ${domain}, 'Cópia', ${duplicates ? '8000' : '8001'}, '', '', NULL, NULL,
                    '2025-03-01 08:00')`;
  await sql`INSERT INTO v_voice_conversations (conversation_uuid, domain_uuid, secretary_uuid, caller_id,
              call_uuid, started_at, ended_at, resolution)
            VALUES (${conv}, ${domain}, ${secretary}, '+5511987654321', ${randomUUID()},
                    '2025-05-01 10:00:00', '2025-05-01 10:02:30', 'transferred')`;
  const said = [
    ['user', 'Quero falar com o financeiro', '2025-05-01 10:00:05'],
    ['assistant', 'Um momento, vou transferir.', '2025-05-01 10:00:07'],
  ] as const;
  for (const [i, [role, content, at]] of said.entries()) {
    if (duplicates) {
      // The playbook's columns only (its DDL gives message_uuid a default).
      await sql`INSERT INTO v_voice_messages (conversation_uuid, role, content, created_at)
                VALUES (${conv}, ${role}, ${content}, ${at})`;
    } else {
      await sql`INSERT INTO v_voice_messages (message_uuid, conversation_uuid, domain_uuid, turn, seq, role,
                  content, created_at)
                VALUES (${randomUUID()}, ${conv}, ${domain}, 0, ${i}, ${role}, ${content}, ${at})`;
    }
  }
  return { domain, stt, llm, secretary, conversation: conv };
}

async function scratch(prefix: string): Promise<{ sql: Sql; drop: () => Promise<void> }> {
  const url = await createScratchDatabase(prefix);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  return { sql, drop: () => sql.end({ timeout: 5 }) };
}

async function expectPlaybookQueriesWork(sql: Sql, s: Seeded, messages: number): Promise<void> {
  const secretaries = await sql.unsafe<Record<string, unknown>[]>(SECRETARY_BY_EXTENSION, [s.domain, '8000']);
  const enabled = secretaries.filter((r) => r.is_enabled !== false);
  expect(enabled).toHaveLength(1);
  expect(enabled[0]).toMatchObject({
    secretary_uuid: s.secretary,
    name: 'Recepção',
    extension: '8000',
    stt_provider: 'openai',
    llm_provider: 'openai',
    tts_provider: null,
  });

  const history = await sql.unsafe<Record<string, unknown>[]>(HISTORY, [s.domain, '2025-01-01T00:00:00Z']);
  expect(history).toHaveLength(1);
  expect(history[0]).toMatchObject({
    conversation_uuid: s.conversation,
    caller_id: '+5511987654321',
    resolution: 'transferred',
    secretary_name: 'Recepção',
    message_count: String(messages),
  });

  await sql.unsafe(`SELECT set_config('app.encryption_key', $1, false)`, [KEY]);
  await sql`UPDATE v_voice_ai_providers SET secrets = pgp_sym_encrypt('{"api_key": "sk-test"}', ${KEY})
            WHERE provider_uuid = ${s.llm} AND domain_uuid = ${s.domain}`;
  const [provider] = await sql.unsafe<Record<string, unknown>[]>(PROVIDER_CONFIG, [s.domain, 'llm']);
  expect(provider).toMatchObject({
    provider_uuid: s.llm,
    provider_name: 'openai',
    config: { model: 'gpt-4o-mini' },
    secrets: { api_key: 'sk-test' },
  });
}

describe('the design document queries', () => {
  const shared = testSql();
  afterAll(async () => {
    await shared.end({ timeout: 5 });
  });

  it('run verbatim on a freshly migrated database', async () => {
    const d = await createDomain(shared);
    const rows = await seedPlaybookRows(shared, d.domain_uuid, false);
    await expectPlaybookQueriesWork(shared, rows, 2);
  });

  it('run on a database that started with the playbook DDL; its rows survive and the daemon writes beside them', async () => {
    const { sql, drop } = await scratch('va_playbook');
    try {
      await ensureFusionPbxStandIn(sql);
      await sql.unsafe(await readFile(PLAYBOOK_DDL, 'utf8'));
      const domain = randomUUID();
      await sql`INSERT INTO v_domains (domain_uuid, domain_name) VALUES (${domain}, 'clinica.example.com')`;
      const seeded = await seedPlaybookRows(sql, domain, true);

      const result = await migrate(sql);
      expect(result.applied.map((a) => a.version)).toContain(0);
      await expectPlaybookQueriesWork(sql, seeded, 2);

      // The older of two secretaries on one extension keeps it; the older default llm stays the default.
      const repo = createSecretariesRepo(sql);
      const found = await repo.findByExtension(domain, '8000');
      expect(found).toMatchObject({ secretary_uuid: seeded.secretary, name: 'Recepção', greeting: 'Olá!' });
      const defaults = await sql<{ provider_uuid: string }[]>`
        SELECT provider_uuid FROM v_voice_ai_providers
        WHERE domain_uuid = ${domain} AND provider_type = 'llm' AND is_default`;
      expect(defaults.map((r) => r.provider_uuid)).toEqual([seeded.llm]);

      // The old messages got their domain and an order; the old conversation its duration.
      const messages = await sql<{ domain_uuid: string; seq: number; role: string }[]>`
        SELECT domain_uuid, seq, role FROM v_voice_messages
        WHERE conversation_uuid = ${seeded.conversation} ORDER BY seq`;
      expect(messages).toEqual([
        { domain_uuid: domain, seq: 0, role: 'user' },
        { domain_uuid: domain, seq: 1, role: 'assistant' },
      ]);
      const [old] = await sql<{ duration_seconds: number; total_turns: number }[]>`
        SELECT duration_seconds, total_turns FROM v_voice_conversations
        WHERE conversation_uuid = ${seeded.conversation} AND domain_uuid = ${domain}`;
      expect(old).toEqual({ duration_seconds: 150, total_turns: 0 });

      // The daemon's own writes land in the adopted tables, and its history reads both.
      const fresh = conversation(domain, 3);
      await writeRows(sql, fresh.items);
      const history = await createConversationsRepo(sql).history(domain, { since: new Date('2024-01-01') });
      expect(history.map((h) => h.conversation_uuid).sort()).toEqual(
        [seeded.conversation, fresh.uuid].sort(),
      );

      // New rows are held to our constraints even where old ones were not validated.
      await expect(
        sql`INSERT INTO v_voice_conversations (conversation_uuid, domain_uuid, call_uuid, resolution)
            VALUES (${randomUUID()}, ${domain}, 'x', 'abandoned')`,
      ).rejects.toThrow(/resolution_check/);
      await expect(
        sql`UPDATE v_voice_secretaries SET max_call_seconds = 5 WHERE secretary_uuid = ${seeded.secretary}`,
      ).rejects.toThrow(/v_voice_secretaries_max_call_seconds_check/);

      // Migrating again is a no-op.
      expect((await migrate(sql)).applied).toEqual([]);
    } finally {
      await drop();
    }
  });

  it('run on a database migrated by the releases before 009, with its rows renamed in place', async () => {
    const { sql, drop } = await scratch('va_upgrade');
    const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-sql-'));
    try {
      for (const f of await readdir(SQL_DIR)) {
        const m = /^(\d+)_/.exec(f);
        if (m && Number(m[1]) >= 1 && Number(m[1]) <= 8)
          await copyFile(path.join(SQL_DIR, f), path.join(dir, f));
      }
      await ensureFusionPbxStandIn(sql);
      await migrate(sql, { dir });
      const domain = randomUUID();
      await sql`INSERT INTO v_domains (domain_uuid, domain_name) VALUES (${domain}, 'escritorio.example.com')`;
      const secretary = randomUUID();
      const conv = randomUUID();
      await sql`INSERT INTO v_voice_secretaries (voice_secretary_uuid, domain_uuid, secretary_name, extension)
                VALUES (${secretary}, ${domain}, 'Recepção', '8000')`;
      await sql`INSERT INTO v_voice_conversations (voice_conversation_uuid, domain_uuid, voice_secretary_uuid,
                  call_uuid, caller_id_number, started_at, ended_at, resolution)
                VALUES (${conv}, ${domain}, ${secretary}, 'c1', '+5511987654321', '2025-05-01T10:00:00Z',
                        '2025-05-01T10:02:30Z', 'transferred')`;
      await sql`INSERT INTO v_voice_messages (voice_message_uuid, voice_conversation_uuid, domain_uuid, turn, role,
                  content)
                VALUES (${randomUUID()}, ${conv}, ${domain}, 0, 'user', 'Oi')`;

      const result = await migrate(sql);
      // 000 came after 001-008 here: it sees a ledger and leaves the tables alone; 009 renames.
      expect(result.applied.map((a) => a.version)).toEqual(expect.arrayContaining([0, 9]));
      const history = await sql.unsafe<Record<string, unknown>[]>(HISTORY, [domain, '2025-01-01T00:00:00Z']);
      expect(history).toEqual([
        expect.objectContaining({ conversation_uuid: conv, caller_id: '+5511987654321', message_count: '1' }),
      ]);
      // The change trigger reads the renamed key.
      await sql`UPDATE v_voice_secretaries SET greeting = 'Olá' WHERE secretary_uuid = ${secretary}`;
    } finally {
      await drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
