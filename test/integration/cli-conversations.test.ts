import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSince } from '../../src/cli/conversations.js';
import { createConversationsRepo } from '../../src/store/repos/conversations.js';
import { createMessagesRepo } from '../../src/store/repos/messages.js';
import { createDomain, testSql, type TestDomain } from '../helpers/db.js';
import { runCli } from './cli-support.js';

const sql = testSql();
const conversations = createConversationsRepo(sql);
const messages = createMessagesRepo(sql);

afterAll(async () => {
  await sql.end();
});

const DAY_MS = 86_400_000;

async function call(d: TestDomain, startedAgoMs: number, turns: [string, string][]): Promise<string> {
  const id = randomUUID();
  await conversations.insert(d.domain_uuid, {
    conversation_uuid: id,
    call_uuid: `call-${id.slice(0, 8)}`,
    caller_id: '+5511988887777',
    destination_number: '8000',
    started_at: new Date(Date.now() - startedAgoMs),
    duration_seconds: 42,
    total_turns: turns.length,
    resolution: 'transferred',
    transferred_to: '1001',
  });
  await messages.insertMany(
    d.domain_uuid,
    turns.flatMap(([user, assistant], i) => [
      {
        message_uuid: randomUUID(),
        conversation_uuid: id,
        turn: i + 1,
        seq: 0,
        role: 'user' as const,
        content: user,
        stt_ms: 310 + i,
      },
      {
        message_uuid: randomUUID(),
        conversation_uuid: id,
        turn: i + 1,
        seq: 1,
        role: 'assistant' as const,
        content: assistant,
        llm_first_token_ms: 420,
        tts_first_byte_ms: 180,
        turn_ms: 1250,
      },
    ]),
  );
  return id;
}

describe('voice-ai conversations', () => {
  it('lists recent calls with message counts, newest first; --since and --limit', async () => {
    const d = await createDomain(sql);
    const recent = await call(d, 60_000, [
      ['oi', 'Olá!'],
      ['vendas', 'Transferindo.'],
    ]);
    const older = await call(d, 2 * DAY_MS, [['bom dia', 'Bom dia!']]);
    const old = await call(d, 10 * DAY_MS, [['alô', 'Olá.']]);

    const list = await runCli(['conversations', 'list', '--domain', d.domain_name, '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as { conversation_uuid: string; message_count: number }[];
    expect(rows.map((r) => [r.conversation_uuid, r.message_count])).toEqual([
      [recent, 4],
      [older, 2],
    ]);

    const month = JSON.parse(
      (await runCli(['conversations', 'list', '--domain', d.domain_name, '--since', '30d', '--json'])).stdout,
    ) as unknown[];
    expect(month).toHaveLength(3);
    const iso = new Date(Date.now() - 11 * DAY_MS).toISOString().slice(0, 10);
    const fromIso = JSON.parse(
      (await runCli(['conversations', 'list', '--domain', d.domain_name, '--since', iso, '--json'])).stdout,
    ) as { conversation_uuid: string }[];
    expect(fromIso.map((r) => r.conversation_uuid)).toContain(old);
    const day = JSON.parse(
      (await runCli(['conversations', 'list', '--domain', d.domain_name, '--since', '24h', '--json'])).stdout,
    ) as unknown[];
    expect(day).toHaveLength(1);
    const limited = JSON.parse(
      (
        await runCli([
          'conversations',
          'list',
          '--domain',
          d.domain_name,
          '--since',
          '30d',
          '--limit',
          '1',
          '--json',
        ])
      ).stdout,
    ) as unknown[];
    expect(limited).toHaveLength(1);

    const table = await runCli(['conversations', 'list', '--domain', d.domain_name]);
    expect(table.stdout).toMatch(
      /^conversation_uuid\s+started_at\s+caller\s+destination\s+seconds\s+turns\s+messages/,
    );
    expect(table.stdout).toMatch(
      new RegExp(`${recent}\\s+\\S+\\s+\\+5511988887777\\s+8000\\s+42\\s+2\\s+4\\s+transferred\\s+1001`),
    );
  });

  it('shows a transcript with per-turn latency', async () => {
    const d = await createDomain(sql);
    const id = await call(d, 1000, [['quero falar com vendas', 'Um momento,\ntransferindo.']]);
    const r = await runCli(['conversations', 'show', id, '--domain', d.domain_name]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`conversation ${id}`);
    expect(r.stdout).toContain('resolution transferred, transferred to 1001');
    expect(r.stdout).toMatch(
      /turn\s+role\s+stt_ms\s+llm_first_token_ms\s+tts_first_byte_ms\s+turn_ms\s+text/,
    );
    expect(r.stdout).toMatch(/1\s+user\s+310\s+quero falar com vendas/);
    expect(r.stdout).toMatch(/1\s+assistant\s+420\s+180\s+1250\s+Um momento, transferindo\./);

    const json = JSON.parse(
      (await runCli(['conversations', 'show', id, '--domain', d.domain_name, '--json'])).stdout,
    ) as {
      conversation: { conversation_uuid: string };
      messages: { role: string; text: string; turn_ms: number | null }[];
    };
    expect(json.conversation.conversation_uuid).toBe(id);
    expect(json.messages).toEqual([
      expect.objectContaining({ role: 'user', text: 'quero falar com vendas', turn_ms: null }),
      expect.objectContaining({ role: 'assistant', text: 'Um momento,\ntransferindo.', turn_ms: 1250 }),
    ]);
  });

  it('refuses an unknown, malformed or foreign conversation, a bad --since or --limit (exit 2)', async () => {
    const d = await createDomain(sql);
    const other = await createDomain(sql);
    const foreign = await call(other, 1000, [['a', 'b']]);
    const cases: [string[], RegExp][] = [
      [['show', randomUUID(), '--domain', d.domain_name], /no conversation .* in /],
      [['show', foreign, '--domain', d.domain_name], /no conversation .* in /],
      [['show', 'abc', '--domain', d.domain_name], /not a conversation uuid: "abc"/],
      [['list', '--domain', d.domain_name, '--since', 'yesterday'], /--since: expected 7d, 24h/],
      [['list', '--domain', d.domain_name, '--limit', '0'], /--limit: expected an integer/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['conversations', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('parses relative and absolute --since', () => {
    const now = new Date('2030-06-10T12:00:00Z');
    expect(parseSince('7d', now).toISOString()).toBe('2030-06-03T12:00:00.000Z');
    expect(parseSince('24h', now).toISOString()).toBe('2030-06-09T12:00:00.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2030-06-10T11:30:00.000Z');
    expect(parseSince('2030-01-02T03:04:05Z', now).toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(() => parseSince('7', now)).toThrow(/--since/);
  });
});
