import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as pause, setImmediate as yieldToLoop } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransientDbError } from '../../src/store/rows.js';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { conversation, deliveryProblems, stagger } from './write-queue-child-rows.js';

const withCode = (code: string): Error => Object.assign(new Error(code), { code });

describe('write queue error classification', () => {
  it.each([
    ['ECONNREFUSED', true],
    ['ECONNRESET', true],
    ['CONNECTION_CLOSED', true],
    ['CONNECTION_ENDED', true],
    ['CONNECT_TIMEOUT', true],
    ['57P01', true],
    ['57P03', true],
    ['08006', true],
    ['08001', true],
    ['53300', true],
    ['25006', true],
    ['23514', false],
    ['23503', false],
    ['22P02', false],
    ['UNDEFINED_VALUE', false],
  ])('%s is transient: %s', (code, transient) => {
    expect(isTransientDbError(withCode(code))).toBe(transient);
  });

  it('looks inside an AggregateError (several addresses refused) and treats code-less errors as the rows’ fault', () => {
    expect(isTransientDbError(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(
      true,
    );
    expect(isTransientDbError(new TypeError('bad value'))).toBe(false);
    expect(isTransientDbError(undefined)).toBe(false);
  });
});

describe('write queue when its connections are terminated by the server', () => {
  let sql: Sql;
  let admin: Sql;
  let spoolDir: string;
  beforeAll(async () => {
    admin = testSql({ max: 1 });
    spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-term-'));
  });
  afterAll(async () => {
    await sql.end({ timeout: 1 });
    await admin.end();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('treats admin_shutdown as an outage: spools, reconnects, loses and duplicates nothing', async () => {
    const app = `wq-term-${randomUUID().slice(0, 8)}`;
    sql = testSql({ max: 2, connection: { application_name: app } });
    const { domain_uuid } = await createDomain(admin);
    const queue = createWriteQueue({
      sql,
      spoolDir,
      log: pino({ level: 'silent' }),
      retryBaseMs: 20,
      retryCapMs: 100,
    });
    await queue.start();
    const items = stagger(Array.from({ length: 120 }, () => conversation(domain_uuid, 25)));
    let terminated = 0;
    let nextKillAt = 500;
    for (let i = 0; i < items.length;) {
      // Paced by what the queue absorbs, so the terminations land while rows are being written.
      if (queue.stats().depth > 300) {
        await pause(1);
        continue;
      }
      for (const item of items.slice(i, i + 100)) queue.enqueue(item);
      i += 100;
      if (queue.stats().flushed >= nextKillAt) {
        nextKillAt += 800;
        const [r] = await admin<{ n: number }[]>`
          select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ${app}`;
        terminated += r?.n ?? 0;
      }
      await yieldToLoop();
    }
    expect(terminated).toBeGreaterThan(0);
    await queue.drain({ timeoutMs: 20_000 });
    expect(queue.stats()).toMatchObject({ depth: 0, spooledRows: 0, deadLettered: 0 });
    expect(await deliveryProblems(admin, domain_uuid, items)).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
    await queue.close();
  });
});
