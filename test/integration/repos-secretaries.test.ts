import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql } from '../helpers/db.js';

const sql = testSql();
const secretaries = createSecretariesRepo(sql);
const providers = createProvidersRepo(sql);

afterAll(async () => {
  await sql.end();
});

describe('secretaries repository', () => {
  it('finds the enabled secretary of an extension with its providers’ names', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const stt = await providers.create(d, { provider_type: 'stt', provider_name: 'deepgram' });
    const llm = await providers.create(d, { provider_type: 'llm', provider_name: 'openai' });
    const s = await secretaries.create(d, {
      name: 'Ana',
      extension: '8000',
      greeting: 'Olá',
      stt_provider_uuid: stt.provider_uuid,
      llm_provider_uuid: llm.provider_uuid,
    });
    expect(s.domain_uuid).toBe(d);
    expect(s.max_turns).toBe(20);

    const found = await secretaries.findByExtension(d, '8000');
    expect(found).toMatchObject({
      secretary_uuid: s.secretary_uuid,
      greeting: 'Olá',
      stt_provider_name: 'deepgram',
      llm_provider_name: 'openai',
      tts_provider_name: null,
      realtime_provider_name: null,
      embeddings_provider_name: null,
    });
    expect((await secretaries.findEnabledByUuid(d, s.secretary_uuid))?.stt_provider_name).toBe('deepgram');

    await secretaries.update(d, s.secretary_uuid, { is_enabled: false });
    expect(await secretaries.findByExtension(d, '8000')).toBeUndefined();
    expect(await secretaries.findEnabledByUuid(d, s.secretary_uuid)).toBeUndefined();
    expect((await secretaries.findByUuid(d, s.secretary_uuid))?.is_enabled).toBe(false);
  });

  it('refuses provider references outside the domain or of the wrong type', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const foreign = await providers.create(b.domain_uuid, { provider_type: 'tts', provider_name: 'eleven' });
    const ownLlm = await providers.create(a.domain_uuid, { provider_type: 'llm', provider_name: 'openai' });
    await expect(
      secretaries.create(a.domain_uuid, {
        name: 'x',
        extension: '1',
        tts_provider_uuid: foreign.provider_uuid,
      }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      secretaries.create(a.domain_uuid, {
        name: 'x',
        extension: '1',
        tts_provider_uuid: ownLlm.provider_uuid,
      }),
    ).rejects.toThrow(/llm provider, not tts/);
    const s = await secretaries.create(a.domain_uuid, { name: 'x', extension: '1' });
    await expect(
      secretaries.update(a.domain_uuid, s.secretary_uuid, { tts_provider_uuid: foreign.provider_uuid }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('yields no provider name for a reference planted across domains by plain SQL', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const foreign = await providers.create(b.domain_uuid, { provider_type: 'llm', provider_name: 'theirs' });
    const s = await secretaries.create(a.domain_uuid, { name: 'x', extension: '55' });
    await sql`UPDATE v_voice_secretaries SET llm_provider_uuid = ${foreign.provider_uuid}
              WHERE secretary_uuid = ${s.secretary_uuid}`;
    expect((await secretaries.findByExtension(a.domain_uuid, '55'))?.llm_provider_name).toBeNull();
  });

  it('updates only the given columns, lists by extension and removes', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const s2 = await secretaries.create(d, { name: 'B', extension: '2000', system_prompt: 'p' });
    const s1 = await secretaries.create(d, { name: 'A', extension: '1000' });
    const updated = await secretaries.update(d, s2.secretary_uuid, { greeting: 'hi', max_turns: 5 });
    expect(updated).toMatchObject({ greeting: 'hi', max_turns: 5, system_prompt: 'p', name: 'B' });
    expect(updated!.updated_at.getTime()).toBeGreaterThanOrEqual(s2.updated_at.getTime());
    expect((await secretaries.update(d, s2.secretary_uuid, {}))?.greeting).toBe('hi');
    expect((await secretaries.list(d)).map((s) => s.secretary_uuid)).toEqual([
      s1.secretary_uuid,
      s2.secretary_uuid,
    ]);
    // Unknown keys (say, from parsed JSON) never reach the SQL.
    const sneaky = { greeting: 'ok', domain_uuid: '00000000-0000-0000-0000-000000000000' } as never;
    expect((await secretaries.update(d, s1.secretary_uuid, sneaky))?.domain_uuid).toBe(d);
    expect(await secretaries.remove(d, s1.secretary_uuid)).toBe(true);
    expect(await secretaries.remove(d, s1.secretary_uuid)).toBe(false);
    expect(await secretaries.update(d, s1.secretary_uuid, { greeting: 'x' })).toBeUndefined();
  });
});
