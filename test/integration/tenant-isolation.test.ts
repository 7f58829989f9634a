import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { createRepos, type Repos } from '../../src/store/repos/index.js';
import { PROVIDER_TYPES, type ProviderType } from '../../src/store/repos/types.js';
import { createDomain, testSql } from '../helpers/db.js';

const KEY = 'isolation-test-key-Qw3eR5tY';
const sql = testSql();
const repos: Repos = createRepos(sql);

afterAll(async () => {
  await sql.end();
});

/** One tenant's data; both tenants of a run get exactly the same (same names, extensions, configs). */
const datasetArb = fc.record({
  providers: fc.array(
    fc.record({
      type: fc.constantFrom(...PROVIDER_TYPES),
      name: fc.constantFrom('openai', 'deepgram', 'eleven', 'azure'),
      priority: fc.integer({ min: 0, max: 200 }),
      isDefault: fc.boolean(),
      secrets: fc.option(fc.dictionary(fc.constantFrom('api_key', 'org'), fc.string({ maxLength: 12 })), {
        nil: null,
      }),
      config: fc.dictionary(fc.constantFrom('model', 'voice', 'base_url'), fc.string({ maxLength: 8 })),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  extensions: fc.uniqueArray(fc.stringMatching(/^[0-9]{3,4}$/), { minLength: 1, maxLength: 3 }),
  conversations: fc.array(
    fc.record({ messages: fc.integer({ min: 0, max: 3 }), daysAgo: fc.integer({ min: 0, max: 9 }) }),
    {
      maxLength: 3,
    },
  ),
  documents: fc.array(fc.record({ chunks: fc.integer({ min: 0, max: 2 }), forSecretary: fc.boolean() }), {
    maxLength: 2,
  }),
  rules: fc.array(
    fc.record({
      department: fc.constantFrom('sales', 'support'),
      forSecretary: fc.boolean(),
      priority: fc.nat(100),
    }),
    { maxLength: 3 },
  ),
});
type Dataset = typeof datasetArb extends fc.Arbitrary<infer T> ? T : never;

const sameTypeDefaults: Dataset = {
  providers: [
    {
      type: 'llm',
      name: 'openai',
      priority: 1,
      isDefault: true,
      secrets: { api_key: 'k' },
      config: { model: 'm' },
    },
    { type: 'llm', name: 'azure', priority: 2, isDefault: false, secrets: null, config: {} },
  ],
  extensions: ['1000', '2000'],
  conversations: [{ messages: 2, daysAgo: 1 }],
  documents: [{ chunks: 2, forSecretary: true }],
  rules: [{ department: 'sales', forSecretary: true, priority: 1 }],
};

interface Ids {
  providers: string[];
  secretaries: string[];
  conversations: string[];
  documents: string[];
  rules: string[];
}

async function populate(d: string, data: Dataset): Promise<Ids> {
  const ids: Ids = { providers: [], secretaries: [], conversations: [], documents: [], rules: [] };
  const byType = new Map<ProviderType, string>();
  for (const p of data.providers) {
    const row = await repos.providers.create(
      d,
      {
        provider_type: p.type,
        provider_name: p.name,
        priority: p.priority,
        is_default: p.isDefault,
        config: p.config,
        secrets: p.secrets,
      },
      KEY,
    );
    ids.providers.push(row.provider_uuid);
    byType.set(p.type, row.provider_uuid);
  }
  for (const extension of data.extensions) {
    const s = await repos.secretaries.create(d, {
      name: `Secretary ${extension}`,
      extension,
      stt_provider_uuid: byType.get('stt') ?? null,
      tts_provider_uuid: byType.get('tts') ?? null,
      llm_provider_uuid: byType.get('llm') ?? null,
      realtime_provider_uuid: byType.get('realtime') ?? null,
      embeddings_provider_uuid: byType.get('embeddings') ?? null,
    });
    ids.secretaries.push(s.secretary_uuid);
  }
  const secretary = ids.secretaries[0] ?? null;
  for (const [i, c] of data.conversations.entries()) {
    const id = randomUUID();
    const started_at = new Date(Date.UTC(2030, 0, 20 - c.daysAgo));
    await repos.conversations.insert(d, {
      conversation_uuid: id,
      call_uuid: `call-${i}`,
      secretary_uuid: secretary,
      started_at,
    });
    const msgs = Array.from({ length: c.messages }, (_, turn) => ({
      message_uuid: randomUUID(),
      conversation_uuid: id,
      turn,
      role: 'user' as const,
      content: `message ${turn}`,
    }));
    await repos.messages.insertMany(d, msgs);
    ids.conversations.push(id);
  }
  for (const [i, doc] of data.documents.entries()) {
    const row = await repos.documents.create(d, {
      document_name: `doc-${i}`,
      secretary_uuid: doc.forSecretary ? secretary : null,
    });
    await repos.documents.replaceChunks(
      d,
      row.voice_document_uuid,
      Array.from({ length: doc.chunks }, (_, k) => ({ content: `chunk ${k}`, embedding: [k, 1] })),
    );
    ids.documents.push(row.voice_document_uuid);
  }
  for (const r of data.rules) {
    const row = await repos.transferRules.create(d, {
      department: r.department,
      destination_type: 'extension',
      destination_number: '1000',
      priority: r.priority,
      secretary_uuid: r.forSecretary ? secretary : null,
    });
    ids.rules.push(row.voice_transfer_rule_uuid);
  }
  return ids;
}

/** Every read function of every repository, called for domain `d` with the given row ids (ours and theirs). */
async function readAll(d: string, data: Dataset, ids: Ids): Promise<unknown[]> {
  const out: unknown[] = [];
  const r = repos;
  out.push(await r.domains.findByUuid(d));
  out.push(
    await r.providers.list(d),
    await r.secretaries.list(d),
    await r.documents.list(d),
    await r.transferRules.list(d),
  );
  for (const t of PROVIDER_TYPES) {
    out.push(
      await r.providers.listEnabledForType(d, t),
      await r.providers.list(d, { type: t, enabledOnly: true }),
    );
  }
  for (const id of ids.providers)
    out.push(await r.providers.findByUuid(d, id), await r.providers.getWithSecrets(d, id, KEY));
  for (const ext of data.extensions) out.push(await r.secretaries.findByExtension(d, ext));
  for (const id of ids.secretaries) {
    out.push(await r.secretaries.findByUuid(d, id), await r.secretaries.findEnabledByUuid(d, id));
    out.push(
      await r.documents.list(d, { secretaryUuid: id }),
      await r.transferRules.list(d, { secretaryUuid: id }),
    );
  }
  out.push(await r.conversations.history(d, { since: new Date(Date.UTC(2029, 0, 1)), limit: 100 }));
  for (const id of ids.conversations) {
    out.push(await r.conversations.findByUuid(d, id), await r.messages.listByConversation(d, id));
  }
  for (const id of ids.documents)
    out.push(await r.documents.findByUuid(d, id), await r.documents.listChunks(d, id));
  for (const id of ids.rules) out.push(await r.transferRules.findByUuid(d, id));
  return out;
}

/** Every domain_uuid in the results is `d`, and no id of the other tenant appears anywhere. */
function expectOnly(results: unknown[], d: string, foreign: Set<string>): void {
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      expect(foreign.has(v), `foreign id ${v} leaked`).toBe(false);
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      const row = v as Record<string, unknown>;
      if ('domain_uuid' in row) expect(row.domain_uuid).toBe(d);
      Object.values(row).forEach(visit);
    }
  };
  visit(results);
}

/** Every write function, aimed at the other tenant's rows through our domain: all must touch nothing. */
async function writeAcross(d: string, theirs: Ids): Promise<void> {
  const r = repos;
  for (const id of theirs.providers) {
    expect(
      await r.providers.update(d, id, {
        priority: 1,
        is_default: true,
        is_enabled: false,
        config: { x: '1' },
      }),
    ).toBeUndefined();
    expect(await r.providers.update(d, id, { secrets: { api_key: 'stolen' } }, KEY)).toBeUndefined();
    expect(await r.providers.remove(d, id)).toBe(false);
    await expect(
      r.secretaries.create(d, { name: 'x', extension: '99999', llm_provider_uuid: id }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  }
  for (const id of theirs.secretaries) {
    expect(await r.secretaries.update(d, id, { greeting: 'hijacked', is_enabled: false })).toBeUndefined();
    expect(await r.secretaries.remove(d, id)).toBe(false);
  }
  for (const id of theirs.conversations) {
    expect(await r.conversations.update(d, id, { resolution: 'error', total_turns: 99 })).toBeUndefined();
    const msg = {
      message_uuid: randomUUID(),
      conversation_uuid: id,
      turn: 9,
      role: 'user' as const,
      content: 'x',
    };
    expect(await r.messages.insertMany(d, [msg])).toBe(0);
    expect(await r.messages.removeByConversation(d, id)).toBe(0);
    expect(await r.conversations.remove(d, id)).toBe(false);
  }
  for (const id of theirs.documents) {
    expect(await r.documents.update(d, id, { status: 'failed' })).toBeUndefined();
    expect(await r.documents.replaceChunks(d, id, [{ content: 'x' }])).toBeUndefined();
    expect(await r.documents.remove(d, id)).toBe(false);
  }
  for (const id of theirs.rules) {
    expect(await r.transferRules.update(d, id, { destination_number: '666' })).toBeUndefined();
    expect(await r.transferRules.remove(d, id)).toBe(false);
  }
}

/** Everything a tenant owns, for before/after comparison. */
async function snapshot(d: string): Promise<unknown> {
  const tables = [
    sql`SELECT * FROM v_voice_ai_providers WHERE domain_uuid = ${d} ORDER BY provider_uuid`,
    sql`SELECT * FROM v_voice_secretaries WHERE domain_uuid = ${d} ORDER BY secretary_uuid`,
    sql`SELECT * FROM v_voice_conversations WHERE domain_uuid = ${d} ORDER BY conversation_uuid`,
    sql`SELECT * FROM v_voice_messages WHERE domain_uuid = ${d} ORDER BY message_uuid`,
    sql`SELECT * FROM v_voice_documents WHERE domain_uuid = ${d} ORDER BY voice_document_uuid`,
    sql`SELECT voice_document_chunk_uuid, content FROM v_voice_document_chunks WHERE domain_uuid = ${d} ORDER BY 1`,
    sql`SELECT * FROM v_voice_transfer_rules WHERE domain_uuid = ${d} ORDER BY voice_transfer_rule_uuid`,
  ];
  return (await Promise.all(tables)).map((rows) => [...rows]);
}

describe('tenant isolation', () => {
  it('no read with domain A returns B’s rows, and no write with domain A touches B’s rows', async () => {
    await fc.assert(
      fc.asyncProperty(datasetArb, async (data) => {
        const a = (await createDomain(sql)).domain_uuid;
        const b = (await createDomain(sql)).domain_uuid;
        const idsA = await populate(a, data);
        const idsB = await populate(b, data);
        const foreignTo = (ids: Ids, domain: string) =>
          new Set([
            domain,
            ...ids.providers,
            ...ids.secretaries,
            ...ids.conversations,
            ...ids.documents,
            ...ids.rules,
          ]);
        const all: Ids = {
          providers: [...idsA.providers, ...idsB.providers],
          secretaries: [...idsA.secretaries, ...idsB.secretaries],
          conversations: [...idsA.conversations, ...idsB.conversations],
          documents: [...idsA.documents, ...idsB.documents],
          rules: [...idsA.rules, ...idsB.rules],
        };

        expectOnly(await readAll(a, data, all), a, foreignTo(idsB, b));
        expectOnly(await readAll(b, data, all), b, foreignTo(idsA, a));

        const before = await snapshot(b);
        await writeAcross(a, idsB);
        expect(await snapshot(b)).toEqual(before);
      }),
      // The example always covers the subtle write: setting a default clears the *other* default of its type.
      { numRuns: 25, examples: [[sameTypeDefaults]] },
    );
  }, 60_000);
});
