import { assertSecretaryInDomain, columnsOf, pick, valuesOf } from './helpers.js';
import type { ConversationRow, ConversationSummary, Db } from './types.js';

type Settable = Omit<ConversationRow, 'conversation_uuid' | 'domain_uuid' | 'created_at'>;

/** The daemon makes the uuid, so replaying an insert is harmless. */
export type ConversationInput = Pick<ConversationRow, 'conversation_uuid' | 'call_uuid'> &
  Partial<Omit<Settable, 'call_uuid'>>;

/** What changes when a call ends (or mid-call, for the turn count). */
export type ConversationPatch = Partial<
  Pick<
    ConversationRow,
    'ended_at' | 'duration_seconds' | 'total_turns' | 'resolution' | 'transferred_to' | 'media_backend'
  >
>;

const INSERTABLE: readonly (keyof ConversationInput)[] = [
  'conversation_uuid',
  'call_uuid',
  'secretary_uuid',
  'caller_id',
  'caller_id_name',
  'destination_number',
  'processing_mode',
  'started_at',
  'ended_at',
  'duration_seconds',
  'total_turns',
  'resolution',
  'transferred_to',
  'media_backend',
];

const PATCHABLE: readonly (keyof ConversationPatch)[] = [
  'ended_at',
  'duration_seconds',
  'total_turns',
  'resolution',
  'transferred_to',
  'media_backend',
];

export interface HistoryOptions {
  /** Conversations started at or after this instant. */
  since: Date;
  /** Default 50. */
  limit?: number;
}

export interface ConversationsRepo {
  /** True when inserted; false when a conversation with that uuid already exists (a replay). */
  insert(domainUuid: string, input: ConversationInput): Promise<boolean>;
  update(
    domainUuid: string,
    conversationUuid: string,
    patch: ConversationPatch,
  ): Promise<ConversationRow | undefined>;
  findByUuid(domainUuid: string, conversationUuid: string): Promise<ConversationRow | undefined>;
  /** Newest first, each with its number of messages. */
  history(domainUuid: string, options: HistoryOptions): Promise<ConversationSummary[]>;
  remove(domainUuid: string, conversationUuid: string): Promise<boolean>;
}

/** Domain-scoped access to v_voice_conversations; `sql` may be the pool or a transaction. */
export function createConversationsRepo(sql: Db): ConversationsRepo {
  const findByUuid = async (
    domainUuid: string,
    conversationUuid: string,
  ): Promise<ConversationRow | undefined> => {
    const rows = await sql<ConversationRow[]>`
      SELECT * FROM v_voice_conversations
      WHERE domain_uuid = ${domainUuid} AND conversation_uuid = ${conversationUuid}`;
    return rows[0];
  };

  return {
    async insert(domainUuid, input) {
      await assertSecretaryInDomain(sql, domainUuid, input.secretary_uuid);
      const cols = columnsOf(input, INSERTABLE);
      const values = pick(input, cols, { domain_uuid: domainUuid });
      const res = await sql`
        INSERT INTO v_voice_conversations ${valuesOf(sql, values, [...cols, 'domain_uuid'])}
        ON CONFLICT (conversation_uuid) DO NOTHING`;
      return res.count > 0;
    },

    async update(domainUuid, conversationUuid, patch) {
      const cols = columnsOf(patch, PATCHABLE);
      if (cols.length === 0) return findByUuid(domainUuid, conversationUuid);
      const rows = await sql<ConversationRow[]>`
        UPDATE v_voice_conversations SET ${valuesOf(sql, pick(patch, cols), cols)}
        WHERE domain_uuid = ${domainUuid} AND conversation_uuid = ${conversationUuid}
        RETURNING *`;
      return rows[0];
    },

    findByUuid,

    async history(domainUuid, { since, limit = 50 }) {
      return sql<ConversationSummary[]>`
        SELECT c.*, count(m.message_uuid)::int AS message_count
        FROM v_voice_conversations c
        LEFT JOIN v_voice_messages m
          ON m.conversation_uuid = c.conversation_uuid AND m.domain_uuid = c.domain_uuid
        WHERE c.domain_uuid = ${domainUuid} AND c.started_at >= ${since}
        GROUP BY c.conversation_uuid
        ORDER BY c.started_at DESC, c.conversation_uuid
        LIMIT ${limit}`;
    },

    async remove(domainUuid, conversationUuid) {
      const res = await sql`
        DELETE FROM v_voice_conversations
        WHERE domain_uuid = ${domainUuid} AND conversation_uuid = ${conversationUuid}`;
      return res.count > 0;
    },
  };
}
