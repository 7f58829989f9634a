import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SecretKeyError } from '../../src/core/errors.js';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { rotateKey } from '../../src/store/secrets.js';
import { createDomain, createScratchDatabase, testSql, type Sql } from '../helpers/db.js';

const KEY = 'first-key-Zq8fW2pLx7';
const NEW_KEY = 'second-key-Yt5vB9mKc3';
const OTHER_KEY = 'third-key-Hn4sD6jRw1';
const PLAINTEXT = 'sk-live-PLAINTEXT-4f9a8b7c6d5e';

const sql = testSql();
// debug: true makes postgres.js attach query parameters to errors as *enumerable* properties: the worst case.
const debugSql = testSql({ debug: true });
const providers = createProvidersRepo(sql);

/** Every way an error could end up in a log line or a bug report. */
function renderings(err: unknown): string[] {
  const e = err as Error;
  return [
    e.message,
    String(e.stack),
    JSON.stringify(err),
    JSON.stringify(pino.stdSerializers.err(e)),
    inspect(err, { showHidden: true, depth: 8 }),
  ];
}

function expectNoLeak(err: unknown, ...secrets: string[]): void {
  for (const text of renderings(err)) for (const s of secrets) expect(text).not.toContain(s);
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

afterAll(async () => {
  await Promise.all([sql.end(), debugSql.end()]);
});

describe('provider secrets at rest', () => {
  it('stores ciphertext only: no plaintext, base64 or hex of it in the bytea', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const secrets = { api_key: PLAINTEXT };
    const p = await providers.create(d, { provider_type: 'llm', provider_name: 'openai', secrets }, KEY);
    const [row] = await sql<{ secrets: Buffer }[]>`
      SELECT secrets FROM v_voice_ai_providers WHERE provider_uuid = ${p.provider_uuid}`;
    const stored = row?.secrets;
    expect(stored).toBeInstanceOf(Buffer);
    const views = [stored!.toString('latin1'), stored!.toString('hex'), stored!.toString('base64')];
    const needles = [PLAINTEXT, JSON.stringify(secrets)].flatMap((s) => [
      s,
      Buffer.from(s).toString('hex'),
      Buffer.from(s).toString('base64'),
    ]);
    for (const view of views) for (const n of needles) expect(view).not.toContain(n);
    expect((await providers.getWithSecrets(d, p.provider_uuid, KEY))?.secrets).toEqual(secrets);
  });

  it('a wrong key gives a SecretKeyError naming the provider, never the key', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const p = await providers.create(
      d,
      { provider_type: 'tts', provider_name: 'eleven', secrets: { api_key: PLAINTEXT } },
      KEY,
    );
    const repo = createProvidersRepo(debugSql);
    const err = await caught(repo.getWithSecrets(d, p.provider_uuid, OTHER_KEY));
    expect(err).toBeInstanceOf(SecretKeyError);
    const e = err as SecretKeyError;
    expect(e.code).toBe('E_SECRET_KEY');
    expect(e.providerUuid).toBe(p.provider_uuid);
    expect(e.message).toContain(p.provider_uuid);
    expect(e.message).toContain('eleven');
    expect(e.message).toContain('tts');
    expectNoLeak(err, OTHER_KEY, KEY, PLAINTEXT);
  });

  it('a missing key is a clear SecretKeyError for a row with secrets, and no error for one without', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const p = await providers.create(
      d,
      { provider_type: 'llm', provider_name: 'x', secrets: { api_key: 'k' } },
      KEY,
    );
    const err = await caught(providers.getWithSecrets(d, p.provider_uuid, ''));
    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as SecretKeyError).providerUuid).toBe(p.provider_uuid);
    expect((err as Error).message).toMatch(/no secrets encryption key configured/);
    const plain = await providers.create(d, { provider_type: 'stt', provider_name: 'local' });
    expect((await providers.getWithSecrets(d, plain.provider_uuid, ''))?.secrets).toBeNull();
  });

  it('database errors of queries carrying the key or plaintext are scrubbed of both', async () => {
    const repo = createProvidersRepo(debugSql);
    // No such domain: a foreign-key violation raised by the INSERT that carries the key and the JSON.
    const err = await caught(
      repo.create(
        randomUUID(),
        { provider_type: 'llm', provider_name: 'x', secrets: { api_key: PLAINTEXT } },
        KEY,
      ),
    );
    expect((err as { code?: string }).code).toBe('23503');
    expectNoLeak(err, KEY, PLAINTEXT);
  });
});

describe('key rotation (own database: it touches every domain)', () => {
  let url: string;
  let db: Sql;

  beforeAll(async () => {
    url = await createScratchDatabase('secrets_rotation');
    db = postgres(url, { max: 3, onnotice: () => undefined });
    await ensureFusionPbxStandIn(db);
    await migrate(db);
  });

  afterAll(async () => {
    await db.end();
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
    await admin.end();
  });

  it('re-encrypts every domain in one go; rows open with the new key and not the old', async () => {
    const repo = createProvidersRepo(db);
    const a = await createDomain(db);
    const b = await createDomain(db);
    const pa = await repo.create(
      a.domain_uuid,
      { provider_type: 'llm', provider_name: 'o', secrets: { k: 'a' } },
      KEY,
    );
    const pb = await repo.create(
      b.domain_uuid,
      { provider_type: 'llm', provider_name: 'o', secrets: { k: 'b' } },
      KEY,
    );
    const none = await repo.create(b.domain_uuid, { provider_type: 'tts', provider_name: 'plain' });

    expect(await rotateKey(db, KEY, NEW_KEY)).toBe(2);

    expect((await repo.getWithSecrets(a.domain_uuid, pa.provider_uuid, NEW_KEY))?.secrets).toEqual({
      k: 'a',
    });
    expect((await repo.getWithSecrets(b.domain_uuid, pb.provider_uuid, NEW_KEY))?.secrets).toEqual({
      k: 'b',
    });
    expect((await repo.getWithSecrets(b.domain_uuid, none.provider_uuid, NEW_KEY))?.secrets).toBeNull();
    const err = await caught(repo.getWithSecrets(a.domain_uuid, pa.provider_uuid, KEY));
    expect(err).toBeInstanceOf(SecretKeyError);
  });

  it('changes nothing when one row does not open, and names that row', async () => {
    const repo = createProvidersRepo(db);
    const c = await createDomain(db);
    const good = await repo.create(
      c.domain_uuid,
      { provider_type: 'stt', provider_name: 'good', secrets: { k: 'g' } },
      NEW_KEY,
    );
    const odd = await repo.create(
      c.domain_uuid,
      { provider_type: 'stt', provider_name: 'odd-one', secrets: { k: 'o' } },
      OTHER_KEY,
    );
    const before = await db<{ provider_uuid: string; secrets: Buffer }[]>`
      SELECT provider_uuid, secrets FROM v_voice_ai_providers WHERE secrets IS NOT NULL ORDER BY provider_uuid`;

    const debugDb = postgres(url, { max: 1, debug: true, onnotice: () => undefined });
    const err = await caught(rotateKey(debugDb, NEW_KEY, 'fourth-key-Pp0oI9uU8y'));
    await debugDb.end();

    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as SecretKeyError).providerUuid).toBe(odd.provider_uuid);
    expect((err as Error).message).toContain('odd-one');
    expectNoLeak(err, NEW_KEY, 'fourth-key-Pp0oI9uU8y', OTHER_KEY);

    const after = await db<{ provider_uuid: string; secrets: Buffer }[]>`
      SELECT provider_uuid, secrets FROM v_voice_ai_providers WHERE secrets IS NOT NULL ORDER BY provider_uuid`;
    expect(after).toEqual(before);
    expect((await repo.getWithSecrets(c.domain_uuid, good.provider_uuid, NEW_KEY))?.secrets).toEqual({
      k: 'g',
    });
  });

  it('refuses an empty key', async () => {
    await expect(rotateKey(db, '', NEW_KEY)).rejects.toBeInstanceOf(SecretKeyError);
    await expect(rotateKey(db, NEW_KEY, '')).rejects.toBeInstanceOf(SecretKeyError);
  });
});
