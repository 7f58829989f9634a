import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError, SecretKeyError } from '../../src/core/errors.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createDomain, testSql } from '../helpers/db.js';

const sql = testSql();
const providers = createProvidersRepo(sql);
const KEY = 'providers-test-key-0123456789';

afterAll(async () => {
  await sql.end();
});

describe('providers repository', () => {
  it('lists enabled providers of a type: default first, then priority, then age', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const late = await providers.create(d, { provider_type: 'llm', provider_name: 'late', priority: 10 });
    const low = await providers.create(d, { provider_type: 'llm', provider_name: 'low', priority: 50 });
    const def = await providers.create(d, {
      provider_type: 'llm',
      provider_name: 'def',
      priority: 90,
      is_default: true,
    });
    await providers.create(d, { provider_type: 'llm', provider_name: 'off', priority: 1, is_enabled: false });
    await providers.create(d, { provider_type: 'tts', provider_name: 'other-type' });
    const early = await providers.create(d, { provider_type: 'llm', provider_name: 'early', priority: 10 });
    await sql`UPDATE v_voice_ai_providers SET created_at = now() - interval '1 day' WHERE provider_uuid = ${early.provider_uuid}`;

    const names = (await providers.listEnabledForType(d, 'llm')).map((p) => p.provider_name);
    expect(names).toEqual([def.provider_name, 'early', late.provider_name, low.provider_name]);
  });

  it('never returns secrets from list/find, only has_secrets', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const p = await providers.create(
      d,
      { provider_type: 'stt', provider_name: 'deepgram', secrets: { api_key: 'sk-1' } },
      KEY,
    );
    const q = await providers.create(d, { provider_type: 'stt', provider_name: 'whisper' });
    expect(p.has_secrets).toBe(true);
    expect(q.has_secrets).toBe(false);
    const listed = await providers.list(d);
    expect(listed.map((r) => r.has_secrets).sort()).toEqual([false, true]);
    for (const row of [...listed, await providers.findByUuid(d, p.provider_uuid)]) {
      expect(Object.keys(row ?? {})).not.toContain('secrets');
      expect(JSON.stringify(row)).not.toContain('sk-1');
    }
  });

  it('decrypts with getWithSecrets and replaces or removes secrets on update', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const p = await providers.create(
      d,
      { provider_type: 'tts', provider_name: 'eleven', config: { voice: 'x' }, secrets: { api_key: 'a' } },
      KEY,
    );
    expect((await providers.getWithSecrets(d, p.provider_uuid, KEY))?.secrets).toEqual({ api_key: 'a' });

    await providers.update(
      d,
      p.provider_uuid,
      { secrets: { api_key: 'b', org: 'o' }, config: { voice: 'y' } },
      KEY,
    );
    const changed = await providers.getWithSecrets(d, p.provider_uuid, KEY);
    expect(changed?.secrets).toEqual({ api_key: 'b', org: 'o' });
    expect(changed?.config).toEqual({ voice: 'y' });

    await providers.update(d, p.provider_uuid, { priority: 7 });
    expect((await providers.getWithSecrets(d, p.provider_uuid, KEY))?.secrets).toEqual({
      api_key: 'b',
      org: 'o',
    });

    const cleared = await providers.update(d, p.provider_uuid, { secrets: null });
    expect(cleared?.has_secrets).toBe(false);
    expect((await providers.getWithSecrets(d, p.provider_uuid, KEY))?.secrets).toBeNull();
  });

  it('setting a default clears the previous default of that domain and type only', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const a = await providers.create(d, { provider_type: 'llm', provider_name: 'a', is_default: true });
    const b = await providers.create(d, { provider_type: 'llm', provider_name: 'b' });
    const t = await providers.create(d, { provider_type: 'tts', provider_name: 't', is_default: true });

    const updated = await providers.update(d, b.provider_uuid, { is_default: true });
    expect(updated?.is_default).toBe(true);
    expect((await providers.findByUuid(d, a.provider_uuid))?.is_default).toBe(false);
    expect((await providers.findByUuid(d, t.provider_uuid))?.is_default).toBe(true);

    const c = await providers.create(d, { provider_type: 'llm', provider_name: 'c', is_default: true });
    const defaults = (await providers.list(d, { type: 'llm' })).filter((p) => p.is_default);
    expect(defaults.map((p) => p.provider_uuid)).toEqual([c.provider_uuid]);
  });

  it('removes, and reports unknown rows as undefined/false', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const p = await providers.create(d, { provider_type: 'embeddings', provider_name: 'e' });
    expect(await providers.remove(d, p.provider_uuid)).toBe(true);
    expect(await providers.remove(d, p.provider_uuid)).toBe(false);
    expect(await providers.update(d, p.provider_uuid, { priority: 1 })).toBeUndefined();
    expect(await providers.findByUuid(d, p.provider_uuid)).toBeUndefined();
    expect(await providers.getWithSecrets(d, p.provider_uuid, KEY)).toBeUndefined();
  });

  it('rejects bad input and missing keys before touching the database', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    await expect(
      providers.create(d, { provider_type: 'llm', provider_name: 'Bad Name' }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      providers.create(d, { provider_type: 'llm', provider_name: 'x', secrets: { api_key: 'k' } }),
    ).rejects.toBeInstanceOf(SecretKeyError);
    await expect(
      providers.create(d, { provider_type: 'llm', provider_name: 'x', secrets: { api_key: 'k' } }, ''),
    ).rejects.toBeInstanceOf(SecretKeyError);
    await expect(
      providers.create(d, { provider_type: 'llm', provider_name: 'x', secrets: { n: 1 } as never }, KEY),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(await providers.list(d)).toEqual([]);
  });

  it('works inside a caller transaction, which can roll it back', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    await sql
      .begin(async (tx) => {
        const repo = createProvidersRepo(tx);
        await repo.create(d, { provider_type: 'llm', provider_name: 'a', is_default: true });
        await repo.create(d, { provider_type: 'llm', provider_name: 'b', is_default: true });
        expect((await repo.list(d)).filter((p) => p.is_default)).toHaveLength(1);
        throw new Error('rollback');
      })
      .catch(() => undefined);
    expect(await providers.list(d)).toEqual([]);
  });
});
