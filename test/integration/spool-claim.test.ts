import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { QueuedRow } from '../../src/store/rows.js';
import { startClaimedWriteQueue } from '../../src/store/spool-claim.js';
import { openSpool } from '../../src/store/spool.js';
import { createDomain, testSql } from '../helpers/db.js';
import { conversation, deliveryProblems } from './write-queue-child-rows.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./spool-claim-child.ts', import.meta.url));

const sql = testSql();
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await sql.end();
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'voice-ai-claim-'));
  cleanup.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** Resolves with the first stdout line starting with `prefix`. */
  line(prefix: string): Promise<string>;
  logs(): Record<string, unknown>[];
}

function startChild(args: string[]): Child {
  // node itself, not `npx tsx`: the pid that owns the spool directory is the process that writes it.
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: 'pipe' });
  cleanup.push(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    proc,
    line: (prefix) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = stdout.split('\n').find((l) => l.startsWith(prefix));
          if (found !== undefined) {
            proc.stdout.off('data', check);
            resolve(found);
          }
        };
        proc.stdout.on('data', check);
        proc.once('exit', (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
        check();
      }),
    logs: () =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A pid no process has any more: a child that already exited (and was reaped). */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await once(p, 'exit');
  if (p.pid === undefined) throw new Error('no pid');
  return p.pid;
}

describe('spool directories of processes that run side by side (voice-ai chat)', () => {
  it('two processes on one spool base each deliver exactly their own rows, nothing vanishes', async () => {
    const base = path.join(await tmp(), 'chat');
    const [a, b] = [await createDomain(sql), await createDomain(sql)];
    const expectedFiles = [path.join(base, '..', 'a.json'), path.join(base, '..', 'b.json')];
    const url = inject('databaseUrl');
    const first = startChild([url, base, a.domain_uuid, '3', expectedFiles[0]!]);
    await first.line('spooled');
    // The second starts while the first's rows sit in the spool: on a shared directory it would replay them.
    const second = startChild([url, base, b.domain_uuid, '2', expectedFiles[1]!]);
    await second.line('spooled');
    for (const c of [first, second]) c.proc.stdin.write('up\n');
    const stats = await Promise.all([first, second].map((c) => c.line('done ')));
    await Promise.all([first, second].map((c) => once(c.proc, 'exit')));
    expect([first.proc.exitCode, second.proc.exitCode]).toEqual([0, 0]);

    for (const [i, d] of [a, b].entries()) {
      const expected = JSON.parse(await readFile(expectedFiles[i]!, 'utf8')) as QueuedRow[];
      expect(await deliveryProblems(sql, d.domain_uuid, expected)).toEqual([]);
      // Every row it wrote was its own: none of the other's replayed here, none left behind.
      const s = JSON.parse(stats[i]!.slice('done '.length)) as { flushed: number; spooledRows: number };
      expect(s).toMatchObject({ flushed: expected.length, spooledRows: 0 });
    }
    for (const c of [first, second]) {
      expect(
        c.logs().filter((l) => (l.level as number) >= 40 && l.msg !== 'database unreachable; spooling rows'),
      ).toEqual([]);
    }
    // Both released their directories.
    expect(await readdir(base)).toEqual([]);
  });

  it('adopts what dead processes left (and pre-upgrade segments), never a live process directory', async () => {
    const base = path.join(await tmp(), 'chat');
    const d = await createDomain(sql);
    const log = pino({ level: 'silent' });
    const leftBy = async (dir: string, rows: QueuedRow[]): Promise<void> => {
      const spool = await openSpool({ dir, log });
      await spool.append(1, rows);
      await spool.close();
    };
    const crashed = conversation(d.domain_uuid, 4).items;
    const deadDir = `${await deadPid()}-0123abcd`;
    await leftBy(path.join(base, deadDir), crashed);
    const legacy = conversation(d.domain_uuid, 2).items;
    await leftBy(base, legacy);
    // A process still running (this test's parent, say) keeps its directory and its rows.
    const liveDir = `${process.ppid}-89abcdef`;
    const other = await createDomain(sql);
    await leftBy(path.join(base, liveDir), conversation(other.domain_uuid, 2).items);
    await mkdir(path.join(base, `${await deadPid()}-00000000`));

    const { queue, close } = await startClaimedWriteQueue({ sql, baseDir: base, log });
    expect(queue.stats().spooledRows).toBe(crashed.length + legacy.length);
    const mine = conversation(d.domain_uuid, 2).items;
    for (const item of mine) queue.enqueue(item);
    await close({ timeoutMs: 20_000 });
    expect(queue.stats()).toMatchObject({
      spooledRows: 0,
      flushed: crashed.length + legacy.length + mine.length,
    });
    expect(await deliveryProblems(sql, d.domain_uuid, [...crashed, ...legacy, ...mine])).toEqual([]);
    expect(await deliveryProblems(sql, other.domain_uuid, [])).toEqual([]);
    expect(await readdir(base)).toEqual([liveDir]);
    expect((await readdir(path.join(base, liveDir))).filter((f) => f.startsWith('segment-'))).toHaveLength(1);
  });
});
