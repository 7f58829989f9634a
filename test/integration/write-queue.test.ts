import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWriteQueue, type WriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { conversation, deliveryProblems, stagger } from './write-queue-child-rows.js';

describe('write queue against a healthy Postgres', () => {
  let sql: Sql;
  let spoolDir: string;
  let queue: WriteQueue | undefined;

  beforeAll(() => {
    sql = testSql();
  });
  afterEach(async () => {
    await queue?.close();
    queue = undefined;
    await rm(spoolDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await sql.end();
  });

  it('writes thousands of rows of many concurrent conversations exactly once, in order, ends applied', async () => {
    const { domain_uuid } = await createDomain(sql);
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-'));
    queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }), batchSize: 200 });
    await queue.start();

    const convs = Array.from({ length: 150 }, (_, i) => conversation(domain_uuid, 10 + (i % 23)));
    const items = stagger(convs);
    expect(items.length).toBeGreaterThan(3000);
    // Uneven slices with the event loop turning in between, so flushes cut batches at arbitrary points:
    // a batch holds starts, messages and ends of different calls at once.
    for (let i = 0; i < items.length;) {
      const n = 1 + ((i * 7919) % 311);
      for (const item of items.slice(i, i + n)) {
        expect(queue.enqueue(item)).toEqual({ accepted: true, overloaded: false });
      }
      i += n;
      await yieldToLoop();
    }

    const drained = await queue.drain({ timeoutMs: 20_000 });
    expect(drained.spooled).toBe(0);
    expect(queue.stats()).toMatchObject({ depth: 0, spooledRows: 0, flushed: items.length, deadLettered: 0 });
    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('flushes a partial batch after the flush interval, without a drain', async () => {
    const { domain_uuid } = await createDomain(sql);
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-'));
    queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }), flushIntervalMs: 20 });
    await queue.start();
    const { items } = conversation(domain_uuid, 3);
    for (const item of items) queue.enqueue(item);
    const q = queue;
    await expect.poll(() => q.stats().flushed, { timeout: 5_000, interval: 10 }).toBe(items.length);
    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
  });

  it('writes the same rows twice as once (replays are idempotent)', async () => {
    const { domain_uuid } = await createDomain(sql);
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-'));
    queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }) });
    await queue.start();
    const { items } = conversation(domain_uuid, 6);
    for (const item of [...items, ...items]) queue.enqueue(item);
    await queue.drain({ timeoutMs: 10_000 });
    expect(queue.stats().deadLettered).toBe(0);
    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
  });

  it('refuses rows after close instead of throwing', async () => {
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-'));
    queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }) });
    await queue.start();
    await queue.close();
    await queue.close();
    const { items } = conversation('00000000-0000-4000-8000-000000000000', 1);
    expect(queue.enqueue(items[0]!)).toEqual({ accepted: false, overloaded: false, reason: 'closed' });
  });
});
