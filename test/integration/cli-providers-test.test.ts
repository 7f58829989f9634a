import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { createDomain, testSql, type TestDomain } from '../helpers/db.js';
import { addProviderViaCli, cliEnv, deadPort, runCli, uuidIn } from './cli-support.js';

const sql = testSql();
let fake: FakeOpenAi;

beforeAll(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});

afterAll(async () => {
  await fake.close();
  await sql.end();
});

const MODELS = { stt: 'whisper-1', llm: 'gpt-4o-mini', tts: 'tts-1', embeddings: 'text-embedding-3-small' };

async function addProvider(
  d: TestDomain,
  type: keyof typeof MODELS | 'realtime',
  baseUrl: string,
): Promise<string> {
  return addProviderViaCli(d.domain_name, {
    type,
    name: 'openai',
    config: { base_url: baseUrl, model: type === 'realtime' ? 'gpt-realtime' : MODELS[type] },
    secret: `api_key=${FAKE_API_KEY}`,
  });
}

describe('voice-ai providers test', () => {
  it.each([
    ['stt', 'transcriptions', /transcript ""/],
    ['llm', 'chat', /reply "Olá! Como posso ajudar\?"/],
    ['tts', 'speech', /200 ms of audio at 24000 Hz/],
    ['embeddings', 'embeddings', /8 dimensions/],
  ] as const)('%s: one tiny real request, OK with the latency, exit 0', async (type, route, detail) => {
    const d = await createDomain(sql);
    const uuid = await addProvider(d, type, fake.baseUrl);
    const seen = fake.nextRequest(route);
    const r = await runCli(['providers', 'test', uuid, '--domain', d.domain_name]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^OK   ${type} openai ${MODELS[type]} ${uuid} \\d+ ms: `));
    expect(r.stdout).toMatch(detail);
    const req = await seen;
    expect(req.headers.authorization).toBe(`Bearer ${FAKE_API_KEY}`);
    if (type === 'stt') {
      const file = req.form?.['file'];
      // One second of 16-bit mono at 8 kHz, in a 44-byte WAV header.
      expect(typeof file === 'object' && file.bytes.length).toBe(44 + 16_000);
    }
    if (type === 'llm') expect(req.body).toMatchObject({ max_completion_tokens: 1 });
  });

  it('finds the provider by name (and type) too', async () => {
    const d = await createDomain(sql);
    await addProvider(d, 'llm', fake.baseUrl);
    const r = await runCli(['providers', 'test', 'openai', '--type', 'llm', '--domain', d.domain_name]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK {3}llm openai/);
  });

  it('FAIL and exit 1 against a dead port, quickly (no retries)', async () => {
    const d = await createDomain(sql);
    const uuid = await addProvider(d, 'llm', `http://127.0.0.1:${await deadPort()}/v1`);
    const started = Date.now();
    const r = await runCli(['providers', 'test', uuid, '--domain', d.domain_name]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL llm openai gpt-4o-mini ${uuid} \\d+ ms: .+`));
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('FAIL when the vendor refuses the key, without printing the key', async () => {
    const d = await createDomain(sql);
    const r0 = await runCli([
      'providers',
      'add',
      '--domain',
      d.domain_name,
      '--type',
      'embeddings',
      '--name',
      'openai',
      '--config',
      JSON.stringify({ base_url: fake.baseUrl }),
      '--secret',
      'api_key=sk-wrong-key-SHOULD-NOT-APPEAR',
    ]);
    const r = await runCli(['providers', 'test', uuidIn(r0.stdout), '--domain', d.domain_name]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL embeddings/);
    expect(r.stdout + r.stderr).not.toContain('SHOULD-NOT-APPEAR');
  });

  it('a wrong or missing encryption key is one line naming the provider, exit 1', async () => {
    const d = await createDomain(sql);
    const uuid = await addProvider(d, 'llm', fake.baseUrl);
    const wrong = await runCli(
      ['providers', 'test', uuid, '--domain', d.domain_name],
      cliEnv({ VOICE_AI_ENCRYPTION_KEY: 'another-key-0123456789' }),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      new RegExp(`^voice-ai providers: cannot decrypt the secrets of provider ${uuid} .*wrong key`),
    );
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    const missing = await runCli(
      ['providers', 'test', uuid, '--domain', d.domain_name],
      cliEnv({ VOICE_AI_ENCRYPTION_KEY: undefined }),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no secrets encryption key configured');
  });

  it('tests a local engine through the registry too (no network)', async () => {
    const d = await createDomain(sql);
    const add = await runCli([
      'providers',
      'add',
      '--domain',
      d.domain_name,
      '--type',
      'embeddings',
      '--name',
      'local-hash',
    ]);
    expect(add.stderr).toBe('');
    const r = await runCli(['providers', 'test', 'local-hash', '--domain', d.domain_name]);
    expect(r.stdout).toMatch(/^OK {3}embeddings local-hash \S+ [0-9a-f-]{36} \d+ ms: \d+ dimensions/);
    expect(r.code).toBe(0);
  });

  it('realtime providers are skipped, not failed', async () => {
    const d = await createDomain(sql);
    const uuid = await addProvider(d, 'realtime', fake.baseUrl);
    const r = await runCli(['providers', 'test', uuid, '--domain', d.domain_name]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^skip realtime openai gpt-realtime .*cannot be tested/);
  });
});
