// Write queue throughput: N message rows through the queue (batched multi-row INSERTs) against the baseline a
// naive session would do, one INSERT per row awaited in turn, measured in the same run on the same database.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import postgres from 'postgres';
import type { MessageRow, QueuedRow } from '../src/store/rows.js';
import { createWriteQueue } from '../src/store/write-queue.js';

const QUEUE_ROWS = 50_000;
const SINGLE_ROWS = 5_000;
const CONVERSATIONS = 100;

// A type alias, not an interface: bench/run.ts treats every bench's figures as Record<string, number>.
export type WriteQueueFigures = {
  /** Message rows per second from the first enqueue to the drain that saw them all committed. */
  queueRowsPerSec: number;
  /** Message rows per second, one awaited INSERT each. */
  singleInsertRowsPerSec: number;
  ratio: number;
};

function message(domain_uuid: string, conversation_uuid: string, seq: number): MessageRow {
  return {
    message_uuid: randomUUID(),
    conversation_uuid,
    domain_uuid,
    turn: seq >> 1,
    seq,
    role: seq % 2 === 0 ? 'user' : 'assistant',
    content: 'Bonjour, je voudrais parler à quelqu’un du service commercial, s’il vous plaît.',
    stt_provider: 'whisper',
    llm_provider: 'openai',
    tts_provider: 'piper',
    stt_ms: 140,
    llm_first_token_ms: 320,
    tts_first_byte_ms: 90,
    turn_ms: 950,
    interrupted: false,
    created_at: new Date().toISOString(),
  };
}

/** Measures both on a migrated database (with v_domains); removes its rows and its spool afterwards. */
export async function benchWriteQueue(databaseUrl: string): Promise<WriteQueueFigures> {
  const sql = postgres(databaseUrl, { max: 4, onnotice: () => undefined });
  const domain_uuid = randomUUID();
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-bench-spool-'));
  const queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }) });
  try {
    await sql`
      INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled)
      VALUES (${domain_uuid}, ${`bench-${domain_uuid.slice(0, 8)}.invalid`}, true)`;
    const conversations = Array.from({ length: CONVERSATIONS }, () => randomUUID());
    await queue.start();
    for (const conversation_uuid of conversations) {
      queue.enqueue({
        type: 'conversation_start',
        row: {
          conversation_uuid,
          domain_uuid,
          secretary_uuid: null,
          call_uuid: randomUUID(),
          caller_id: '+15550100',
          caller_id_name: null,
          destination_number: '8000',
          processing_mode: 'turn_based',
          started_at: new Date().toISOString(),
        },
      });
    }
    await queue.drain({ timeoutMs: 30_000 });
    const messages = (n: number, offset: number): QueuedRow[] =>
      Array.from({ length: n }, (_, i) => ({
        type: 'message',
        row: message(
          domain_uuid,
          conversations[i % CONVERSATIONS] ?? '',
          offset + Math.floor(i / CONVERSATIONS),
        ),
      }));

    // Warm both paths (connections, prepared statements) before timing.
    for (const item of messages(2_000, 0)) queue.enqueue(item);
    await queue.drain({ timeoutMs: 30_000 });
    const warm = messages(200, 1_000);
    for (const item of warm) if (item.type === 'message') await insertOne(sql, item.row);

    const batch = messages(QUEUE_ROWS, 2_000);
    const flushedBefore = queue.stats().flushed;
    const q0 = performance.now();
    // Calls enqueue as they go, a burst per turn of the event loop, and hold back while the queue reports a
    // backlog (as the daemon would stop taking calls): what is measured is the steady rate Postgres takes.
    let spilled = false;
    for (let i = 0; i < batch.length;) {
      if (queue.stats().depth < 5_000) {
        for (const item of batch.slice(i, i + 500)) spilled ||= queue.enqueue(item).overloaded;
        i += 500;
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else {
        // Not a spin: the CPU belongs to Postgres while it works through the backlog.
        await new Promise<void>((resolve) => setTimeout(resolve, 1));
      }
    }
    await queue.drain({ timeoutMs: 120_000 });
    const queueMs = performance.now() - q0;
    const { flushed, spooledRows, deadLettered } = queue.stats();
    if (spilled || flushed - flushedBefore !== QUEUE_ROWS || spooledRows !== 0 || deadLettered !== 0) {
      throw new Error('write queue bench: rows not all written');
    }

    const singles = messages(SINGLE_ROWS, 3_000);
    const s0 = performance.now();
    for (const item of singles) if (item.type === 'message') await insertOne(sql, item.row);
    const singleMs = performance.now() - s0;

    const queueRowsPerSec = Math.round(QUEUE_ROWS / (queueMs / 1000));
    const singleInsertRowsPerSec = Math.round(SINGLE_ROWS / (singleMs / 1000));
    return { queueRowsPerSec, singleInsertRowsPerSec, ratio: queueRowsPerSec / singleInsertRowsPerSec };
  } finally {
    await queue.close({ timeoutMs: 5_000 });
    await sql`DELETE FROM v_domains WHERE domain_uuid = ${domain_uuid}`;
    await sql.end();
    await rm(spoolDir, { recursive: true, force: true });
  }
}

async function insertOne(sql: postgres.Sql, r: MessageRow): Promise<void> {
  await sql`
    INSERT INTO v_voice_messages (message_uuid, conversation_uuid, domain_uuid, turn, seq, role, content,
      stt_provider, llm_provider, tts_provider, stt_ms, llm_first_token_ms, tts_first_byte_ms, turn_ms, interrupted, created_at)
    VALUES (${r.message_uuid}, ${r.conversation_uuid}, ${r.domain_uuid}, ${r.turn}, ${r.seq}, ${r.role},
      ${r.content}, ${r.stt_provider}, ${r.llm_provider}, ${r.tts_provider}, ${r.stt_ms}, ${r.llm_first_token_ms},
      ${r.tts_first_byte_ms}, ${r.turn_ms}, ${r.interrupted}, ${r.created_at})
    ON CONFLICT DO NOTHING`;
}
