/**
 * 010 moves the default models off the ones announced for shutdown: new domains are seeded with the new
 * ones, and rows 007 seeded move too unless an operator changed them.
 */
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { OPENAI_DEFAULT_MODELS } from '../../src/providers/openai-compatible.js';
import { shutdownOf } from '../../src/providers/model-shutdowns.js';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';
import { createDomain, createScratchDatabase, testSql, type Sql } from '../helpers/db.js';
import { dropScratch } from './cli-support.js';

const SQL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../sql');
const sql = testSql();
afterAll(async () => {
  await sql.end({ timeout: 5 });
});

type Row = { provider_type: string; provider_name: string; config: Record<string, unknown> };

const rowsOf = (db: Sql, domain: string) => db<(Row & { secrets: Buffer | null; updated_at: Date })[]>`
  SELECT provider_type, provider_name, config, secrets, updated_at FROM v_voice_ai_providers
  WHERE domain_uuid = ${domain} ORDER BY provider_type, priority`;

describe('010 default models', () => {
  it('seeds a new domain with models that have no announced shutdown, the same as the adapter defaults', async () => {
    const d = await createDomain(sql);
    await sql`SELECT v_voice_seed_default_providers(${d.domain_uuid})`;
    const rows = await rowsOf(sql, d.domain_uuid);
    expect(rows.map((r) => [r.provider_type, r.config])).toEqual([
      ['embeddings', { model: 'text-embedding-3-small' }],
      ['llm', { model: 'gpt-5.4-mini' }],
      ['stt', { model: 'gpt-transcribe' }],
      ['tts', { model: 'gpt-realtime-2.1-mini', voice: 'alloy' }],
    ]);
    for (const r of rows) {
      expect(r.config['model']).toBe(
        OPENAI_DEFAULT_MODELS[r.provider_type as keyof typeof OPENAI_DEFAULT_MODELS],
      );
      expect(shutdownOf(r, new Date('2026-12-04T12:00:00Z'))).toBeUndefined();
    }
  });

  it('on a database seeded before 010: untouched seeded rows move, edited ones and other vendors stay', async () => {
    const url = await createScratchDatabase('va_models');
    const db = postgres(url, { max: 2, onnotice: () => undefined });
    const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-sql-'));
    try {
      for (const f of await readdir(SQL_DIR)) {
        const m = /^(\d+)_/.exec(f);
        if (m && Number(m[1]) <= 9) await copyFile(path.join(SQL_DIR, f), path.join(dir, f));
      }
      await ensureFusionPbxStandIn(db);
      await migrate(db, { dir });
      const untouched = await createDomain(db);
      const edited = await createDomain(db);
      for (const d of [untouched, edited]) await db`SELECT v_voice_seed_default_providers(${d.domain_uuid})`;
      // Adding the API key is what every operator does to a seeded row: not an edit of its config.
      await db`UPDATE v_voice_ai_providers SET secrets = '\\x01'::bytea
               WHERE domain_uuid = ${untouched.domain_uuid} AND provider_type = 'stt'`;
      await db`UPDATE v_voice_ai_providers SET config = '{"model": "tts-1", "voice": "nova"}'
               WHERE domain_uuid = ${edited.domain_uuid} AND provider_type = 'tts'`;
      await db`UPDATE v_voice_ai_providers SET config = '{"model": "gpt-4o-mini", "base_url": "https://proxy.example/v1"}'
               WHERE domain_uuid = ${edited.domain_uuid} AND provider_type = 'llm'`;
      await db`UPDATE v_voice_ai_providers SET provider_name = 'groq'
               WHERE domain_uuid = ${edited.domain_uuid} AND provider_type = 'stt'`;
      // The same config on a row that is not the default was the operator's own doing.
      await db`INSERT INTO v_voice_ai_providers (domain_uuid, provider_type, provider_name, config, priority)
               VALUES (${untouched.domain_uuid}, 'llm', 'openai', '{"model": "gpt-4o-mini"}', 200)`;
      await db`UPDATE v_voice_ai_providers SET updated_at = '2025-01-01T00:00:00Z'
               WHERE domain_uuid = ${untouched.domain_uuid}`;
      const result = await migrate(db);
      // 010 and whatever came after it.
      const later = (await readdir(SQL_DIR))
        .map((f) => /^(\d+)_.*\.sql$/.exec(f)?.[1])
        .filter((v): v is string => v !== undefined && Number(v) >= 10)
        .map(Number)
        .sort((x, y) => x - y);
      expect(later[0]).toBe(10);
      expect(result.applied.map((a) => a.version)).toEqual(later);

      const after = await rowsOf(db, untouched.domain_uuid);
      expect(after.map((r) => [r.provider_type, r.config])).toEqual([
        ['embeddings', { model: 'text-embedding-3-small' }],
        ['llm', { model: 'gpt-5.4-mini' }],
        ['llm', { model: 'gpt-4o-mini' }],
        ['stt', { model: 'gpt-transcribe' }],
        ['tts', { model: 'gpt-realtime-2.1-mini', voice: 'alloy' }],
      ]);
      expect(after.find((r) => r.provider_type === 'stt')?.secrets).toEqual(Buffer.from([1]));
      // Moved rows say they changed; the rest keep their time.
      expect(after.map((r) => r.updated_at.getTime() > Date.parse('2025-01-01T00:00:00Z'))).toEqual([
        false,
        true,
        false,
        true,
        true,
      ]);

      expect(
        (await rowsOf(db, edited.domain_uuid)).map((r) => [r.provider_type, r.provider_name, r.config]),
      ).toEqual([
        ['embeddings', 'openai', { model: 'text-embedding-3-small' }],
        ['llm', 'openai', { model: 'gpt-4o-mini', base_url: 'https://proxy.example/v1' }],
        ['stt', 'groq', { model: 'whisper-1' }],
        ['tts', 'openai', { model: 'tts-1', voice: 'nova' }],
      ]);
      expect((await migrate(db)).applied).toEqual([]);
    } finally {
      await dropScratch(url, db);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
