import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/store/embedded.js';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { conversation, deliveryProblems, interleave } from './write-queue-child-rows.js';

const log = pino({ level: 'silent' });

/** A client whose server is gone: every attempt is refused at once. */
async function deadSql(): Promise<Sql> {
  const port = await freePort();
  return postgres(`postgres://nobody:x@127.0.0.1:${port}/nothing`, { max: 1, connect_timeout: 2 });
}

describe('write queue under overload and shutdown', () => {
  let sql: Sql;
  let tmp: string;
  beforeAll(async () => {
    sql = testSql();
    tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-drain-'));
  });
  afterAll(async () => {
    await sql.end();
    await rm(tmp, { recursive: true, force: true });
  });

  it('keeps memory under the high watermark by spilling to the spool, and signals overload until it drains', async () => {
    const { domain_uuid } = await createDomain(sql);
    const spoolDir = path.join(tmp, 'overload');
    const dead = await deadSql();
    const queue = createWriteQueue({
      sql: dead,
      spoolDir,
      log,
      batchSize: 50,
      highWatermark: 200,
      lowWatermark: 50,
      retryBaseMs: 10_000,
    });
    await queue.start();
    const items = interleave(Array.from({ length: 40 }, () => conversation(domain_uuid, 23)));
    let sawOverload = false;
    // Synchronously, in one go: nothing gets a chance to flush, only the watermark bounds memory.
    for (const item of items) {
      const r = queue.enqueue(item);
      expect(r.accepted).toBe(true);
      sawOverload ||= r.overloaded;
      expect(queue.stats().depth).toBeLessThan(200);
    }
    expect(sawOverload).toBe(true);
    // Postgres stays away for the whole drain: it gives up at the deadline with every row in the spool.
    const drained = await queue.drain({ timeoutMs: 300 });
    expect(drained.flushed).toBe(0);
    expect(queue.stats()).toMatchObject({ depth: 0, spooledRows: items.length, databaseReachable: false });
    await queue.close();
    await dead.end();

    // The daemon comes back with Postgres reachable: the spool is replayed and emptied.
    const again = createWriteQueue({
      sql,
      spoolDir,
      log,
      batchSize: 50,
      highWatermark: 200,
      lowWatermark: 50,
    });
    await again.start();
    expect(again.stats().spooledRows).toBe(items.length);
    const replayed = await again.drain({ timeoutMs: 20_000 });
    expect(replayed.flushed).toBe(items.length);
    expect(again.stats()).toMatchObject({ spooledRows: 0, overloaded: false, databaseReachable: true });
    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
    await again.close();
  });

  it('spools what it could not write when the drain times out on a database that never answers', async () => {
    // Accepts connections and says nothing: a hung server or a black-holed network.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const hung = postgres(`postgres://nobody:x@127.0.0.1:${port}/nothing`, { max: 1, connect_timeout: 60 });

    const { domain_uuid } = await createDomain(sql);
    const spoolDir = path.join(tmp, 'hung');
    const queue = createWriteQueue({ sql: hung, spoolDir, log, batchSize: 100 });
    await queue.start();
    const items = interleave(Array.from({ length: 10 }, () => conversation(domain_uuid, 30)));
    for (const item of items) queue.enqueue(item);
    const t0 = performance.now();
    const drained = await queue.drain({ timeoutMs: 300 });
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(drained).toEqual({ flushed: 0, spooled: items.length });
    expect(queue.stats()).toMatchObject({ depth: 0, spooledRows: items.length });
    await queue.close();
    await hung.end({ timeout: 0 });
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));

    const again = createWriteQueue({ sql, spoolDir, log });
    await again.start();
    await again.drain({ timeoutMs: 20_000 });
    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
    await again.close();
  });
});
