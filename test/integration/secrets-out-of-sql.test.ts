/**
 * Issue 9 item 6: with log_statement=all, PostgreSQL logs every bind parameter. No statement the store sends
 * may carry the encryption key or a plaintext secret: only ciphertext. Rows pgcrypto wrote stay readable.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { rotateKey } from '../../src/store/secrets.js';
import { createDomain, dropScratch, migratedScratch, type Sql } from '../helpers/db.js';

const KEY = 'out-of-sql-key-Qm3vL8xT2p';
const NEW_KEY = 'out-of-sql-new-key-Wd7kR1nZ5c';
const PLAINTEXT = 'sk-out-of-sql-PLAINTEXT-77aa';

let scratch: { url: string; sql: Sql };
/** Everything the client sent: each statement's text and its parameters, as the server would log them. */
const sent: string[] = [];
let spied: Sql;

beforeAll(async () => {
  // Its own database: rotateKey re-encrypts every domain's rows.
  scratch = await migratedScratch('out_of_sql');
  spied = postgres(scratch.url, {
    max: 2,
    onnotice: () => undefined,
    debug: (_conn, query, params) => {
      sent.push(query);
      for (const p of params as unknown[]) {
        sent.push(Buffer.isBuffer(p) ? p.toString('latin1') : typeof p === 'string' ? p : JSON.stringify(p));
      }
    },
  });
});
afterAll(async () => {
  await spied.end();
  await dropScratch(scratch.url, scratch.sql);
});

function expectNothingSecretSent(): void {
  for (const text of sent) {
    for (const s of [KEY, NEW_KEY, PLAINTEXT]) expect(text).not.toContain(s);
  }
}

describe('secrets are encrypted and decrypted outside SQL', () => {
  it('create, read, update and rotate send neither the key nor the plaintext', async () => {
    const d = await createDomain(scratch.sql);
    const repo = createProvidersRepo(spied);
    sent.length = 0;
    const p = await repo.create(
      d.domain_uuid,
      { provider_type: 'llm', provider_name: 'openai', secrets: { api_key: PLAINTEXT } },
      KEY,
    );
    expect((await repo.getWithSecrets(d.domain_uuid, p.provider_uuid, KEY))?.secrets).toEqual({
      api_key: PLAINTEXT,
    });
    await repo.update(d.domain_uuid, p.provider_uuid, { secrets: { api_key: `${PLAINTEXT}-2` } }, KEY);
    expect(await rotateKey(spied, KEY, NEW_KEY)).toBe(1);
    expect((await repo.getWithSecrets(d.domain_uuid, p.provider_uuid, NEW_KEY))?.secrets).toEqual({
      api_key: `${PLAINTEXT}-2`,
    });
    expect(sent.length).toBeGreaterThan(4);
    expectNothingSecretSent();

    // Still pgcrypto's format: SQL opens it with the key (sent here by the test, not the store).
    const [row] = await scratch.sql<{ t: string }[]>`
      SELECT pgp_sym_decrypt(secrets, ${NEW_KEY}::text) AS t FROM v_voice_ai_providers
      WHERE provider_uuid = ${p.provider_uuid}`;
    expect(JSON.parse(row?.t ?? '')).toEqual({ api_key: `${PLAINTEXT}-2` });
  });

  it('secrets pgp_sym_encrypt wrote before stay readable, and rotate like any other', async () => {
    const d = await createDomain(scratch.sql);
    const repo = createProvidersRepo(spied);
    const p = await repo.create(d.domain_uuid, { provider_type: 'stt', provider_name: 'openai' });
    for (const [options, key] of [
      ['', NEW_KEY],
      ['cipher-algo=aes256, compress-algo=0', NEW_KEY],
      ['compress-algo=2', NEW_KEY],
    ] as const) {
      await scratch.sql`
        UPDATE v_voice_ai_providers
        SET secrets = pgp_sym_encrypt(${JSON.stringify({ api_key: 'sk-old' })}::text, ${key}::text, ${options}::text)
        WHERE provider_uuid = ${p.provider_uuid}`;
      expect((await repo.getWithSecrets(d.domain_uuid, p.provider_uuid, NEW_KEY))?.secrets).toEqual({
        api_key: 'sk-old',
      });
    }
    sent.length = 0;
    expect(await rotateKey(spied, NEW_KEY, KEY)).toBeGreaterThanOrEqual(1);
    expect((await repo.getWithSecrets(d.domain_uuid, p.provider_uuid, KEY))?.secrets).toEqual({
      api_key: 'sk-old',
    });
    expectNothingSecretSent();
  });
});
