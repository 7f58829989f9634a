import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationResolution, QueuedRow } from '../../src/store/rows.js';
import { DEAD_LETTER_FILE } from '../../src/store/spool.js';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { conversation, deliveryProblems, interleave } from './write-queue-child-rows.js';

describe('write queue with rows Postgres refuses', () => {
  let sql: Sql;
  let spoolDir: string;
  beforeAll(async () => {
    sql = testSql();
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-dead-'));
  });
  afterAll(async () => {
    await sql.end();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('moves the bad rows to the dead-letter file, writes the others and keeps going', async () => {
    const { domain_uuid } = await createDomain(sql);
    const logLines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => logLines.push(line) });
    const queue = createWriteQueue({ sql, spoolDir, log });
    await queue.start();

    const good = Array.from({ length: 5 }, () => conversation(domain_uuid, 4));
    // Breaks the resolution CHECK constraint.
    const bogus = conversation(domain_uuid, 2, { resolution: 'bogus' as ConversationResolution });
    // A domain FusionPBX deleted: the start breaks the foreign key, so do its messages, and its end finds nothing.
    const orphan = conversation(randomUUID(), 2);
    const strayEnd: QueuedRow = {
      type: 'conversation_end',
      row: {
        conversation_uuid: randomUUID(),
        domain_uuid,
        ended_at: new Date().toISOString(),
        duration_seconds: 1,
        total_turns: 0,
        resolution: 'completed',
        media_backend: 'files',
        transferred_to: null,
      },
    };
    for (const item of [...interleave([...good, bogus, orphan]), strayEnd]) queue.enqueue(item);
    await queue.drain({ timeoutMs: 20_000 });

    const dead = (await readFile(path.join(spoolDir, DEAD_LETTER_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { code?: string; item: QueuedRow; at: string });
    const byCode = (code: string): QueuedRow[] => dead.filter((d) => d.code === code).map((d) => d.item);
    expect(byCode('23514')).toEqual([bogus.items.at(-1)]);
    expect(byCode('23503')).toEqual(orphan.items.slice(0, -1));
    expect(byCode('E_NOT_FOUND')).toEqual([orphan.items.at(-1), strayEnd]);
    expect(dead).toHaveLength(1 + orphan.items.length + 1);
    expect(queue.stats().deadLettered).toBe(dead.length);

    const written = [...good.flatMap((c) => c.items), ...bogus.items.slice(0, -1)];
    expect(await deliveryProblems(sql, domain_uuid, written)).toEqual([]);

    const logged = logLines.map((l) => JSON.parse(l) as { msg: string; code?: string; pii?: unknown });
    const deadLogs = logged.filter((l) => l.msg === 'write queue row moved to dead-letter');
    expect(deadLogs).toHaveLength(dead.length);
    expect(deadLogs[0]).toMatchObject({ level: 50, type: expect.any(String) as string });
    // Caller numbers and transcripts stay out of the log line.
    expect(logLines.join('\n')).not.toContain('+33612345678');

    // Not wedged: later rows of the same domain still arrive.
    const later = conversation(domain_uuid, 3);
    for (const item of later.items) queue.enqueue(item);
    await queue.drain({ timeoutMs: 10_000 });
    expect(await deliveryProblems(sql, domain_uuid, [...written, ...later.items])).toEqual([]);
    await queue.close();
  });
});
