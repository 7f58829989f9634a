import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import type { Sql } from '../helpers/db.js';
import { CLI_KEY, dropScratch, migratedScratch, runCli } from './cli-support.js';

// rotateKey re-encrypts every domain's rows: it gets a database of its own.
let db: { url: string; sql: Sql };
let dir: string;
const NEW_KEY = 'the-new-key-ZZ0123456789';

beforeAll(async () => {
  db = await migratedScratch('cli_rotate');
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-cli-rotate-'));
});

afterAll(async () => {
  await dropScratch(db.url, db.sql);
  await rm(dir, { recursive: true, force: true });
});

const env = (key: string | undefined) => ({
  DATABASE_URL: db.url,
  VOICE_AI_ENCRYPTION_KEY: key,
  VOICE_AI_LOG_LEVEL: 'warn',
});

describe('voice-ai providers rotate-key', () => {
  it('re-encrypts every secret with the key from the file, in one go', async () => {
    const domainUuid = randomUUID();
    await db.sql`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES (${domainUuid}, 'rotate.example.com', true)`;
    const repo = createProvidersRepo(db.sql);
    const a = await repo.create(
      domainUuid,
      { provider_type: 'llm', provider_name: 'openai', secrets: { api_key: 'one' } },
      CLI_KEY,
    );
    const b = await repo.create(
      domainUuid,
      { provider_type: 'stt', provider_name: 'groq', secrets: { api_key: 'two' } },
      CLI_KEY,
    );
    const keyFile = path.join(dir, 'new.key');
    await writeFile(keyFile, `${NEW_KEY}\n`, { mode: 0o600 });

    const r = await runCli(['providers', 'rotate-key', '--new-key-file', keyFile], env(CLI_KEY));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('re-encrypted the secrets of 2 provider(s)');
    expect((await repo.getWithSecrets(domainUuid, a.provider_uuid, NEW_KEY))?.secrets).toEqual({
      api_key: 'one',
    });
    expect((await repo.getWithSecrets(domainUuid, b.provider_uuid, NEW_KEY))?.secrets).toEqual({
      api_key: 'two',
    });

    // The old key is now the wrong one: nothing changes and the message names a row.
    const wrong = await runCli(['providers', 'rotate-key', '--new-key-file', keyFile], env(CLI_KEY));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^voice-ai providers: cannot decrypt the secrets of provider .* wrong key/);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect((await repo.getWithSecrets(domainUuid, a.provider_uuid, NEW_KEY))?.secrets).toEqual({
      api_key: 'one',
    });
  });

  it('refuses a missing file, a short key, the same key or no configured key (exit 2)', async () => {
    const short = path.join(dir, 'short.key');
    await writeFile(short, 'short');
    const same = path.join(dir, 'same.key');
    await writeFile(same, CLI_KEY);
    const cases: [string[], string | undefined, RegExp][] = [
      [['--new-key-file', path.join(dir, 'absent.key')], CLI_KEY, /cannot read .*absent\.key: ENOENT/],
      [['--new-key-file', short], CLI_KEY, /at least 16 characters/],
      [['--new-key-file', same], CLI_KEY, /the new key is the current key/],
      [['--new-key-file', same], undefined, /VOICE_AI_ENCRYPTION_KEY .* is required/],
      [[], CLI_KEY, /--new-key-file is required/],
    ];
    for (const [args, key, message] of cases) {
      const r = await runCli(['providers', 'rotate-key', ...args], env(key));
      expect(r.code, String(message)).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
