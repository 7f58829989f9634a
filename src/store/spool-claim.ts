import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { isSegmentFile } from './spool.js';
import { createWriteQueue, type WriteQueue, type WriteQueueOptions } from './write-queue.js';

/**
 * A spool directory for a process that may run several times at once (`voice-ai chat`), under a shared base
 * directory. Two processes on one spool directory replay and delete each other's segments (issue 9: the
 * other then failed every flush with ENOENT), so each process gets its own, named `<pid>-<tag>`: the name
 * says who owns it. The directories of processes that are gone are adopted, so what a crashed chat spooled
 * is replayed by the next one.
 */
export interface SpoolClaim {
  /** This process's own spool directory. */
  dir: string;
  /** Directories of dead processes, now this process's: give them to openSpool's `adopt`. */
  adopted: string[];
  /** Removes this process's directory if nothing was left in it (call after the spool closed). */
  release(): Promise<void>;
}

const OWNED_RE = /^(\d+)-[0-9a-f]{8}$/;

/** Claims a fresh spool directory under `base` and adopts what dead processes left there. */
export async function claimSpoolDir(
  base: string,
  log: Logger,
  opts: { pid?: number; isAlive?: (pid: number) => boolean } = {},
): Promise<SpoolClaim> {
  const pid = opts.pid ?? process.pid;
  const isAlive = opts.isAlive ?? processIsAlive;
  const fresh = (): string => path.join(base, `${pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(base, { recursive: true, mode: 0o700 });
  const dir = fresh();
  await mkdir(dir, { mode: 0o700 });

  const adopted: string[] = [];
  const entries = await readdir(base, { withFileTypes: true });
  for (const entry of entries) {
    const owner = OWNED_RE.exec(entry.name);
    const from = path.join(base, entry.name);
    if (!entry.isDirectory() || !owner || from === dir) continue;
    // A directory with our pid is not ours (ours is new): it belonged to a dead process with the same pid.
    const ownerPid = Number(owner[1]);
    if (ownerPid !== pid && isAlive(ownerPid)) continue;
    const files = await readdir(from).catch(() => undefined);
    if (files === undefined) continue;
    if (!files.some(isSegmentFile)) {
      // Nothing to replay: an empty one is litter, one with a dead-letter file is the operator's to read.
      if (files.length === 0) await rmdir(from).catch(() => undefined);
      continue;
    }
    // The rename is the claim: of two processes adopting at once, exactly one succeeds (ENOENT for the other).
    const to = fresh();
    try {
      await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    log.info({ from: entry.name, to: path.basename(to) }, 'adopted the spool of a process that is gone');
    adopted.push(to);
  }

  // Segments in the base itself were spooled before per-process directories existed: adopt them too.
  const legacy = entries.filter((e) => e.isFile() && isSegmentFile(e.name));
  if (legacy.length > 0) {
    const to = fresh();
    await mkdir(to, { mode: 0o700 });
    for (const e of legacy) {
      await rename(path.join(base, e.name), path.join(to, e.name)).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    }
    log.info(
      { segments: legacy.length, to: path.basename(to) },
      'adopted spool segments from the base directory',
    );
    adopted.push(to);
  }

  return {
    dir,
    adopted,
    async release() {
      // rmdir refuses a directory that still holds segments (Postgres was down) or a dead-letter file.
      await rmdir(dir).catch(() => undefined);
    },
  };
}

/** A started write queue on a spool directory claimed under `baseDir`, replaying what dead processes left. */
export async function startClaimedWriteQueue(
  opts: Omit<WriteQueueOptions, 'spoolDir' | 'adoptSpoolDirs'> & { baseDir: string },
): Promise<{ queue: WriteQueue; close: (o: { timeoutMs: number }) => Promise<void> }> {
  const { baseDir, ...rest } = opts;
  const claim = await claimSpoolDir(baseDir, opts.log);
  const queue = createWriteQueue({ ...rest, spoolDir: claim.dir, adoptSpoolDirs: claim.adopted });
  await queue.start();
  return {
    queue,
    close: async ({ timeoutMs }) => {
      await queue.close({ timeoutMs });
      await claim.release();
    },
  };
}

/** Whether a process with this pid exists (EPERM: it does, as another user). */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
