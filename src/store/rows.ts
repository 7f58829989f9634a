import type postgres from 'postgres';
import type {
  MediaBackend,
  MessageRole,
  MessageRow as StoredMessageRow,
  ProcessingMode,
  Resolution,
} from './repos/types.js';

/**
 * The rows a call session hands to the write queue, and how a batch of them is written. Every id is made in
 * the daemon (crypto.randomUUID), so writing the same item twice (a spool replay after a commit whose
 * acknowledgement was lost) changes nothing. Timestamps are ISO strings so an item survives a JSON round trip
 * through the spool unchanged.
 */

export type { MediaBackend, MessageRole };
export type ConversationProcessingMode = ProcessingMode;
export type ConversationResolution = Resolution;

/** v_voice_conversations as inserted when a call starts. */
export interface ConversationStartRow {
  conversation_uuid: string;
  domain_uuid: string;
  secretary_uuid: string | null;
  call_uuid: string;
  caller_id: string | null;
  caller_id_name: string | null;
  destination_number: string | null;
  processing_mode: ConversationProcessingMode;
  started_at: string;
}

/** One v_voice_messages row as queued: the stored row, with its timestamp as an ISO string (JSON-safe). */
export type MessageRow = Omit<StoredMessageRow, 'created_at'> & { created_at: string };

/** The columns set on v_voice_conversations when a call ends. */
export interface ConversationEndRow {
  conversation_uuid: string;
  domain_uuid: string;
  ended_at: string;
  duration_seconds: number | null;
  total_turns: number;
  resolution: ConversationResolution;
  transferred_to: string | null;
  /** Which media the call ran on (files, unicast, audio_stream, text); null in lines spooled before 011. */
  media_backend: MediaBackend | null;
}

export type QueuedRow =
  | { type: 'conversation_start'; row: ConversationStartRow }
  | { type: 'message'; row: MessageRow }
  | { type: 'conversation_end'; row: ConversationEndRow };

export type QueuedRowType = QueuedRow['type'];

/** Each column with its Postgres type; `satisfies` makes sure no column of a row is left out. */
const CONVERSATION_START_TYPES = {
  conversation_uuid: 'uuid',
  domain_uuid: 'uuid',
  secretary_uuid: 'uuid',
  call_uuid: 'text',
  caller_id: 'text',
  caller_id_name: 'text',
  destination_number: 'text',
  processing_mode: 'text',
  started_at: 'timestamptz',
} as const satisfies Record<keyof ConversationStartRow, string>;

const MESSAGE_TYPES = {
  message_uuid: 'uuid',
  conversation_uuid: 'uuid',
  domain_uuid: 'uuid',
  turn: 'integer',
  seq: 'integer',
  role: 'text',
  content: 'text',
  stt_provider: 'text',
  llm_provider: 'text',
  tts_provider: 'text',
  stt_ms: 'integer',
  llm_first_token_ms: 'integer',
  tts_first_byte_ms: 'integer',
  turn_ms: 'integer',
  interrupted: 'boolean',
  created_at: 'timestamptz',
} as const satisfies Record<keyof MessageRow, string>;

const CONVERSATION_END_TYPES = {
  conversation_uuid: 'uuid',
  domain_uuid: 'uuid',
  ended_at: 'timestamptz',
  duration_seconds: 'integer',
  total_turns: 'integer',
  resolution: 'text',
  transferred_to: 'text',
  media_backend: 'text',
} as const satisfies Record<keyof ConversationEndRow, string>;

const keys = <T extends object>(o: T): (keyof T & string)[] => Object.keys(o) as (keyof T & string)[];
export const CONVERSATION_START_COLUMNS: readonly (keyof ConversationStartRow)[] =
  keys(CONVERSATION_START_TYPES);
export const MESSAGE_COLUMNS: readonly (keyof MessageRow)[] = keys(MESSAGE_TYPES);
export const CONVERSATION_END_COLUMNS: readonly (keyof ConversationEndRow)[] = keys(CONVERSATION_END_TYPES);

const COLUMNS: Record<QueuedRowType, readonly string[]> = {
  conversation_start: CONVERSATION_START_COLUMNS,
  message: MESSAGE_COLUMNS,
  conversation_end: CONVERSATION_END_COLUMNS,
};

/**
 * Checks the shape of an item read back from the spool: a known type and every column present as a string,
 * a number or null. Values are left for Postgres to judge (a bad value is a dead letter, not a parse error).
 */
export function isQueuedRow(value: unknown): value is QueuedRow {
  if (typeof value !== 'object' || value === null) return false;
  const { type, row } = value as { type?: unknown; row?: unknown };
  if (typeof type !== 'string' || !Object.hasOwn(COLUMNS, type)) return false;
  if (typeof row !== 'object' || row === null) return false;
  const columns = COLUMNS[type as QueuedRowType];
  return columns.every((c) => {
    const v = (row as Record<string, unknown>)[c];
    return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  });
}

/**
 * Spool lines written before migration 009 name the columns as they were then; a daemon upgraded while rows
 * waited in the spool must still replay them, so the old keys are renamed in place (never both present: an old
 * line has only the old names).
 */
const LEGACY_COLUMNS: readonly (readonly [string, string])[] = [
  ['voice_conversation_uuid', 'conversation_uuid'],
  ['voice_secretary_uuid', 'secretary_uuid'],
  ['voice_message_uuid', 'message_uuid'],
  ['caller_id_number', 'caller_id'],
];

/**
 * Renames the pre-009 keys of a parsed spool line in place, and gives rows spooled before 011 the columns it
 * added (an end row's media_backend: unknown, null; a message's interrupted: false); the spool calls it before
 * isQueuedRow.
 */
export function upgradeLegacyColumns(value: unknown): void {
  const row = (value as { row?: unknown } | null)?.row;
  if (typeof row !== 'object' || row === null) return;
  const r = row as Record<string, unknown>;
  const type = (value as { type?: unknown }).type;
  if (type === 'conversation_end' && !Object.hasOwn(r, 'media_backend')) r.media_backend = null;
  if (type === 'message' && !Object.hasOwn(r, 'interrupted')) r.interrupted = false;
  for (const [old, now] of LEGACY_COLUMNS) {
    if (Object.hasOwn(r, old) && !Object.hasOwn(r, now)) {
      r[now] = r[old];
      delete r[old];
    }
  }
}

/** The conversation an item belongs to, for log fields and dead-letter entries. */
export function conversationOf(item: QueuedRow): { conversation_uuid: string; domain_uuid: string } {
  return { conversation_uuid: item.row.conversation_uuid, domain_uuid: item.row.domain_uuid };
}

/** Why a row was set aside: a constraint it breaks, or a spool line that is not a row. */
export interface DeadLetter {
  reason: string;
  code?: string | undefined;
  item?: QueuedRow;
  raw?: string;
}

/**
 * Failures that say nothing about the rows: the server is down, restarting, failing over (a standby is
 * read-only), out of resources, or not yet migrated / misconfigured. The rows wait in the spool for it to
 * get better; dead-lettering them would turn an outage into an operator's manual replay.
 */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '57014', // query_canceled (statement_timeout)
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25006', // read_only_sql_transaction: connected to a standby after a failover
  '3D000', // invalid_catalog_name
  '42P01', // undefined_table: migrations not run yet
  '42703', // undefined_column
  '42501', // insufficient_privilege
]);
const TRANSIENT_CLASSES = ['08', '53', '28', '58'];

/** The `code` of an error (SQLSTATE for Postgres, errno name for sockets, postgres.js's own codes). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the failure is the database's state, not the rows': retry later, do not dead-letter. */
export function isTransientDbError(err: unknown): boolean {
  if (err instanceof AggregateError && err.errors.some(isTransientDbError)) return true;
  const code = errorCode(err);
  if (code === undefined) return false;
  return TRANSIENT_CODES.has(code) || (code.length === 5 && TRANSIENT_CLASSES.includes(code.slice(0, 2)));
}

/**
 * `unnest($1::uuid[], $2::text[], ...)`: one parameter per column whatever the batch size, so each statement
 * has one text (prepared once per connection) and no bind-parameter limit; measured faster than a VALUES list
 * of the same rows (bench/write-queue.bench.ts).
 */
function unnestOf(types: Record<string, string>): { columns: string; unnest: string } {
  const cols = Object.keys(types);
  return {
    columns: cols.join(', '),
    // A boolean column goes as text ('t'/'f', see arrays()): postgres.js serializes a parameter by the type
    // the server describes, and its boolean serializer turns any string into 'f'.
    unnest: `unnest(${cols
      .map((c, i) =>
        types[c] === 'boolean' ? `$${i + 1}::text[]::boolean[]` : `$${i + 1}::${types[c] ?? 'text'}[]`,
      )
      .join(', ')})`,
  };
}

const STARTS = unnestOf(CONVERSATION_START_TYPES);
const INSERT_STARTS = `insert into v_voice_conversations (${STARTS.columns})
  select * from ${STARTS.unnest} on conflict do nothing`;
const MESSAGES = unnestOf(MESSAGE_TYPES);
const INSERT_MESSAGES = `insert into v_voice_messages (${MESSAGES.columns})
  select * from ${MESSAGES.unnest} on conflict do nothing`;
const ENDS = unnestOf(CONVERSATION_END_TYPES);
const APPLY_ENDS = `update v_voice_conversations c set
    ended_at = v.ended_at, duration_seconds = v.duration_seconds, total_turns = v.total_turns,
    resolution = v.resolution, transferred_to = v.transferred_to, media_backend = v.media_backend
  from ${ENDS.unnest} as v (${ENDS.columns})
  where c.conversation_uuid = v.conversation_uuid and c.domain_uuid = v.domain_uuid
  returning c.conversation_uuid`;

type Value = string | number | boolean | null;

/**
 * Column-major parameters: one array per column, in column order. Booleans go as 't'/'f' text (cast back in
 * unnestOf): postgres.js sends a JS boolean array as a scalar ("cannot cast type boolean to boolean[]").
 */
function arrays<C extends string>(rows: readonly Record<C, Value>[], columns: readonly C[]): Value[][] {
  return columns.map((c) =>
    rows.map((r) => {
      const v = r[c];
      return typeof v === 'boolean' ? (v ? 't' : 'f') : v;
    }),
  );
}

/** Anything a statement can run on: the pool or a transaction. */
type Db = postgres.Sql | postgres.TransactionSql;

async function insertStarts(db: Db, rows: readonly ConversationStartRow[]): Promise<void> {
  if (rows.length > 0) await db.unsafe(INSERT_STARTS, arrays(rows, CONVERSATION_START_COLUMNS));
}

async function insertMessages(db: Db, rows: readonly MessageRow[]): Promise<void> {
  if (rows.length > 0) await db.unsafe(INSERT_MESSAGES, arrays(rows, MESSAGE_COLUMNS));
}

/** Applies ends (idempotent UPDATEs); returns the ones whose conversation does not exist in that domain. */
async function applyEnds(db: Db, rows: readonly ConversationEndRow[]): Promise<ConversationEndRow[]> {
  if (rows.length === 0) return [];
  const updated = await db.unsafe<{ conversation_uuid: string }[]>(
    APPLY_ENDS,
    arrays(rows, CONVERSATION_END_COLUMNS),
  );
  const matched = new Set(updated.map((u) => u.conversation_uuid));
  return rows.filter((r) => !matched.has(r.conversation_uuid));
}

const noConversation = (row: ConversationEndRow): DeadLetter => ({
  reason: 'conversation end for a conversation that does not exist in its domain',
  code: 'E_NOT_FOUND',
  item: { type: 'conversation_end', row },
});

/**
 * Writes a batch in one transaction: conversations first, then messages, then ends, so a batch holding all
 * three for one call satisfies the foreign keys. Throws what Postgres throws; returns the ends that matched no
 * conversation, which are dead letters (an UPDATE of nothing would lose them silently).
 */
export async function writeRows(sql: postgres.Sql, items: readonly QueuedRow[]): Promise<DeadLetter[]> {
  const starts: ConversationStartRow[] = [];
  const messages: MessageRow[] = [];
  // The last end of a conversation wins: one UPDATE ... FROM unnest() cannot apply two to the same row.
  const ends = new Map<string, ConversationEndRow>();
  for (const item of items) {
    if (item.type === 'conversation_start') starts.push(item.row);
    else if (item.type === 'message') messages.push(item.row);
    else ends.set(item.row.conversation_uuid, item.row);
  }
  const kinds = (starts.length > 0 ? 1 : 0) + (messages.length > 0 ? 1 : 0) + (ends.size > 0 ? 1 : 0);
  if (kinds === 0) return [];
  const write = async (db: Db): Promise<ConversationEndRow[]> => {
    await insertStarts(db, starts);
    await insertMessages(db, messages);
    return applyEnds(db, [...ends.values()]);
  };
  // One statement is a transaction by itself: no BEGIN/COMMIT round trips for the common all-messages batch.
  const missing = kinds === 1 ? await write(sql) : await sql.begin(write);
  return missing.map(noConversation);
}

export type IsolatedResult = { ok: true; dead: DeadLetter[] } | { ok: false; error: unknown };

/**
 * After a batch was refused: writes the rows one by one (same kind order) so one bad row cannot wedge the
 * queue. Rows Postgres refuses become dead letters; a transient failure stops it (the caller spools the
 * batch; rows already written are no-ops when replayed).
 */
export async function writeIsolated(sql: postgres.Sql, items: readonly QueuedRow[]): Promise<IsolatedResult> {
  const rank = { conversation_start: 0, message: 1, conversation_end: 2 } as const;
  const ordered = items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => rank[a.item.type] - rank[b.item.type] || a.i - b.i);
  const dead: DeadLetter[] = [];
  for (const { item } of ordered) {
    try {
      if (item.type === 'conversation_start') await insertStarts(sql, [item.row]);
      else if (item.type === 'message') await insertMessages(sql, [item.row]);
      else dead.push(...(await applyEnds(sql, [item.row])).map(noConversation));
    } catch (err) {
      if (isTransientDbError(err)) return { ok: false, error: err };
      const message = err instanceof Error ? err.message : String(err);
      dead.push({ reason: message, code: errorCode(err), item });
    }
  }
  return { ok: true, dead };
}
