/**
 * Row fixtures for the write-queue tests and their child process: conversations made of a start, messages and
 * an end, interleaved the way concurrent calls enqueue them, and a check of what reached Postgres.
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import type { ConversationEndRow, QueuedRow } from '../../src/store/rows.js';

export interface ConversationFixture {
  uuid: string;
  items: QueuedRow[];
}

/** A conversation's rows in the order a session enqueues them: start, `messages` messages, end. */
export function conversation(
  domain_uuid: string,
  messages: number,
  end: Partial<ConversationEndRow> = {},
): ConversationFixture {
  const uuid = randomUUID();
  const t0 = Date.UTC(2025, 0, 1, 9, 0, 0);
  const items: QueuedRow[] = [
    {
      type: 'conversation_start',
      row: {
        conversation_uuid: uuid,
        domain_uuid,
        secretary_uuid: null,
        call_uuid: randomUUID(),
        caller_id: '+33612345678',
        caller_id_name: 'Zoë "Z" O\'Brien',
        destination_number: '8000',
        processing_mode: 'turn_based',
        started_at: new Date(t0).toISOString(),
      },
    },
  ];
  for (let seq = 0; seq < messages; seq++) {
    items.push({
      type: 'message',
      row: {
        message_uuid: randomUUID(),
        conversation_uuid: uuid,
        domain_uuid,
        turn: Math.floor(seq / 2),
        seq,
        role: seq % 2 === 0 ? 'user' : 'assistant',
        content: `message ${seq}: l'appel ☎ — "quoted"\nsecond line \\ backslash`,
        stt_provider: seq % 2 === 0 ? 'whisper' : null,
        llm_provider: seq % 2 === 1 ? 'openai' : null,
        tts_provider: seq % 2 === 1 ? 'piper' : null,
        stt_ms: seq % 2 === 0 ? 120 + seq : null,
        llm_first_token_ms: seq % 2 === 1 ? 300 : null,
        tts_first_byte_ms: seq % 2 === 1 ? 80 : null,
        turn_ms: seq % 2 === 1 ? 900 : null,
        interrupted: seq === 3,
        created_at: new Date(t0 + seq * 1000).toISOString(),
      },
    });
  }
  items.push({
    type: 'conversation_end',
    row: {
      conversation_uuid: uuid,
      domain_uuid,
      ended_at: new Date(t0 + messages * 1000 + 500).toISOString(),
      duration_seconds: messages + 1,
      total_turns: Math.ceil(messages / 2),
      resolution: 'completed',
      transferred_to: null,
      media_backend: 'files',
      ...end,
    },
  });
  return { uuid, items };
}

/** Round-robin over the conversations, each keeping its own order, as concurrent calls would enqueue. */
export function interleave(conversations: readonly ConversationFixture[]): QueuedRow[] {
  const out: QueuedRow[] = [];
  const cursors = conversations.map(() => 0);
  let left = conversations.reduce((n, c) => n + c.items.length, 0);
  while (left > 0) {
    conversations.forEach((c, i) => {
      const item = c.items[cursors[i] ?? 0];
      if (item === undefined) return;
      out.push(item);
      cursors[i] = (cursors[i] ?? 0) + 1;
      left--;
    });
  }
  return out;
}

/**
 * What is wrong with what reached the database for `domain_uuid`, compared with `expected` (empty when
 * nothing): missing or extra rows, altered content, ends not applied, or a conversation's messages committed
 * out of seq order.
 * Commit order is read from xmin: a later transaction has a larger xid.
 */
export async function deliveryProblems(
  sql: postgres.Sql,
  domain_uuid: string,
  expected: readonly QueuedRow[],
): Promise<string[]> {
  const problems: string[] = [];
  const convs = await sql<{ id: string; resolution: string | null; total_turns: number; x: string }[]>`
    select conversation_uuid as id, resolution, total_turns, xmin::text as x
    from v_voice_conversations where domain_uuid = ${domain_uuid}`;
  const msgs = await sql<{ id: string; conv: string; seq: number; content: string; x: string }[]>`
    select message_uuid as id, conversation_uuid as conv, seq, content, xmin::text as x
    from v_voice_messages where domain_uuid = ${domain_uuid} order by conversation_uuid, seq`;
  const convById = new Map(convs.map((c) => [c.id, c]));
  const msgById = new Map(msgs.map((m) => [m.id, m]));
  let wantConvs = 0;
  let wantMsgs = 0;
  for (const item of expected) {
    if (item.type === 'conversation_start') {
      wantConvs++;
      if (!convById.has(item.row.conversation_uuid))
        problems.push(`missing conversation ${item.row.conversation_uuid}`);
    } else if (item.type === 'message') {
      wantMsgs++;
      const m = msgById.get(item.row.message_uuid);
      if (!m) problems.push(`missing message ${item.row.message_uuid}`);
      else if (m.content !== item.row.content) problems.push(`content of ${m.id} changed on the way`);
    } else {
      const c = convById.get(item.row.conversation_uuid);
      if (c && (c.resolution !== item.row.resolution || c.total_turns !== item.row.total_turns)) {
        problems.push(`end not applied to ${item.row.conversation_uuid}`);
      }
    }
  }
  if (convs.length !== wantConvs) problems.push(`${convs.length} conversations, expected ${wantConvs}`);
  if (msgs.length !== wantMsgs) problems.push(`${msgs.length} messages, expected ${wantMsgs}`);
  let prev: { conv: string; seq: number; x: bigint } | undefined;
  for (const m of msgs) {
    const x = BigInt(m.x);
    if (prev?.conv === m.conv && x < prev.x)
      problems.push(`message seq ${m.seq} of ${m.conv} committed before seq ${prev.seq}`);
    const c = convById.get(m.conv);
    if (c?.resolution != null && BigInt(c.x) < x)
      problems.push(`end of ${m.conv} committed before message seq ${m.seq}`);
    prev = { conv: m.conv, seq: m.seq, x };
  }
  return problems;
}

/**
 * Mixes conversations as a switch would: at most `concurrent` calls at a time, each step advancing a
 * pseudo-randomly chosen one (deterministic), a new call starting when one ends. Starts, messages and ends are
 * spread over the whole stream, each conversation keeping its own order.
 */
export function stagger(conversations: readonly ConversationFixture[], concurrent = 25): QueuedRow[] {
  const waiting = conversations.map((c) => c.items);
  const active: { items: QueuedRow[]; next: number }[] = [];
  const out: QueuedRow[] = [];
  let seed = 12345;
  for (;;) {
    while (active.length < concurrent && waiting.length > 0)
      active.push({ items: waiting.shift() ?? [], next: 0 });
    if (active.length === 0) return out;
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const i = seed % active.length;
    const call = active[i];
    if (call === undefined) continue;
    const item = call.items[call.next++];
    if (item !== undefined) out.push(item);
    if (call.next >= call.items.length) active.splice(i, 1);
  }
}
