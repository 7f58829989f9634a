import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/store/embedded.js';
import type { QueuedRow } from '../../src/store/rows.js';
import { DEAD_LETTER_FILE } from '../../src/store/spool.js';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { deliveryProblems } from './write-queue-child-rows.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./write-queue-child.ts', import.meta.url));

describe('a daemon killed while spooling', () => {
  let sql: Sql;
  let tmp: string;
  let spoolDir: string;
  beforeAll(async () => {
    sql = testSql();
    tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-kill-'));
    spoolDir = path.join(tmp, 'spool');
  });
  afterAll(async () => {
    await sql.end();
    await rm(tmp, { recursive: true, force: true });
  });

  it('loses nothing it had spooled: the next process replays it all', async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const n = 5_000;
    const deadUrl = `postgres://nobody:x@127.0.0.1:${await freePort()}/nothing`;
    const expectedFile = path.join(tmp, 'expected.json');
    // node itself, not `npx tsx`: a SIGKILL must hit the process that writes the spool, not a wrapper.
    const args = [CHILD, deadUrl, spoolDir, a.domain_uuid, b.domain_uuid, String(n), expectedFile];
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before spooling: ${stderr}`)));
    });
    expect(stdout.trim()).toBe(`spooled ${n}`);
    child.kill('SIGKILL');
    await exited;

    const queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }) });
    await queue.start();
    expect(queue.stats().spooledRows).toBeGreaterThanOrEqual(n);
    await queue.drain({ timeoutMs: 25_000 });
    expect(queue.stats()).toMatchObject({ spooledRows: 0, depth: 0 });

    // Every acknowledged row of domain A, exactly once and in order; what arrived of domain B (never
    // acknowledged) is consistent with itself.
    const expectedA = JSON.parse(await readFile(expectedFile, 'utf8')) as QueuedRow[];
    expect(expectedA).toHaveLength(n);
    expect(await deliveryProblems(sql, a.domain_uuid, expectedA)).toEqual([]);
    const order = await deliveryProblems(sql, b.domain_uuid, await rowsOf(sql, b.domain_uuid));
    expect(order).toEqual([]);

    // At most one casualty: the line the kill cut in half, set aside (it was never acknowledged).
    const files = await readdir(spoolDir);
    expect(files.filter((f) => f.startsWith('segment-'))).toEqual([]);
    if (files.includes(DEAD_LETTER_FILE)) {
      const dead = (await readFile(path.join(spoolDir, DEAD_LETTER_FILE), 'utf8')).trim().split('\n');
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!)).toMatchObject({ reason: 'spool line cut short (crash during write)' });
    }
    await queue.close();
  });
});

/** What reached Postgres for a domain, as queue items, so deliveryProblems checks counts and order. */
async function rowsOf(sql: Sql, domain_uuid: string): Promise<QueuedRow[]> {
  const convs = await sql<{ conversation_uuid: string; resolution: string | null; total_turns: number }[]>`
    select conversation_uuid, resolution, total_turns from v_voice_conversations where domain_uuid = ${domain_uuid}`;
  const msgs = await sql<{ message_uuid: string; content: string }[]>`
    select message_uuid, content from v_voice_messages where domain_uuid = ${domain_uuid}`;
  const items: QueuedRow[] = [];
  for (const c of convs) {
    items.push({
      type: 'conversation_start',
      row: { conversation_uuid: c.conversation_uuid },
    } as QueuedRow);
    if (c.resolution !== null) {
      items.push({ type: 'conversation_end', row: { ...c, domain_uuid } } as unknown as QueuedRow);
    }
  }
  for (const m of msgs) items.push({ type: 'message', row: m } as QueuedRow);
  return items;
}
