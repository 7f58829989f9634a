import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { createDocumentsRepo } from '../../src/store/repos/documents.js';
import { createDomainsRepo } from '../../src/store/repos/domains.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createTransferRulesRepo } from '../../src/store/repos/transfer-rules.js';
import { createDomain, testSql } from '../helpers/db.js';

const sql = testSql();
const documents = createDocumentsRepo(sql);
const rules = createTransferRulesRepo(sql);
const secretaries = createSecretariesRepo(sql);
const domains = createDomainsRepo(sql);

afterAll(async () => {
  await sql.end();
});

describe('documents repository', () => {
  it('creates, replaces chunks (with real[] embeddings) and updates status', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const doc = await documents.create(d, { document_name: 'faq.txt' });
    expect(doc).toMatchObject({ status: 'pending', chunk_count: 0, mime_type: 'text/plain' });

    const n = await documents.replaceChunks(d, doc.voice_document_uuid, [
      { content: 'first', token_count: 2, embedding: [0.5, -1.25, 3], embedding_model: 'm' },
      { content: 'second' },
    ]);
    expect(n).toBe(2);
    const chunks = await documents.listChunks(d, doc.voice_document_uuid);
    expect(chunks.map((c) => [c.chunk_index, c.content])).toEqual([
      [0, 'first'],
      [1, 'second'],
    ]);
    expect(chunks[0]?.embedding).toEqual([0.5, -1.25, 3]);
    expect(chunks[1]?.embedding).toBeNull();
    expect(await documents.replaceChunks(d, doc.voice_document_uuid, [{ content: 'only' }])).toBe(1);
    expect((await documents.findByUuid(d, doc.voice_document_uuid))?.chunk_count).toBe(1);

    const ready = await documents.update(d, doc.voice_document_uuid, { status: 'ready' });
    expect(ready?.status).toBe('ready');
    expect(await documents.replaceChunks(randomUUID(), doc.voice_document_uuid, [])).toBeUndefined();
    expect(await documents.remove(d, doc.voice_document_uuid)).toBe(true);
    expect(await documents.listChunks(d, doc.voice_document_uuid)).toEqual([]);
  });

  it('lists a secretary’s documents plus the domain-wide ones; refuses a foreign secretary', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const s1 = await secretaries.create(a.domain_uuid, { name: 's1', extension: '1' });
    const s2 = await secretaries.create(a.domain_uuid, { name: 's2', extension: '2' });
    const foreign = await secretaries.create(b.domain_uuid, { name: 'f', extension: '1' });
    await documents.create(a.domain_uuid, { document_name: 'all' });
    await documents.create(a.domain_uuid, {
      document_name: 'mine',
      secretary_uuid: s1.secretary_uuid,
    });
    await documents.create(a.domain_uuid, {
      document_name: 'theirs',
      secretary_uuid: s2.secretary_uuid,
    });
    const names = (await documents.list(a.domain_uuid, { secretaryUuid: s1.secretary_uuid })).map(
      (x) => x.document_name,
    );
    expect(names.sort()).toEqual(['all', 'mine']);
    expect(await documents.list(a.domain_uuid)).toHaveLength(3);
    await expect(
      documents.create(a.domain_uuid, {
        document_name: 'x',
        secretary_uuid: foreign.secretary_uuid,
      }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('transfer rules repository', () => {
  it('creates with keywords and business hours, lists by priority for a secretary, updates and removes', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const s = await secretaries.create(d, { name: 's', extension: '9' });
    const hours = { mon: [['08:00', '18:00']] };
    const sales = await rules.create(d, {
      department: 'sales',
      keywords: ['comprar', 'preço'],
      destination_type: 'extension',
      destination_number: '1001',
      priority: 20,
      business_hours: hours,
      secretary_uuid: s.secretary_uuid,
    });
    expect(sales).toMatchObject({
      keywords: ['comprar', 'preço'],
      business_hours: hours,
      fallback_action: 'voicemail',
    });
    await rules.create(d, {
      department: 'support',
      destination_type: 'queue',
      destination_number: '5000',
      priority: 10,
    });
    await rules.create(d, {
      department: 'off',
      destination_type: 'extension',
      destination_number: '1',
      is_enabled: false,
    });

    const listed = await rules.list(d, { secretaryUuid: s.secretary_uuid, enabledOnly: true });
    expect(listed.map((r) => r.department)).toEqual(['support', 'sales']);
    expect(await rules.list(d)).toHaveLength(3);

    const changed = await rules.update(d, sales.voice_transfer_rule_uuid, {
      keywords: ['vendas'],
      business_hours: null,
    });
    expect(changed).toMatchObject({ keywords: ['vendas'], business_hours: null, department: 'sales' });
    expect(await rules.remove(d, sales.voice_transfer_rule_uuid)).toBe(true);
    expect(await rules.findByUuid(d, sales.voice_transfer_rule_uuid)).toBeUndefined();
  });
});

describe('domains repository (read only)', () => {
  it('finds FusionPBX domains by uuid and by name', async () => {
    const name = `Dom-${randomUUID().slice(0, 8)}.example.com`;
    const dom = await createDomain(sql, name);
    expect(await domains.findByUuid(dom.domain_uuid)).toEqual({
      domain_uuid: dom.domain_uuid,
      domain_name: name,
      domain_enabled: true,
    });
    expect((await domains.findByName(name.toLowerCase()))?.domain_uuid).toBe(dom.domain_uuid);
    expect(await domains.findByUuid('not-a-uuid')).toBeUndefined();
    expect(await domains.findByName('no-such-domain.invalid')).toBeUndefined();
    expect((await domains.list()).some((x) => x.domain_uuid === dom.domain_uuid)).toBe(true);
  });
});
