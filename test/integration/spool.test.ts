import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueuedRow } from '../../src/store/rows.js';
import { DEAD_LETTER_FILE, openSpool, type Spool } from '../../src/store/spool.js';
import { conversation } from './write-queue-child-rows.js';

const log = pino({ level: 'silent' });
const DOMAIN = '5b0f6a3e-8a43-4c55-9d0e-2f1f3c1e9a10';

async function readAll(spool: Spool): Promise<QueuedRow[]> {
  const out: QueuedRow[] = [];
  for (const seg of await spool.segments()) out.push(...(await spool.read(seg)));
  return out;
}

describe('spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives rows back in batch-number order, a late lower-numbered batch before later ones', async () => {
    const spool = await openSpool({ dir, log, segmentMaxRows: 5 });
    const { items } = conversation(DOMAIN, 10);
    const [a, b, c, d] = [items.slice(0, 3), items.slice(3, 6), items.slice(6, 9), items.slice(9)];
    await spool.append(2, b);
    await spool.append(3, c);
    // Batch 1 was being written to Postgres when 2 and 3 were spilled, and then failed.
    await spool.append(1, a);
    await spool.append(4, d);
    expect(spool.durableRows).toBe(items.length);
    expect(await readAll(spool)).toEqual(items);
    await spool.close();
  });

  it('counts what a previous process left and numbers new batches after it', async () => {
    const first = await openSpool({ dir, log });
    const { items } = conversation(DOMAIN, 4);
    await first.append(7, items.slice(0, 2));
    await first.append(8, items.slice(2));
    // No close: the process was killed.
    const second = await openSpool({ dir, log });
    expect(second.durableRows).toBe(items.length);
    expect(second.pendingRows).toBe(items.length);
    expect(second.maxSeq).toBeGreaterThanOrEqual(7);
    const more = conversation(DOMAIN, 1).items;
    await second.append(second.maxSeq + 1, more);
    expect(await readAll(second)).toEqual([...items, ...more]);
    for (const seg of await second.segments()) await second.remove(seg);
    expect(second.pendingRows).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    await second.close();
    await first.close();
  });

  it('dead-letters a line cut short by a crash and keeps the rows before it', async () => {
    const first = await openSpool({ dir, log });
    const { items } = conversation(DOMAIN, 3);
    await first.append(1, items);
    await first.close();
    const [segment] = (await readdir(dir)).filter((f) => f.startsWith('segment-'));
    await appendFile(path.join(dir, segment!), '{"type":"message","row":{"voice_mess');

    const spool = await openSpool({ dir, log });
    expect(spool.durableRows).toBe(items.length);
    expect(await readAll(spool)).toEqual(items);
    // Read again (a replay that failed half way): the fragment is not dead-lettered twice.
    expect(await readAll(spool)).toEqual(items);
    const dead = (await readFile(path.join(dir, DEAD_LETTER_FILE), 'utf8')).trim().split('\n');
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0]!)).toMatchObject({
      reason: 'spool line cut short (crash during write)',
      raw: '{"type":"message","row":{"voice_mess',
    });
    expect(spool.deadLettered).toBe(1);
    await spool.close();
  });

  it('reads a line spooled before migrations 009 and 011 under the column names of today', async () => {
    const { items } = conversation(DOMAIN, 1);
    const legacy = (item: QueuedRow): string => {
      const renames: Record<string, string> = {
        conversation_uuid: 'voice_conversation_uuid',
        secretary_uuid: 'voice_secretary_uuid',
        message_uuid: 'voice_message_uuid',
        caller_id: 'caller_id_number',
      };
      const row = Object.fromEntries(
        Object.entries(item.row)
          .filter(([k]) => k !== 'media_backend')
          .map(([k, v]) => [renames[k] ?? k, v]),
      );
      return JSON.stringify({ type: item.type, row });
    };
    const first = await openSpool({ dir, log });
    await first.append(1, items.slice(0, 1));
    await first.close();
    const [segment] = (await readdir(dir)).filter((f) => f.startsWith('segment-'));
    // An upgraded daemon finds the old process's segment: rewrite it the way that process wrote it.
    const old = items.map(legacy).join('\n') + '\n';
    expect(old).toContain('voice_conversation_uuid');
    await rm(path.join(dir, segment!));
    await appendFile(path.join(dir, segment!), old);

    const spool = await openSpool({ dir, log });
    // An end row from before 011 does not know its media: null, not a dead letter.
    expect(await readAll(spool)).toEqual(
      items.map((i) =>
        i.type === 'conversation_end' ? { ...i, row: { ...i.row, media_backend: null } } : i,
      ),
    );
    await spool.close();
  });

  it('refuses work once closed', async () => {
    const spool = await openSpool({ dir, log });
    await spool.close();
    await spool.close();
    await expect(spool.append(1, conversation(DOMAIN, 0).items)).rejects.toMatchObject({
      code: 'E_QUEUE_CLOSED',
    });
    expect(spool.pendingRows).toBe(0);
  });
});
