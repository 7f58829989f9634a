import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOMAIN } from '../../src/cli/demo-seed.js';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';
import { addProviderViaCli, cliEnv, runCli, uuidIn } from './cli-support.js';

let sql: Sql;
let ai: FakeOpenAi;
let spool: string;
beforeAll(async () => {
  sql = testSql();
  ai = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  spool = await mkdtemp(path.join(tmpdir(), 'voice-ai-chat-spool-'));
});
afterAll(async () => {
  await ai.close();
  await sql.end();
  await rm(spool, { recursive: true, force: true });
});

describe('voice-ai chat', () => {
  it('talks to the secretary through the conversation engine, shows tools and latency, stores the rows', async () => {
    const d = await createDomain(sql);
    const env = cliEnv({ VOICE_AI_SPOOL_DIR: spool });
    const llm = await addProviderViaCli(
      d.domain_name,
      {
        type: 'llm',
        name: 'openai',
        config: { base_url: ai.baseUrl, model: 'gpt-4o-mini' },
        secret: `api_key=${FAKE_API_KEY}`,
        flags: ['--default'],
      },
      env,
    );
    const sec = await runCli(
      [
        'secretaries',
        'add',
        '--domain',
        d.domain_name,
        '--extension',
        '8100',
        '--name',
        'Bia',
        '--llm',
        llm,
        '--transfer-extension',
        '1001',
        '--greeting',
        'Oi, aqui é a Bia.',
      ],
      env,
    );
    expect(sec.code).toBe(0);
    ai.script(
      'chat',
      { type: 'chat', text: 'Abrimos às oito. Fechamos às dezoito.' },
      {
        type: 'chat',
        text: 'Transferindo.',
        toolCalls: [{ name: 'transfer_to_operator', arguments: { reason: 'pessoa' } }],
      },
    );
    const r = await runCli(
      [
        'chat',
        '--domain',
        d.domain_name,
        '--extension',
        '8100',
        '-m',
        'Que horas abre?',
        '-m',
        'Quero uma pessoa.',
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('secretary> Oi, aqui é a Bia.');
    expect(r.stdout).toContain('secretary> Abrimos às oito. Fechamos às dezoito.');
    expect(r.stdout).toMatch(/\[latency\] llm first token \d+ ms, reply \d+ ms, 2 sentence\(s\)/);
    expect(r.stdout).toContain('[tool] transfer_to_operator({"reason":"pessoa"})');
    expect(r.stdout).toContain('[decision] transfer to the operator');
    // Same prompt and tools as a call: the system prompt carries the language, both tools are offered.
    const body = ai.requests.filter((x) => x.route === 'chat').at(-1)?.body as {
      messages: { role: string; content: string }[];
      tools: { function: { name: string } }[];
    };
    expect(body.messages[0]?.content).toContain('pt-BR');
    expect(body.tools.map((t) => t.function.name).sort()).toEqual(['end_call', 'transfer_to_operator']);
    const conv = uuidIn(
      r.stdout
        .split('\n')
        .filter((l) => l.includes('conversation'))
        .at(-1) ?? '',
    );
    const [row] = await sql<{ resolution: string; transferred_to: string; total_turns: number }[]>`
      SELECT resolution, transferred_to, total_turns FROM v_voice_conversations
      WHERE conversation_uuid = ${conv} AND domain_uuid = ${d.domain_uuid}`;
    expect(row).toEqual({ resolution: 'transferred', transferred_to: '1001', total_turns: 2 });
    const roles = await sql<{ role: string }[]>`
      SELECT role FROM v_voice_messages WHERE conversation_uuid = ${conv} ORDER BY seq`;
    expect(roles.map((x) => x.role)).toEqual(['assistant', 'user', 'assistant', 'user', 'assistant', 'tool']);
  });

  it('an unknown extension is one clear line and exit 2', async () => {
    const d = await createDomain(sql);
    const r = await runCli(
      ['chat', '--domain', d.domain_name, '--extension', '8999', '-m', 'oi'],
      cliEnv({ VOICE_AI_SPOOL_DIR: spool }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `voice-ai chat: no enabled secretary on extension 8999 in ${d.domain_name}`,
    ]);
  });
});

describe('voice-ai demo', () => {
  it('runs the scripted offline conversation on the given database and prints the rows it wrote', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-demo-'));
    try {
      const r = await runCli(['demo', '--no-speech', '--data-dir', path.join(dataDir, 'pg')], cliEnv());
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`demo tenant ${DEMO_DOMAIN}`);
      expect(r.stdout).toContain('secretary> A clínica funciona de segunda a sexta');
      expect(r.stdout).toContain('[decision] transfer to the operator');
      expect(r.stdout).toContain('== outcome: transferred to extension 1000');
      expect(r.stdout).toMatch(/transferred\s+1000\s+4/);
      // Idempotent: a second run reuses the tenant and adds a second conversation.
      const again = await runCli(['demo', '--no-speech', '--data-dir', path.join(dataDir, 'pg')], cliEnv());
      expect(again.code).toBe(0);
      const [n] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM v_voice_secretaries s JOIN v_domains d USING (domain_uuid)
        WHERE d.domain_name = ${DEMO_DOMAIN}`;
      expect(n?.n).toBe(1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
