/**
 * A daemon that can only spool: enqueues N rows (whole conversations of domain A) against a database nobody
 * listens on, prints `spooled N` once they are fsync'd, then keeps enqueueing rows of domain B until the test
 * SIGKILLs it (so the kill lands in the middle of spool writes). The rows of domain A are written to
 * <expected-file> first, so the test knows exactly what must arrive.
 *
 * usage: node --import tsx write-queue-child.ts <dead-db-url> <spool-dir> <domain-a> <domain-b> <n> <expected-file>
 */
import { writeFile } from 'node:fs/promises';
import { setImmediate as yieldToLoop, setTimeout as pause } from 'node:timers/promises';
import pino from 'pino';
import postgres from 'postgres';
import { createWriteQueue } from '../../src/store/write-queue.js';
import { conversation } from './write-queue-child-rows.js';

const [url, spoolDir, domainA, domainB, count, expectedFile] = process.argv.slice(2);
if (!url || !spoolDir || !domainA || !domainB || !count || !expectedFile) {
  throw new Error('usage: <url> <spool-dir> <domain-a> <domain-b> <n> <expected-file>');
}
const n = Number(count);
const perConversation = 50;
if (n % perConversation !== 0) throw new Error(`n must be a multiple of ${perConversation}`);

const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
const queue = createWriteQueue({ sql, spoolDir, log: pino({ level: 'silent' }), retryBaseMs: 60_000 });
await queue.start();

const expected = Array.from(
  { length: n / perConversation },
  () => conversation(domainA, perConversation - 2).items,
);
await writeFile(expectedFile, JSON.stringify(expected.flat()));
for (const items of expected) {
  for (const item of items) queue.enqueue(item);
  await yieldToLoop();
}
// Bounded by the parent's timeout; this is the child reporting progress, not a test synchronising on time.
while (queue.stats().spooledRows < n || queue.stats().depth > 0) await pause(5);
// Report once domain B is being spooled too, so the kill that follows lands in the middle of its writes.
let reported = false;
for (;;) {
  for (const item of conversation(domainB, 8).items) queue.enqueue(item);
  if (!reported && queue.stats().spooledRows > n + 500) {
    process.stdout.write(`spooled ${n}\n`);
    reported = true;
  }
  await yieldToLoop();
}
