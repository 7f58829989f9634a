import type { Db, MessageRow } from './types.js';

/** The daemon makes the uuid, so replaying an insert is harmless. */
export type MessageInput = Pick<
  MessageRow,
  'message_uuid' | 'conversation_uuid' | 'turn' | 'role' | 'content'
> &
  Partial<
    Pick<
      MessageRow,
      | 'seq'
      | 'stt_provider'
      | 'llm_provider'
      | 'tts_provider'
      | 'stt_ms'
      | 'llm_first_token_ms'
      | 'tts_first_byte_ms'
      | 'turn_ms'
      | 'created_at'
    >
  >;

export interface MessagesRepo {
  /**
   * Inserts in one statement and returns how many rows were new. Messages whose conversation is not in the
   * domain are skipped (the join carries the domain); a uuid already stored is skipped too (a replay).
   */
  insertMany(domainUuid: string, messages: readonly MessageInput[]): Promise<number>;
  /** In conversation order: turn, then seq. */
  listByConversation(domainUuid: string, conversationUuid: string): Promise<MessageRow[]>;
  /** Returns how many rows were deleted. */
  removeByConversation(domainUuid: string, conversationUuid: string): Promise<number>;
}

/** Domain-scoped access to v_voice_messages; `sql` may be the pool or a transaction. */
export function createMessagesRepo(sql: Db): MessagesRepo {
  return {
    async insertMany(domainUuid, messages) {
      if (messages.length === 0) return 0;
      // One jsonb parameter for the whole batch: a fixed statement whatever the batch size.
      const batch = messages.map((m) => ({
        message_uuid: m.message_uuid,
        conversation_uuid: m.conversation_uuid,
        turn: m.turn,
        seq: m.seq ?? 0,
        role: m.role,
        content: m.content,
        stt_provider: m.stt_provider ?? null,
        llm_provider: m.llm_provider ?? null,
        tts_provider: m.tts_provider ?? null,
        stt_ms: m.stt_ms ?? null,
        llm_first_token_ms: m.llm_first_token_ms ?? null,
        tts_first_byte_ms: m.tts_first_byte_ms ?? null,
        turn_ms: m.turn_ms ?? null,
        created_at: m.created_at?.toISOString() ?? null,
      }));
      const res = await sql`
        INSERT INTO v_voice_messages (
          message_uuid, conversation_uuid, domain_uuid, turn, seq, role, content,
          stt_provider, llm_provider, tts_provider, stt_ms, llm_first_token_ms, tts_first_byte_ms, turn_ms,
          created_at)
        SELECT v.message_uuid, v.conversation_uuid, c.domain_uuid, v.turn, v.seq, v.role, v.content,
          v.stt_provider, v.llm_provider, v.tts_provider, v.stt_ms, v.llm_first_token_ms, v.tts_first_byte_ms,
          v.turn_ms, coalesce(v.created_at, now())
        FROM jsonb_to_recordset(${sql.json(batch)}::jsonb) AS v (
          message_uuid uuid, conversation_uuid uuid, turn integer, seq integer, role text,
          content text, stt_provider text, llm_provider text, tts_provider text, stt_ms integer,
          llm_first_token_ms integer, tts_first_byte_ms integer, turn_ms integer, created_at timestamptz)
        JOIN v_voice_conversations c
          ON c.conversation_uuid = v.conversation_uuid AND c.domain_uuid = ${domainUuid}
        ON CONFLICT (message_uuid) DO NOTHING`;
      return res.count;
    },

    async listByConversation(domainUuid, conversationUuid) {
      return sql<MessageRow[]>`
        SELECT * FROM v_voice_messages
        WHERE domain_uuid = ${domainUuid} AND conversation_uuid = ${conversationUuid}
        ORDER BY turn, seq, created_at, message_uuid`;
    },

    async removeByConversation(domainUuid, conversationUuid) {
      const res = await sql`
        DELETE FROM v_voice_messages
        WHERE domain_uuid = ${domainUuid} AND conversation_uuid = ${conversationUuid}`;
      return res.count;
    },
  };
}
