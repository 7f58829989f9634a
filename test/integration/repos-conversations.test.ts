import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/core/errors.js';
import { createConversationsRepo } from '../../src/store/repos/conversations.js';
import { createMessagesRepo, type MessageInput } from '../../src/store/repos/messages.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql } from '../helpers/db.js';

const sql = testSql();
const conversations = createConversationsRepo(sql);
const messages = createMessagesRepo(sql);

afterAll(async () => {
  await sql.end();
});

function msg(conversation: string, turn: number, seq: number, content: string): MessageInput {
  return {
    message_uuid: randomUUID(),
    conversation_uuid: conversation,
    turn,
    seq,
    role: 'user',
    content,
  };
}

describe('conversations and messages repositories', () => {
  it('inserts idempotently and finishes a conversation', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const id = randomUUID();
    const input = { conversation_uuid: id, call_uuid: 'call-1', caller_id: '+5511999' };
    expect(await conversations.insert(d, input)).toBe(true);
    expect(await conversations.insert(d, input)).toBe(false);
    const ended = new Date('2030-01-01T00:01:00Z');
    const row = await conversations.update(d, id, {
      ended_at: ended,
      duration_seconds: 60,
      resolution: 'transferred',
      transferred_to: '1001',
      total_turns: 3,
    });
    expect(row).toMatchObject({
      resolution: 'transferred',
      duration_seconds: 60,
      total_turns: 3,
      domain_uuid: d,
    });
    expect(row?.ended_at?.toISOString()).toBe(ended.toISOString());
    expect(await conversations.update(d, id, {})).toMatchObject({ resolution: 'transferred' });
  });

  it('refuses a secretary of another domain', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const s = await createSecretariesRepo(sql).create(b.domain_uuid, { name: 'x', extension: '1' });
    await expect(
      conversations.insert(a.domain_uuid, {
        conversation_uuid: randomUUID(),
        call_uuid: 'c',
        secretary_uuid: s.secretary_uuid,
      }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('lists history since a date, newest first, with message counts and a limit', async () => {
    const { domain_uuid: d } = await createDomain(sql);
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const starts = [
      '2030-01-01T10:00:00Z',
      '2030-01-02T10:00:00Z',
      '2030-01-03T10:00:00Z',
      '2029-12-01T10:00:00Z',
    ];
    for (const [i, id] of ids.entries()) {
      await conversations.insert(d, {
        conversation_uuid: id,
        call_uuid: `c${i}`,
        started_at: new Date(starts[i]!),
      });
    }
    const [c0, c1, c2] = ids as [string, string, string];
    const stored = await messages.insertMany(d, [msg(c0, 0, 0, 'a'), msg(c0, 0, 1, 'b'), msg(c2, 0, 0, 'c')]);
    expect(stored).toBe(3);

    const since = new Date('2030-01-01T00:00:00Z');
    const history = await conversations.history(d, { since });
    expect(history.map((h) => [h.conversation_uuid, h.message_count])).toEqual([
      [c2, 1],
      [c1, 0],
      [c0, 2],
    ]);
    expect((await conversations.history(d, { since, limit: 1 })).map((h) => h.conversation_uuid)).toEqual([
      c2,
    ]);
  });

  it('stores messages in one statement, skipping replays and other domains’ conversations', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const ca = randomUUID();
    const cb = randomUUID();
    await conversations.insert(a.domain_uuid, { conversation_uuid: ca, call_uuid: 'a' });
    await conversations.insert(b.domain_uuid, { conversation_uuid: cb, call_uuid: 'b' });
    const first = {
      ...msg(ca, 1, 0, 'hello'),
      role: 'assistant' as const,
      llm_first_token_ms: 420,
      llm_provider: 'openai',
    };
    const batch = [msg(ca, 0, 0, 'oi'), first, msg(cb, 0, 0, 'not yours')];

    expect(await messages.insertMany(a.domain_uuid, batch)).toBe(2);
    expect(await messages.insertMany(a.domain_uuid, batch)).toBe(0);
    expect(await messages.insertMany(a.domain_uuid, [])).toBe(0);
    const listed = await messages.listByConversation(a.domain_uuid, ca);
    expect(listed.map((m) => m.content)).toEqual(['oi', 'hello']);
    expect(listed[1]).toMatchObject({
      role: 'assistant',
      llm_first_token_ms: 420,
      llm_provider: 'openai',
      domain_uuid: a.domain_uuid,
    });
    expect(await messages.listByConversation(b.domain_uuid, cb)).toEqual([]);

    expect(await messages.removeByConversation(a.domain_uuid, ca)).toBe(2);
    expect(await conversations.remove(a.domain_uuid, ca)).toBe(true);
    expect(await conversations.findByUuid(a.domain_uuid, ca)).toBeUndefined();
  });
});
