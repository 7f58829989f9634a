import { mkdtemp, readdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { openSpool } from '../../src/store/spool.js';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql } from '../helpers/db.js';
import { switchableDb } from './switchable-db.js';
import { conversation, deliveryProblems } from './write-queue-child-rows.js';

const sql = testSql();
const DOMAIN = '5b0f6a3e-8a43-4c55-9d0e-2f1f3c1e9a10';
let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-vanished-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await sql.end();
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

const segmentFiles = async (d: string): Promise<string[]> =>
  (await readdir(d)).filter((f) => f.startsWith('segment-'));

describe('a spool segment deleted underneath', () => {
  it('the spool logs it, reads no rows from it, and forgets it', async () => {
    const { log, lines } = capture();
    const spool = await openSpool({ dir, log });
    await spool.append(1, conversation(DOMAIN, 2).items);
    const [seg] = await spool.segments();
    expect(seg).toBeDefined();
    await unlink(path.join(dir, seg!.name));
    expect(await spool.read(seg!)).toEqual([]);
    await spool.remove(seg!);
    expect({ pending: spool.pendingRows, durable: spool.durableRows }).toEqual({ pending: 0, durable: 0 });
    expect(lines.filter((l) => l.msg === 'spool segment vanished; skipping it')).toEqual([
      expect.objectContaining({ level: 40, segment: seg!.name, rows: 4, op: 'read' }),
    ]);
    await spool.close();
  });

  it('does not wedge the write queue: rows enqueued later still reach Postgres', async () => {
    const d = await createDomain(sql);
    const db = await switchableDb(inject('databaseUrl'), true);
    cleanup.push(() => db.sql.end({ timeout: 1 }));
    const { log } = capture();
    const queue = createWriteQueue({ sql: db.sql, spoolDir: dir, log, retryBaseMs: 20, retryCapMs: 100 });
    cleanup.push(() => queue.close({ timeoutMs: 1_000 }));
    await queue.start();

    const lost = conversation(d.domain_uuid, 4).items;
    for (const item of lost) queue.enqueue(item);
    // Bounded by the test timeout: the queue reports progress, nothing here waits on the clock for it.
    while (queue.stats().spooledRows < lost.length) await pause(5);
    for (const f of await segmentFiles(dir)) await unlink(path.join(dir, f));

    db.down = false;
    const later = conversation(d.domain_uuid, 6).items;
    for (const item of later) queue.enqueue(item);
    await queue.drain({ timeoutMs: 20_000 });
    expect(queue.stats()).toMatchObject({ depth: 0, spooledRows: 0, databaseReachable: true });
    expect(await deliveryProblems(sql, d.domain_uuid, later)).toEqual([]);
  });
});
