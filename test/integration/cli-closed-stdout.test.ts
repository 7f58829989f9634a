import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { createDomain, testSql, type TestDomain } from '../helpers/db.js';
import { spawnCli } from './cli-process.js';

const sql = testSql();
afterAll(async () => {
  await sql.end();
});

/**
 * `voice-ai <args> | head -1`: reads the first line, then closes the pipe while the CLI is still writing
 * (the output is several times a pipe's 64 KiB buffer).
 */
async function firstLineThenClose(args: string[]) {
  const child = spawnCli(args);
  child.stdin.end();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const first = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        child.stdout.destroy();
        resolve(text.slice(0, nl));
      }
    });
    child.once('close', () => reject(new Error(`exited before printing a line: ${stderr}`)));
  });
  const [code, signal] = await closed;
  return { first, code, signal, stderr };
}

async function manyConversations(d: TestDomain, n: number): Promise<void> {
  await sql`
    INSERT INTO v_voice_conversations (conversation_uuid, domain_uuid, call_uuid, caller_id, destination_number)
    SELECT gen_random_uuid(), ${d.domain_uuid}, 'call-' || i, '+55119' || lpad(i::text, 8, '0'), '8000'
    FROM generate_series(1, ${n}) AS i`;
}

describe('a reader that closes stdout early', () => {
  it('conversations list | head -1 ends quietly with status 0', async () => {
    const d = await createDomain(sql);
    await manyConversations(d, 3000);
    const r = await firstLineThenClose([
      'conversations',
      'list',
      '--domain',
      d.domain_name,
      '--limit',
      '3000',
    ]);
    expect(r.first).toMatch(/^conversation_uuid\s+started_at/);
    expect(r.stderr).toBe('');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  });

  it('secretaries list | head -1 too', async () => {
    const d = await createDomain(sql);
    await sql`
      INSERT INTO v_voice_secretaries (domain_uuid, name, extension, greeting)
      SELECT ${d.domain_uuid}, 'Secretária ' || i, (10000 + i)::text, repeat('Olá! ', 20)
      FROM generate_series(1, 2000) AS i`;
    const r = await firstLineThenClose(['secretaries', 'list', '--domain', d.domain_name]);
    expect(r.first).toMatch(/^extension\s+name/);
    expect(r.stderr).toBe('');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  });
});
