/**
 * A `voice-ai chat`-like process: its write queue on a spool claimed under <base-dir> (the production
 * composition, startClaimedWriteQueue). Postgres starts unreachable: it spools <n> conversations of <domain>,
 * writes them to <expected-file>, prints `spooled`, then waits for `up` on stdin, lets Postgres through,
 * enqueues one more conversation, closes the queue and prints `done <stats json>`. Logs go to stderr (JSON).
 *
 * usage: node --import tsx spool-claim-child.ts <db-url> <base-dir> <domain> <n> <expected-file>
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as pause } from 'node:timers/promises';
import pino from 'pino';
import { startClaimedWriteQueue } from '../../src/store/spool-claim.js';
import { switchableDb } from './switchable-db.js';
import { conversation } from './write-queue-child-rows.js';

const [url, baseDir, domain, count, expectedFile] = process.argv.slice(2);
if (!url || !baseDir || !domain || !count || !expectedFile) {
  throw new Error('usage: <db-url> <base-dir> <domain> <n> <expected-file>');
}
const db = await switchableDb(url, true);
const log = pino({ level: 'info' }, pino.destination({ fd: 2, sync: true }));
const { queue, close } = await startClaimedWriteQueue({
  sql: db.sql,
  baseDir,
  log,
  retryBaseMs: 20,
  retryCapMs: 100,
});

const spooled = Array.from({ length: Number(count) }, () => conversation(domain, 6).items).flat();
for (const item of spooled) queue.enqueue(item);
// Bounded by the parent's timeout; this is the child reporting progress.
while (queue.stats().spooledRows < spooled.length) await pause(5);
process.stdout.write('spooled\n');

const lines = createInterface({ input: process.stdin });
await once(lines, 'line');
db.down = false;
const live = conversation(domain, 4).items;
for (const item of live) queue.enqueue(item);
await writeFile(expectedFile, JSON.stringify([...spooled, ...live]));
await close({ timeoutMs: 20_000 });
process.stdout.write(`done ${JSON.stringify(queue.stats())}\n`);
lines.close();
await db.sql.end({ timeout: 1 });
